"""The copy-paste mask M: a randomly rotated rectangle of random size and position.

FaceShop-style masks (paper section 3.1.2). Geometry, in pixel-centre coordinates (x right,
y down): a rectangle of ``width`` x ``height`` pixels centred on ``(cx, cy)`` and rotated by
``angle`` degrees counter-clockwise *as displayed* (the width axis points along
``(cos θ, −sin θ)``). Pixel ``(x, y)`` is in M when its centre lies in the closed rectangle::

    u = (x − cx)·cos θ − (y − cy)·sin θ,   v = (x − cx)·sin θ + (y − cy)·cos θ,
    |u| ≤ width / 2  and  |v| ≤ height / 2

Sampling draws, in this order, the angle, the two side lengths (as fractions of the image's
shorter side), then the centre, uniformly among the positions that keep the whole rotated
rectangle inside the image. A rectangle whose rotated bounding box would not fit is shrunk
(both sides by the same factor) until it does, so masks are never cut by the border and the
stored sides are exactly the drawn rectangle. Sides are at least 2 pixels, so a mask is never
empty (a 2x2 square always covers a pixel centre).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import SpecError
from ._checks import check_range

__all__ = ["MaskSpec", "MaskParams", "FIELDS", "sample", "rasterize", "inside_test", "rotated_extent", "MIN_SIDE", "EDGE_SLACK"]

#: Smallest side length in pixels (guarantees a non-empty mask).
MIN_SIDE = 2.0
#: Slack added to the half sides in the test of :func:`rasterize`, so that pixel centres lying
#: exactly on an edge count despite rounding.
EDGE_SLACK = 1e-9


@dataclass(frozen=True)
class MaskSpec:
    """Sampling ranges of the mask.

    Parameters
    ----------
    width, height : (float, float)
        Side lengths as fractions of the image's shorter side, within (0, 1].
    angle : (float, float)
        Rotation in degrees, within [-180, 180].
    """

    width: tuple[float, float] = (0.2, 0.6)
    height: tuple[float, float] = (0.2, 0.6)
    angle: tuple[float, float] = (-90.0, 90.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", check_range("mask.width", self.width, 1e-6, 1))
        object.__setattr__(self, "height", check_range("mask.height", self.height, 1e-6, 1))
        object.__setattr__(self, "angle", check_range("mask.angle", self.angle, -180, 180))

    def check_size(self, height: int, width: int) -> None:
        """Refuse a working size on which the smallest mask would be under :data:`MIN_SIDE`."""
        short = min(height, width)
        smallest = min(self.width[0], self.height[0]) * short / math.sqrt(2)  # worst-case shrink
        if smallest < MIN_SIDE:
            raise SpecError(
                f"mask ranges too small for a {height}x{width} image: the smallest side would be "
                f"{smallest:.2f} px (need at least {MIN_SIDE:g}); raise mask.width/height"
            )


@dataclass(frozen=True)
class MaskParams:
    """A sampled rotated rectangle (pixels and degrees)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float

    def __post_init__(self) -> None:
        for name in ("cx", "cy", "width", "height", "angle"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.width < MIN_SIDE or self.height < MIN_SIDE:
            raise SpecError(f"mask sides must be at least {MIN_SIDE:g} px, got {self.width}x{self.height}")

    @property
    def area(self) -> float:
        """Area of the rectangle in pixels."""
        return self.width * self.height

    def to_record(self) -> dict[str, np.ndarray | float]:
        return {"center": np.array([self.cx, self.cy]), "size": np.array([self.width, self.height]), "angle": self.angle}

    @classmethod
    def from_record(cls, record: dict) -> MaskParams:
        cx, cy = (float(v) for v in record["center"])
        w, h = (float(v) for v in record["size"])
        return cls(cx=cx, cy=cy, width=w, height=h, angle=float(record["angle"]))


FIELDS = {"center": ((2,), "float64"), "size": ((2,), "float64"), "angle": ((), "float64")}


def rotated_extent(width: float, height: float, angle: float) -> tuple[float, float]:
    """Width and height of the axis-aligned bounding box of the rotated rectangle."""
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    return width * c + height * s, width * s + height * c


def sample(rng: np.random.Generator, spec: MaskSpec, height: int, width: int) -> MaskParams:
    """Draw a rotated rectangle that lies wholly inside a (height, width) image."""
    spec.check_size(height, width)
    short = min(height, width)
    angle = rng.uniform(*spec.angle)
    w = rng.uniform(*spec.width) * short
    h = rng.uniform(*spec.height) * short
    bw, bh = rotated_extent(w, h, angle)
    room_x, room_y = width - 1, height - 1
    shrink = min(1.0, room_x / bw, room_y / bh)
    w, h = max(w * shrink, MIN_SIDE), max(h * shrink, MIN_SIDE)
    bw, bh = rotated_extent(w, h, angle)
    # A rectangle shrunk to fit exactly leaves a zero-width range for its centre, which rounding
    # can make slightly negative: clamp it (the centre then sits in the middle).
    lo_x, lo_y = min(bw / 2, room_x / 2), min(bh / 2, room_y / 2)
    cx = rng.uniform(lo_x, max(lo_x, room_x - bw / 2))
    cy = rng.uniform(lo_y, max(lo_y, room_y - bh / 2))
    return MaskParams(cx=cx, cy=cy, width=w, height=h, angle=angle)


def inside_test(params: MaskParams) -> tuple[float, float, float, float, float, float]:
    """The numbers of the inside test of :func:`rasterize`, in float64.

    Returns
    -------
    (cx, cy, c, s, hw, hh) : tuple of float
        Pixel ``(x, y)`` is in M when ``|u| <= hw`` and ``|v| <= hh``, with
        ``u = (x − cx)·c − (y − cy)·s`` and ``v = (x − cx)·s + (y − cy)·c``: ``c``, ``s`` the cosine
        and sine of the angle, ``hw``, ``hh`` the half sides plus :data:`EDGE_SLACK`. The fused
        kernels (:mod:`pastegen.kernels`) evaluate the same test on these numbers.
    """
    theta = math.radians(params.angle)
    return (
        params.cx,
        params.cy,
        math.cos(theta),
        math.sin(theta),
        params.width / 2 + EDGE_SLACK,
        params.height / 2 + EDGE_SLACK,
    )


def rasterize(height: int, width: int, params: MaskParams) -> np.ndarray:
    """The (height, width) uint8 mask, 1 inside the rectangle and 0 outside (see :func:`inside_test`)."""
    cx, cy, c, s, hw, hh = inside_test(params)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = xs - cx, ys - cy
    u = dx * c - dy * s
    v = dx * s + dy * c
    inside = (np.abs(u) <= hw) & (np.abs(v) <= hh)
    return inside.astype(np.uint8)
