"""The mixing field ``M_mix`` of ``T_shading`` (paper eq. 3).

A ``grid``-sized (10x10 in the paper) single-channel salt-and-pepper image, each cell 1 with
probability ``probability`` and 0 otherwise, upsampled bilinearly to the image size. Upsampling
maps output pixel centres to grid coordinates with ``u = (y + 0.5)·g/H − 0.5`` (and likewise for
x) and clamps at the edges: the convention of OpenCV's ``INTER_LINEAR`` resize and of
scikit-image's ``resize(order=1, mode="edge")``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SpecError
from ._checks import frozen_array

__all__ = ["MixSpec", "MixParams", "sample", "identity", "upsample", "field_image", "fields"]


@dataclass(frozen=True)
class MixSpec:
    """Shape of the salt-and-pepper grid and the probability of a 1 (salt) cell."""

    grid: tuple[int, int] = (10, 10)
    probability: float = 0.5

    def __post_init__(self) -> None:
        try:
            gh, gw = (int(v) for v in self.grid)
        except (TypeError, ValueError):
            raise SpecError(f"mix.grid must be a (rows, cols) pair, got {self.grid!r}") from None
        if not (1 <= gh <= 256 and 1 <= gw <= 256):
            raise SpecError(f"mix.grid must be between 1x1 and 256x256, got {gh}x{gw}")
        object.__setattr__(self, "grid", (gh, gw))
        p = float(self.probability)
        if not 0 <= p <= 1:
            raise SpecError(f"mix.probability must lie in [0, 1], got {self.probability}")
        object.__setattr__(self, "probability", p)


@dataclass(frozen=True)
class MixParams:
    """The sampled 0/1 grid (uint8)."""

    grid: np.ndarray = field(default_factory=lambda: frozen_array(np.ones((10, 10)), np.uint8))

    def __post_init__(self) -> None:
        grid = frozen_array(self.grid, np.uint8)
        if grid.ndim != 2 or np.any(grid > 1):
            raise SpecError("mix grid must be a 2-D array of zeros and ones")
        object.__setattr__(self, "grid", grid)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MixParams) and bool(np.array_equal(self.grid, other.grid))

    def to_record(self) -> dict[str, np.ndarray]:
        return {"grid": np.array(self.grid)}

    @classmethod
    def from_record(cls, record: dict) -> MixParams:
        return cls(grid=np.asarray(record["grid"], dtype=np.uint8))


def fields(spec: MixSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """Storage schema of :class:`MixParams` for ``spec``."""
    return {"grid": (spec.grid, "uint8")}


def identity(spec: MixSpec = MixSpec()) -> MixParams:
    """An all-ones grid: ``T_shading`` reduces to the first colour transform alone."""
    return MixParams(grid=np.ones(spec.grid, dtype=np.uint8))


def sample(rng: np.random.Generator, spec: MixSpec) -> MixParams:
    """Draw each cell as 1 with probability ``spec.probability`` (one ``random`` call)."""
    return MixParams(grid=(rng.random(spec.grid) < spec.probability).astype(np.uint8))


def _axis_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    u = np.clip(u, 0, n_in - 1)
    i0 = np.floor(u).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (u - i0).astype(np.float32)


def upsample(grid: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a 2-D ``grid`` to (height, width), float32."""
    g = np.asarray(grid, dtype=np.float32)
    r0, r1, fr = _axis_weights(height, g.shape[0])
    c0, c1, fc = _axis_weights(width, g.shape[1])
    rows = g[r0] * (1 - fr)[:, None] + g[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc)[None, :] + rows[:, c1] * fc[None, :]


def field_image(height: int, width: int, params: MixParams) -> np.ndarray:
    """``M_mix``: the (height, width) float32 field in [0, 1]."""
    return upsample(params.grid, height, width)
