"""The model zoo's registry: shipped generators by name, with their provenance and figures.

The registry is ``registry.json`` beside this module (package data, like the weights in
``weights/``, the model cards in ``cards/`` and the golden outputs in ``golden/``): nothing is
downloaded at run time. Each entry holds

``file``        the weights file name in ``weights/`` (G only, safetensors, the model record in its metadata)
``sha256``      of that file, checked before it is loaded
``model``       the model record (:meth:`pastenet.config.ModelConfig.to_record`)
``command``     the exact ``pastenet train`` command that trained it
``data``        what it was trained on; ``licence``: of the weights and the data
``steps``, ``created``, ``description``, ``figures`` (measured), ``card`` (file name in ``cards/``)

Use :func:`list_models`, :func:`get_model` and :func:`model_file`; ``load_generator("NAME")``
(:mod:`pastenet.paste`) and ``pastenet paste --model NAME`` resolve names through
:func:`model_file`. ``PASTENET_ZOO`` names another zoo folder of the same layout (tests, or a
private zoo).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ZooError

__all__ = ["ZooEntry", "zoo_dir", "load_registry", "list_models", "get_model", "model_file", "is_model_name", "NAME_PATTERN", "ZOO_ENV"]

#: Environment variable naming another zoo folder (``registry.json``, ``weights/``, ``cards/``, ``golden/``).
ZOO_ENV = "PASTENET_ZOO"
#: What a model name may look like.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
REGISTRY_FILE = "registry.json"


@dataclass(frozen=True)
class ZooEntry:
    """One shipped model (see the module docstring for the fields)."""

    name: str
    file: str
    sha256: str
    model: dict = field(default_factory=dict)
    command: str = ""
    data: str = ""
    licence: str = ""
    steps: int | None = None
    created: str = ""
    description: str = ""
    figures: dict = field(default_factory=dict)
    card: str = ""
    root: Path = Path(".")

    @property
    def path(self) -> Path:
        """The weights file."""
        return self.root / "weights" / self.file

    @property
    def card_path(self) -> Path:
        return self.root / "cards" / (self.card or f"{self.name}.md")

    @property
    def golden_path(self) -> Path:
        return self.root / "golden" / f"{self.name}.png"

    def to_record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("file", "sha256", "model", "command", "data", "licence", "steps", "created", "description", "figures", "card")}


def zoo_dir() -> Path:
    """The zoo folder: ``$PASTENET_ZOO``, else the package's own."""
    env = os.environ.get(ZOO_ENV)
    return Path(env) if env else Path(__file__).resolve().parent


def load_registry(root: str | os.PathLike | None = None) -> dict[str, ZooEntry]:
    """Every entry of ``<root>/registry.json`` (default :func:`zoo_dir`); none when the file is absent."""
    base = Path(root) if root is not None else zoo_dir()
    path = base / REGISTRY_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        models = data["models"]
        return {name: ZooEntry(name=name, root=base, **record) for name, record in sorted(models.items())}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ZooError(f"{path} is not a readable zoo registry ({e})") from None


def list_models(root: str | os.PathLike | None = None) -> list[ZooEntry]:
    """The registered models, sorted by name."""
    return list(load_registry(root).values())


def get_model(name: str, root: str | os.PathLike | None = None) -> ZooEntry:
    """The entry ``name``; a :class:`~pastenet.errors.ZooError` listing the names when unknown."""
    registry = load_registry(root)
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise ZooError(f"no model named {name!r} in the zoo (available: {known}; see `pastenet models`)")
    return registry[name]


def is_model_name(text: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``text`` names a registered model."""
    return isinstance(text, str) and bool(NAME_PATTERN.match(text)) and text in load_registry(root)


_VERIFIED: dict[tuple[str, float, int], str] = {}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_file(name: str, *, verify: bool = True, root: str | os.PathLike | None = None) -> Path:
    """The weights file of ``name``, its sha256 checked (once per process and file version).

    Raises
    ------
    ZooError
        Unknown name, missing file, or a file whose sha256 differs from the registry's.
    """
    entry = get_model(name, root)
    path = entry.path
    if not path.is_file():
        raise ZooError(f"the zoo lists {name!r} but its weights {path} are missing; reinstall the package")
    if verify:
        st = path.stat()
        key = (str(path), st.st_mtime, st.st_size)
        if key not in _VERIFIED:
            _VERIFIED[key] = file_sha256(path)
        if _VERIFIED[key] != entry.sha256:
            raise ZooError(f"{path} is damaged: sha256 {_VERIFIED[key][:12]}... differs from the registry's {entry.sha256[:12]}...")
    return path
