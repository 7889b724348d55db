"""The model zoo: shipped generators by name (``load_generator("NAME")``, ``pastenet paste --model NAME``).

See :mod:`pastenet.zoo.registry` for the registry's layout, :mod:`pastenet.zoo.export` for
``pastenet export``, :mod:`pastenet.zoo.command` for the recorded training command,
:mod:`pastenet.zoo.card` for the model cards and :mod:`pastenet.zoo.golden` for the golden
outputs the tests check.
"""

from .registry import (
    PACKAGE_ZOO,
    ZOO_ENV,
    ZooEntry,
    check_name,
    get_model,
    is_model_name,
    list_models,
    load_registry,
    model_file,
    zoo_dir,
)

__all__ = [
    "ZooEntry",
    "PACKAGE_ZOO",
    "ZOO_ENV",
    "list_models",
    "get_model",
    "model_file",
    "is_model_name",
    "check_name",
    "load_registry",
    "zoo_dir",
    "export_model",
    "train_command",
    "golden_paste",
]

_LAZY = {"export_model": "export", "train_command": "command", "golden_paste": "golden"}


def __getattr__(name: str):
    if name in _LAZY:  # export imports torch when it runs; keep `import pastenet.zoo` light
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
