"""The methods under test: the baselines and, when a checkpoint and ``pastenet.paste`` exist, the network.

Every method is called as ``method(target, source, mask)`` with aligned uint8 images. On the
synthetic set the target is ``I_T`` (zeros under the mask), so no method sees the ground truth.
The mixed-gradient methods (:data:`benchmarks.baselines.READS_TARGET_INSIDE`) use the target's
content under the mask by definition; there it *is* the ground truth, so on the synthetic set
they get ``I_T`` with the hole filled by the membrane interpolation of its border
(:func:`benchmarks.baselines.membrane_fill`), which carries no information from inside the mask.
On the real cases every method gets the real target.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from benchmarks.baselines import BASELINES, READS_TARGET_INSIDE, membrane_fill

__all__ = ["ORDER", "LABELS", "load_network", "build_methods", "prepare_target"]

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


def load_network(model: str | Path | None, device: str = "cpu"):
    """``(method, description)`` for the network, or ``(None, reason)`` when it cannot run."""
    if model is None:
        return None, "no --model given"
    try:
        from pastenet.paste import load_generator
    except ImportError as e:  # pastenet.paste not there yet, or torch missing
        return None, f"pastenet.paste is not importable ({e})"
    path = Path(model)
    if not path.exists():
        return None, f"no checkpoint at {path}"
    pm = load_generator(path, device=device)
    from .realrun import paste_method

    return paste_method(pm), str(getattr(pm, "checkpoint", path))


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
