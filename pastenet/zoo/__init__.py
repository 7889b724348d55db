"""The model zoo: shipped generators by name (``load_generator("NAME")``, ``pastenet paste --model NAME``).

See :mod:`pastenet.zoo.registry` for the registry's layout, :mod:`pastenet.zoo.export` for
``pastenet export`` and :mod:`pastenet.zoo.golden` for the golden outputs the tests check.
"""

from .registry import ZooEntry, get_model, is_model_name, list_models, load_registry, model_file, zoo_dir

__all__ = ["ZooEntry", "list_models", "get_model", "model_file", "is_model_name", "load_registry", "zoo_dir", "export_model"]


def __getattr__(name: str):
    if name == "export_model":  # imports torch
        from .export import export_model

        return export_model
    raise AttributeError(name)
