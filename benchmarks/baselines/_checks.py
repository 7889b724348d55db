"""Input checks shared by the baselines: every method reads copies, never the caller's arrays."""

from __future__ import annotations

import numpy as np


def check_inputs(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``(target, source, mask)`` and return read-only views: uint8 HxWx3, same size, bool mask.

    Any non-zero mask value counts as inside. The views are flagged read-only so that a
    baseline cannot write into the caller's arrays by accident.
    """
    target = np.asarray(target)
    source = np.asarray(source)
    mask = np.asarray(mask)
    for name, a in (("target", target), ("source", source)):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must be uint8 HxWx3, got {a.dtype} {a.shape}")
    if source.shape != target.shape:
        raise ValueError(f"source {source.shape} and target {target.shape} must have the same size (aligned)")
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != target.shape[:2]:
        raise ValueError(f"mask {mask.shape} must be HxW of the target {target.shape[:2]}")
    target = target.view()
    source = source.view()
    target.flags.writeable = False
    source.flags.writeable = False
    return target, source, mask != 0


def composite(target: np.ndarray, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A new uint8 image: ``values`` inside ``mask`` and ``target`` exactly outside it."""
    return np.where(mask[..., None], values, target).astype(np.uint8)
