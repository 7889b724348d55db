"""Validation helpers shared by the component modules."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import SpecError


def check_range(name: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    """Check ``value`` is a ``(low, high)`` pair with ``lo <= low <= high <= hi``; return floats."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise SpecError(f"{name} must be finite, got ({low}, {high})")
    if low > high:
        raise SpecError(f"{name}: low {low} is greater than high {high}")
    if low < lo or high > hi:
        raise SpecError(f"{name} must lie within [{lo}, {hi}], got ({low}, {high})")
    return low, high


def as_float_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """An (H, W, 3) float32 image in [0, 1]; uint8 input is divided by 255."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise SpecError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    if not np.issubdtype(image.dtype, np.floating):
        raise SpecError(f"{name} must be uint8 or floating point, got {image.dtype}")
    return image.astype(np.float32, copy=False)


def frozen_array(values: Any, dtype: Any, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A read-only copy of ``values`` as an array (for frozen parameter dataclasses)."""
    arr = np.array(values, dtype=dtype, copy=True)
    if shape is not None and arr.shape != shape:
        raise SpecError(f"expected shape {shape}, got {arr.shape}")
    arr.setflags(write=False)
    return arr
