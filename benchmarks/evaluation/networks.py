"""The networks under test: parsing ``--model`` / ``--model-label`` / ``--model-name``, loading, identifying.

A table can compare several networks: each is a method column named by its **label** (``network``
when there is one and no label is given; ``network-1``, ``network-2``, ... for several). Each also
has a **name** (default: the stem of its weights file, or of its run folder for a checkpoint
folder) and is identified in the report by the SHA-256 of the weights file that was actually
loaded (a training run may write a newer checkpoint meanwhile: the file is the one
``pastenet.paste.load_generator`` resolved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["DEFAULT_LABEL", "NetworkSpec", "Network", "split_list", "network_specs", "weights_file", "sha256_file",
           "checkpoint_info", "load_networks"]

DEFAULT_LABEL = "network"
WEIGHTS_FILE = "weights.safetensors"


@dataclass(frozen=True)
class NetworkSpec:
    """One ``--model`` with its label and name (before loading)."""

    model: str
    label: str
    name: str | None = None


@dataclass
class Network:
    """A loaded network.

    Attributes
    ----------
    label : str
        Its method name in tables, sheets and rows.
    method : callable or None
        ``method(target, source, mask)``; None when it could not be loaded.
    note : str
        The checkpoint it was loaded from, or why it was not.
    info : dict
        ``path``, ``weights``, ``weights_sha256``, ``name`` and, from a checkpoint's records,
        ``step``, ``preset``, ``resolution``, ``sigma``, ``dataset``.
    """

    label: str
    method: Callable | None
    note: str
    info: dict = field(default_factory=dict)


def split_list(values: Sequence[str] | None) -> list[str]:
    """Repeated options and comma lists flattened: ``["a,b", "c"]`` -> ``["a", "b", "c"]``."""
    return [v.strip() for text in (values or []) for v in str(text).split(",") if v.strip()]


def network_specs(models: Sequence[str], labels: Sequence[str] = (), names: Sequence[str] = ()) -> list[NetworkSpec]:
    """Pair models with labels and names (both optional, by position).

    Raises
    ------
    ValueError
        More labels or names than models, or two networks with the same label.
    """
    models, labels, names = list(models), list(labels), list(names)
    if len(labels) > len(models) or len(names) > len(models):
        raise ValueError(f"{len(models)} --model but {len(labels)} --model-label and {len(names)} --model-name")
    default = [DEFAULT_LABEL] if len(models) == 1 else [f"{DEFAULT_LABEL}-{i + 1}" for i in range(len(models))]
    labels += default[len(labels):]
    if len(set(labels)) != len(labels):
        raise ValueError(f"network labels must differ: {labels}")
    names += [None] * (len(models) - len(names))
    return [NetworkSpec(m, lab, nm) for m, lab, nm in zip(models, labels, names)]


def weights_file(checkpoint: str | Path) -> Path:
    """The weights file of what ``load_generator`` loaded: the file itself, or a checkpoint folder's ``weights.safetensors``."""
    p = Path(checkpoint)
    return p if p.is_file() else p / WEIGHTS_FILE


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (:func:`pastegen.sources.scan.hash_file`)."""
    from pastegen.sources.scan import hash_file

    return hash_file(path)


def checkpoint_info(checkpoint: str | Path, name: str | None = None) -> dict:
    """What identifies a loaded network: its weights file and SHA-256, its name and training records.

    Parameters
    ----------
    checkpoint : path
        What ``load_generator`` loaded (``PasteModel.checkpoint``): a weights file or a checkpoint folder.
    name : str, optional
        Overrides the default name (the weights file's stem; for ``.../checkpoints/step-N/weights.safetensors``
        the run folder's name).

    Returns
    -------
    dict
        Informational; a missing record is left out (never raises for one).
    """
    ck = Path(checkpoint)
    w = weights_file(ck)
    info: dict = {"path": str(ck), "weights": str(w)}
    if w.is_file():
        info["weights_sha256"] = sha256_file(w)
    run = ck.parent.parent if ck.is_dir() and ck.parent.name == "checkpoints" else None
    default = run.name if run is not None else (ck.name if ck.is_dir() and w.stem == "weights" else w.stem)
    info["name"] = name or default
    meta = ck / "meta.json" if ck.is_dir() else None
    if meta is not None and meta.is_file():
        try:
            info["step"] = json.loads(meta.read_text()).get("step")
        except (OSError, ValueError):
            pass
    if run is not None and (run / "options.json").is_file():
        try:
            o = json.loads((run / "options.json").read_text())
            info.update({k: o.get(k) for k in ("preset", "resolution", "sigma", "dataset")})
        except (OSError, ValueError):
            pass
    return info


def load_networks(specs: Sequence[NetworkSpec], device: str = "cpu") -> list[Network]:
    """Load every spec with :func:`benchmarks.evaluation.methods.load_network` (a failure is reported, not raised)."""
    from .methods import load_network

    out = []
    for s in specs:
        method, note = load_network(s.model, device=device)
        info = checkpoint_info(note, s.name) if method is not None else {}
        out.append(Network(s.label, method, note, info))
    return out
