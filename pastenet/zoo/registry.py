"""The model zoo's registry: shipped generators by name, with their provenance and figures.

A zoo is a folder::

    registry.json              {"format": "pastenet-zoo", "version": 1, "models": {NAME: entry}}
    weights/NAME.safetensors   G only ("G." keys), the model record in the metadata
    cards/NAME.md              the model card
    golden/NAME.png            the golden paste (:mod:`pastenet.zoo.golden`)

The zoo shipped inside the package (:data:`PACKAGE_ZOO`, package data: nothing is downloaded at
run time) is the default. The environment variable ``PASTENET_ZOO`` (:data:`ZOO_ENV`) names
another zoo folder of the same layout that replaces it (a private zoo, or one written by
``pastenet export RUN NAME --to DIR``); every function also takes ``root=`` for the same purpose.

Each entry holds

``file``        the weights file name in ``weights/``
``sha256``      of that file, checked before it is loaded (once per process and file version)
``model``       the model record (:meth:`pastenet.config.ModelConfig.to_record`), as in the weights' metadata
``command``     the exact ``pastenet train`` command that trained it
``data``        what it was trained on; ``licence``: of the weights, the data's licences summarised
``figures``     measured figures, free-form (e.g. ``{"real cases": {...}, "synthetic": {...}}``)
``card``        the model card's file name in ``cards/``
``steps``, ``created``, ``description``
``preset``, ``golden``, ``size``, ``run``, ``pastenet_version`` (optional)

Use :func:`list_models`, :func:`get_model` and :func:`model_file`; ``load_generator("NAME")``
(:mod:`pastenet.loading`) and ``pastenet paste --model NAME`` resolve names through
:func:`pastenet.checkpoint.resolve_weights`, which calls :func:`model_file`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ZooError

__all__ = [
    "ZooEntry",
    "PACKAGE_ZOO",
    "ZOO_ENV",
    "REGISTRY_FILE",
    "REGISTRY_FORMAT",
    "REGISTRY_VERSION",
    "WEIGHTS_DIR",
    "CARDS_DIR",
    "GOLDEN_DIR",
    "NAME_PATTERN",
    "zoo_dir",
    "load_registry",
    "list_models",
    "get_model",
    "model_file",
    "is_model_name",
    "check_name",
    "file_sha256",
]

#: The zoo shipped inside the package.
PACKAGE_ZOO = Path(__file__).resolve().parent
#: Environment variable naming another zoo folder (``registry.json``, ``weights/``, ``cards/``, ``golden/``).
ZOO_ENV = "PASTENET_ZOO"
REGISTRY_FILE = "registry.json"
REGISTRY_FORMAT = "pastenet-zoo"
REGISTRY_VERSION = 1
WEIGHTS_DIR = "weights"
CARDS_DIR = "cards"
GOLDEN_DIR = "golden"
#: What a model name may look like.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

_REQUIRED = ("file", "sha256", "model", "command", "data", "licence", "figures", "card", "steps", "created", "description")


@dataclass(frozen=True)
class ZooEntry:
    """One model of a zoo: an entry of ``registry.json`` (see the module docstring for the fields).

    ``root`` is the zoo folder the entry belongs to; it is not stored in the registry.
    """

    name: str
    file: str
    sha256: str
    model: dict = field(default_factory=dict, hash=False)
    command: str = ""
    data: str = ""
    licence: str = ""
    steps: int | None = None
    created: str = ""
    description: str = ""
    figures: dict = field(default_factory=dict, hash=False)
    card: str = ""
    preset: str | None = None
    golden: str | None = None
    size: int | None = None
    run: str | None = None
    pastenet_version: str | None = None
    root: Path = field(default=PACKAGE_ZOO, compare=False)

    @property
    def path(self) -> Path:
        """The weights file."""
        return self.root / WEIGHTS_DIR / self.file

    @property
    def card_path(self) -> Path:
        """The model card."""
        return self.root / CARDS_DIR / (self.card or f"{self.name}.md")

    @property
    def golden_path(self) -> Path:
        """The golden paste (``golden/NAME.png`` unless the entry names another file)."""
        return self.root / GOLDEN_DIR / (self.golden or f"{self.name}.png")

    @property
    def label(self) -> str:
        """``preset/output``, e.g. ``colormap/affine``."""
        return f"{self.preset or '?'}/{self.model.get('output', 'residual')}"

    def to_record(self) -> dict[str, Any]:
        """The registry entry (JSON-ready): every field but ``name`` (the key) and ``root``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("name", "root")}
        return {k: v for k, v in out.items() if v is not None or k in _REQUIRED}

    @classmethod
    def from_record(cls, name: str, record: Mapping[str, Any], root: Path) -> ZooEntry:
        """Inverse of :meth:`to_record`; a missing or unknown field is a :class:`ZooError`."""
        where = Path(root) / REGISTRY_FILE
        if not isinstance(record, Mapping):
            raise ZooError(f"{where}: entry {name!r} is not a JSON object; the registry is damaged")
        missing = [k for k in _REQUIRED if k not in record]
        if missing:
            raise ZooError(f"{where}: entry {name!r} lacks {', '.join(missing)}; the registry is damaged")
        known = {f.name for f in dataclasses.fields(cls)} - {"name", "root"}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ZooError(f"{where}: entry {name!r} has unknown fields {unknown} (written by a newer pastenet?)")
        if not isinstance(record["model"], dict) or not isinstance(record["figures"], dict):
            raise ZooError(f"{where}: entry {name!r}: model and figures must be JSON objects; the registry is damaged")
        return cls(name=name, root=Path(root), **dict(record))


def zoo_dir() -> Path:
    """The zoo folder: ``$PASTENET_ZOO``, else the package's own (:data:`PACKAGE_ZOO`)."""
    env = os.environ.get(ZOO_ENV)
    return Path(env) if env else PACKAGE_ZOO


def load_registry(root: str | os.PathLike | None = None) -> dict[str, ZooEntry]:
    """Every entry of ``<root>/registry.json``, by name (sorted); none when the file is absent.

    Parameters
    ----------
    root : path, optional
        The zoo folder; default :func:`zoo_dir`.

    Raises
    ------
    ZooError
        A registry that cannot be read, of another format or version, or with a damaged entry.
    """
    base = Path(root) if root is not None else zoo_dir()
    path = base / REGISTRY_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()
        raise ZooError(f"{path} is not a readable zoo registry ({first[0] if first else type(e).__name__})") from None
    if not isinstance(data, dict) or data.get("format") != REGISTRY_FORMAT or not isinstance(data.get("models"), dict):
        raise ZooError(f"{path} is not a pastenet zoo registry")
    if data.get("version") != REGISTRY_VERSION:
        raise ZooError(f"{path} has registry version {data.get('version')!r}; this pastenet reads version {REGISTRY_VERSION}")
    return {name: ZooEntry.from_record(name, data["models"][name], base) for name in sorted(data["models"])}


def list_models(root: str | os.PathLike | None = None) -> list[ZooEntry]:
    """The registered models, sorted by name (see :func:`load_registry`)."""
    return list(load_registry(root).values())


def get_model(name: str, root: str | os.PathLike | None = None) -> ZooEntry:
    """The entry ``name``.

    Raises
    ------
    ZooError
        No such model; the one-line message lists the available names.
    """
    registry = load_registry(root)
    if name not in registry:
        known = ", ".join(registry) or "none"
        raise ZooError(f"no model named {name!r} in the zoo (available: {known}; see `pastenet models`)")
    return registry[name]


def is_model_name(text: str | os.PathLike, root: str | os.PathLike | None = None) -> bool:
    """Whether ``text`` is a well-formed name (:data:`NAME_PATTERN`) of a registered model."""
    text = os.fspath(text)
    return isinstance(text, str) and bool(NAME_PATTERN.match(text)) and text in load_registry(root)


def check_name(name: str) -> str:
    """``name`` when it is a valid model name, else a :class:`ZooError`."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ZooError(f"model name {name!r} must match [a-z0-9][a-z0-9._-]* (lower-case letters, digits, '.', '_', '-')")
    return name


# (resolved path, mtime_ns, size) -> sha256: each file version is hashed once per process.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file (not cached): :func:`pastegen.sources.scan.hash_file`."""
    from pastegen.sources.scan import hash_file

    return hash_file(path)


def _cached_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _VERIFIED:
        _VERIFIED[key] = file_sha256(path)
    return _VERIFIED[key]


def model_file(name: str, verify: bool = True, *, root: str | os.PathLike | None = None) -> Path:
    """The weights file of model ``name``, its sha256 checked against the registry.

    Parameters
    ----------
    name : str
        A registered model name.
    verify : bool
        Check the sha256 (once per process and file version: path, size and modification time).
    root : path, optional
        The zoo folder; default :func:`zoo_dir`.

    Raises
    ------
    ZooError
        Unknown name, missing file, or a file whose sha256 differs from the registry's.
    """
    entry = get_model(name, root)
    path = entry.path
    if not path.is_file():
        raise ZooError(f"the zoo lists {name!r} but its weights {path} are missing; reinstall the package (or re-export the model)")
    if verify:
        digest = _cached_sha256(path)
        if digest != entry.sha256:
            raise ZooError(
                f"{path} is damaged: its sha256 {digest[:12]}... differs from the registry's {entry.sha256[:12]}...; "
                "reinstall the package (or re-export the model)"
            )
    return path
