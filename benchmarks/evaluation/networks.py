"""The networks under test: parsing ``--model`` / ``--model-label`` / ``--model-name``, loading, identifying.

A table can compare several networks: each is a method column named by its **label** (``network``
when there is one and no label is given; ``network-1``, ``network-2``, ... for several). Each also
has a **name** (default: its zoo name, its run folder's name, or the stem of its weights file)
and is identified in the report by the SHA-256 of the weights file that was actually loaded. The
``--model`` is resolved once, by :func:`pastenet.checkpoint.resolve_weights` (a zoo name, a run,
a folder of runs, a checkpoint folder or a weights file), and that resolution is both what is
loaded and what is recorded: a training run that writes a newer checkpoint meanwhile changes
neither.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pastenet (torch) is imported only when a network is identified or loaded
    from pastenet.checkpoint import ResolvedWeights

__all__ = ["DEFAULT_LABEL", "NetworkSpec", "Network", "split_list", "network_specs", "resolve", "weights_file", "sha256_file",
           "checkpoint_info", "load_networks"]

DEFAULT_LABEL = "network"


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
        :func:`checkpoint_info`: ``path``, ``kind``, ``weights``, ``weights_sha256``, ``name``,
        ``zoo_name`` for a zoo model, ``step`` and, from a run's options, ``preset``,
        ``resolution``, ``sigma``, ``dataset``.
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
    return [NetworkSpec(m, lab, nm) for m, lab, nm in zip(models, labels, names, strict=True)]


def resolve(model: str | Path | ResolvedWeights) -> ResolvedWeights:
    """:func:`pastenet.checkpoint.resolve_weights` of ``model`` (a resolution is returned as it is).

    Raises
    ------
    pastenet.errors.CheckpointError
        Nothing there (:class:`~pastenet.errors.CheckpointNotFoundError`), or not a weights file.
    pastenet.errors.ZooError
        A zoo model whose weights are missing or damaged.
    """
    from pastenet.checkpoint import ResolvedWeights, resolve_weights

    return model if isinstance(model, ResolvedWeights) else resolve_weights(model)


def weights_file(checkpoint: str | Path | ResolvedWeights) -> Path:
    """The weights file ``checkpoint`` resolves to (:func:`resolve`).

    A checkpoint folder's ``weights.safetensors``, a run's newest, a zoo model's, or the file itself.
    """
    return resolve(checkpoint).weights


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (:func:`pastegen.sources.scan.hash_file`)."""
    from pastegen.sources.scan import hash_file

    return hash_file(path)


def checkpoint_info(checkpoint: str | Path | ResolvedWeights, name: str | None = None) -> dict:
    """What identifies a network: its weights file and SHA-256, its name and training records.

    Parameters
    ----------
    checkpoint : path, str or ResolvedWeights
        Anything :func:`pastenet.checkpoint.resolve_weights` accepts (a zoo name, a run folder,
        a folder of runs, a checkpoint folder, a weights file), or its result: pass the
        resolution that was loaded, so a run that saved a newer checkpoint since is not hashed
        in its place.
    name : str, optional
        Overrides the default name (:attr:`~pastenet.checkpoint.ResolvedWeights.name`: the zoo
        name, the run folder's name, the checkpoint folder's, or the weights file's stem).

    Returns
    -------
    dict
        ``path`` (the checkpoint folder, else the weights file), ``kind`` (what was given),
        ``weights``, ``weights_sha256`` (when the file exists), ``name``, ``zoo_name`` (zoo
        models), ``step`` (when known), and ``preset``, ``resolution``, ``sigma``, ``dataset``
        from the run's ``options.json``; a missing record is left out.

    Raises
    ------
    pastenet.errors.CheckpointError, pastenet.errors.ZooError
        ``checkpoint`` cannot be resolved (:func:`resolve`).
    """
    ref = resolve(checkpoint)
    info: dict = {"path": str(ref.location), "kind": ref.kind, "weights": str(ref.weights)}
    if ref.weights.is_file():
        info["weights_sha256"] = ref.sha256()
    info["name"] = name or ref.name
    if ref.zoo_name is not None:
        info["zoo_name"] = ref.zoo_name
    if ref.step is not None:
        info["step"] = ref.step
    run = ref.run_dir
    if run is not None and (run / "options.json").is_file():
        try:
            o = json.loads((run / "options.json").read_text())
            info.update({k: o.get(k) for k in ("preset", "resolution", "sigma", "dataset")})
        except (OSError, ValueError):
            pass
    return info


def load_networks(specs: Sequence[NetworkSpec], device: str = "cpu") -> list[Network]:
    """Load every spec with :func:`benchmarks.evaluation.methods.load_network` (a failure is reported, not raised).

    Each ``--model`` is resolved once; what was loaded is what :func:`checkpoint_info` records.
    """
    from .methods import resolve_and_load

    out = []
    for s in specs:
        method, note, ref = resolve_and_load(s.model, device=device)
        info = checkpoint_info(ref, s.name) if method is not None else {}
        out.append(Network(s.label, method, note, info))
    return out
