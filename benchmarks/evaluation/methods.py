"""The methods under test: the baselines and, when a checkpoint and ``pastenet`` exist, the network.

Every method is called as ``method(target, source, mask)`` with aligned uint8 images. On the
synthetic set the target is ``I_T`` (zeros under the mask), so no method sees the ground truth.
The mixed-gradient methods (:data:`benchmarks.baselines.READS_TARGET_INSIDE`) use the target's
content under the mask by definition; there it *is* the ground truth, so on the synthetic set
they get ``I_T`` with the hole filled by the membrane interpolation of its border
(:func:`benchmarks.baselines.membrane_fill`), which carries no information from inside the mask.
On the real cases every method gets the real target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from benchmarks.baselines import BASELINES, READS_TARGET_INSIDE, membrane_fill

__all__ = ["ORDER", "LABELS", "resolve_and_load", "load_network", "build_methods", "prepare_target"]

#: Column order of tables and sheets.
ORDER = ("naive", "poisson_normal", "poisson_mixed", "cv2_normal", "cv2_mixed", "reinhard", "network")
LABELS = {
    "naive": "naive (X)",
    "poisson_normal": "Poisson normal",
    "poisson_mixed": "Poisson mixed",
    "cv2_normal": "cv2 normal",
    "cv2_mixed": "cv2 mixed",
    "reinhard": "Reinhard",
    "network": "network",
}


def resolve_and_load(model: str | Path | None, device: str = "cpu"):
    """``(method, description, resolution)`` for the network, or ``(None, reason, None)`` when it cannot run.

    ``model`` is resolved once (:func:`pastenet.checkpoint.resolve_weights`: a zoo name, a run,
    a folder of runs, a checkpoint folder or a weights file) and that resolution is loaded; the
    description is the checkpoint folder or weights file loaded.
    """
    if model is None:
        return None, "no --model given", None
    try:
        from pastenet.checkpoint import resolve_weights
        from pastenet.errors import CheckpointNotFoundError
        from pastenet.loading import load_generator
    except ImportError as e:  # pastenet not there, or torch missing
        return None, f"pastenet.loading is not importable ({e})", None
    try:
        ref = resolve_weights(model)
    except CheckpointNotFoundError as e:
        return None, str(e), None  # nothing there, or a folder without a checkpoint: reported, not raised
    pm = load_generator(ref, device=device)
    from .realrun import paste_method

    return paste_method(pm), str(pm.checkpoint), ref


def load_network(model: str | Path | None, device: str = "cpu"):
    """``(method, description)`` for the network, or ``(None, reason)`` when it cannot run (:func:`resolve_and_load`)."""
    return resolve_and_load(model, device)[:2]


def build_methods(network: Callable | Mapping[str, Callable] | None) -> dict[str, Callable]:
    """The baselines in :data:`ORDER`, then the network(s).

    Parameters
    ----------
    network : callable, mapping or None
        One network (named ``network``), ``{label: method}`` for several (in order), or None.
    """
    methods = {k: BASELINES[k] for k in ORDER if k in BASELINES}
    if callable(network):
        network = {"network": network}
    for label, f in (network or {}).items():
        if label in methods:
            raise ValueError(f"network label {label!r} is a baseline's name")
        methods[label] = f
    return methods


def prepare_target(name: str, target_hidden: np.ndarray, mask: np.ndarray, cache: dict) -> np.ndarray:
    """The target a method gets on the synthetic set (see the module's docstring)."""
    if name in READS_TARGET_INSIDE:
        if "membrane" not in cache:
            cache["membrane"] = membrane_fill(target_hidden, mask)
        return cache["membrane"]
    return target_hidden
