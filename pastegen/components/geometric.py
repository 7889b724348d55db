"""``T_geometric``: a random homography close to the identity (paper section 3.1.2).

The four image corners ``p_i`` (pixel centres ``(0, 0)``, ``(W−1, 0)``, ``(W−1, H−1)``,
``(0, H−1)``, as ``(x, y)``, in that order) are moved by offsets ``o_i ~ U(−σ, σ)`` per coordinate;
the homography ``H`` with ``H p_i = p_i + o_i`` is solved by least squares (the 8x8 direct linear
system with ``h33 = 1``, in normalised coordinates; with four points it is square and solved
exactly). The warped image is ``out(q) = I(H⁻¹ q)`` with bilinear interpolation;
samples that fall outside the image take the ``border`` rule: ``"reflect"`` (mirror about the edge
pixels, ``d c b | a b c d | c b a``: scikit-image's and NumPy's ``reflect``, OpenCV's
``BORDER_REFLECT_101``) or ``"constant"`` (zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import SpecError
from ._checks import frozen_array

__all__ = [
    "GeometricSpec",
    "GeometricParams",
    "FIELDS",
    "BORDERS",
    "sample",
    "identity",
    "is_identity",
    "corners",
    "homography",
    "inverse_homography",
    "inverse_homographies",
    "source_coordinates",
    "apply",
]

BORDERS = ("reflect", "constant")


@dataclass(frozen=True)
class GeometricSpec:
    """Sampling range of the corner offsets.

    Parameters
    ----------
    sigma : float
        Offsets are drawn from U(−sigma, sigma) pixels at the working size (faces 15, cityscapes 10).
    border : {"reflect", "constant"}
        How samples outside the image are filled.
    """

    sigma: float = 15.0
    border: str = "reflect"

    def __post_init__(self) -> None:
        try:
            sigma = float(self.sigma)
        except (TypeError, ValueError):
            raise SpecError(f"geometric.sigma must be a number, got {self.sigma!r}") from None
        if not (0 <= sigma < 1e4):
            raise SpecError(f"geometric.sigma must be a non-negative number of pixels, got {self.sigma}")
        object.__setattr__(self, "sigma", sigma)
        if self.border not in BORDERS:
            raise SpecError(f"geometric.border must be one of {BORDERS}, got {self.border!r}")


@dataclass(frozen=True)
class GeometricParams:
    """Sampled corner offsets, shape (4, 2) as (dx, dy) for corners TL, TR, BR, BL."""

    offsets: np.ndarray = field(default_factory=lambda: frozen_array(np.zeros((4, 2)), np.float64))

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", frozen_array(self.offsets, np.float64, (4, 2)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GeometricParams) and bool(np.array_equal(self.offsets, other.offsets))

    def to_record(self) -> dict[str, np.ndarray]:
        return {"offsets": np.array(self.offsets)}

    @classmethod
    def from_record(cls, record: dict) -> GeometricParams:
        return cls(offsets=np.asarray(record["offsets"], dtype=np.float64))


FIELDS = {"offsets": ((4, 2), "float64")}


def identity() -> GeometricParams:
    """Zero offsets: the identity warp."""
    return GeometricParams()


def is_identity(params: GeometricParams) -> bool:
    """Whether every offset is zero: the warp is then the identity, applied exactly (no resampling)."""
    return not np.any(params.offsets)


def sample(rng: np.random.Generator, spec: GeometricSpec) -> GeometricParams:
    """Draw the 8 corner offsets from U(−σ, σ) (one call, row-major (corner, xy))."""
    return GeometricParams(offsets=rng.uniform(-spec.sigma, spec.sigma, size=(4, 2)))


def corners(height: int, width: int) -> np.ndarray:
    """The image corners as (x, y) pixel centres, TL, TR, BR, BL; shape (4, 2)."""
    return np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], dtype=np.float64)


@lru_cache(maxsize=8)
def _system_constants(height: int, width: int) -> tuple[np.ndarray, ...]:
    """Per-size parts of the homography solve: corners, normalisation and its inverse, the
    normalised corners and the offset-independent columns of the 8x8 system (read-only)."""
    src = corners(height, width)
    norm = np.array([[2.0 / max(width - 1, 1), 0, -1.0], [0, 2.0 / max(height - 1, 1), -1.0], [0, 0, 1.0]])
    ns = src @ norm[:2, :2].T + norm[:2, 2]
    a = np.zeros((8, 8))
    a[0::2, 0:2] = ns
    a[0::2, 2] = 1.0
    a[1::2, 3:5] = ns
    a[1::2, 5] = 1.0
    consts = (src, norm, np.linalg.inv(norm), ns, a)
    for c in consts:
        c.flags.writeable = False
    return consts


def homography(height: int, width: int, params: GeometricParams) -> np.ndarray:
    """The 3x3 homography mapping the corners ``p_i`` to ``p_i + o_i`` (least squares).

    The direct linear system (``h33 = 1``) is solved in normalised coordinates (centred, scaled
    to about [-1, 1]) for conditioning; with four correspondences it is square, so its
    least-squares solution is its exact solution, found by ``solve``.

    Returns
    -------
    ndarray, (3, 3), float64
        ``H`` with ``H[2, 2] == 1``, acting on homogeneous ``(x, y, 1)`` column vectors.
    """
    if is_identity(params):
        return np.eye(3)
    src, norm, norm_inv, ns, a0 = _system_constants(int(height), int(width))
    nd = (src + params.offsets) @ norm[:2, :2].T + norm[:2, 2]
    a = a0.copy()
    # rows 2k and 2k + 1: (x, y, 1, 0, 0, 0, -u·x, -u·y) and (0, 0, 0, x, y, 1, -v·x, -v·y)
    a[:, 6:] = ((-nd)[:, :, None] * ns[:, None, :]).reshape(8, 2)
    h = np.linalg.solve(a, nd.reshape(8))  # right-hand side (u0, v0, u1, v1, ...)
    full = norm_inv @ np.append(h, 1.0).reshape(3, 3) @ norm
    return full / full[2, 2]


def _reflect(idx: np.ndarray, n: int) -> np.ndarray:
    """Reflect integer indices into [0, n) about the edge pixels (``d c b | a b c d | c b a``)."""
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.abs(idx) % period
    return np.where(idx >= n, period - idx, idx)


def inverse_homography(height: int, width: int, params: GeometricParams) -> np.ndarray:
    """``H⁻¹``: maps an output pixel centre ``q`` to the input position it samples.

    Raises
    ------
    numpy.linalg.LinAlgError
        The offsets give a singular homography.
    """
    return np.linalg.inv(homography(height, width, params))


def inverse_homographies(height: int, width: int, offsets: np.ndarray) -> np.ndarray:
    """``H⁻¹`` of many offset sets at once: element ``k`` equals ``inverse_homography`` of
    ``offsets[k]`` bit for bit (``np.eye(3)`` for zero offsets).

    The same NumPy operations and LAPACK calls, on stacked arrays: for a batch of tuples this
    costs a few microseconds per homography instead of about twenty (the per-call overhead of
    ``np.linalg``). Tested for equality with :func:`inverse_homography`.

    Parameters
    ----------
    offsets : ndarray, (N, 4, 2), float64
        Corner offsets, as :attr:`GeometricParams.offsets`.

    Returns
    -------
    ndarray, (N, 3, 3), float64

    Raises
    ------
    SpecError
        ``offsets`` not of shape (N, 4, 2).
    numpy.linalg.LinAlgError
        Some offsets give a singular homography.
    """
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.ndim != 3 or offsets.shape[1:] != (4, 2):
        raise SpecError(f"offsets must have shape (N, 4, 2), got {offsets.shape}")
    n = offsets.shape[0]
    out = np.empty((n, 3, 3))
    moved = offsets.reshape(n, 8).any(axis=1)
    out[~moved] = np.eye(3)
    todo = np.flatnonzero(moved)
    if todo.size:
        src, norm, norm_inv, ns, a0 = _system_constants(int(height), int(width))
        m = todo.size
        nd = (src + offsets[todo]) @ norm[:2, :2].T + norm[:2, 2]
        a = np.repeat(a0[None], m, axis=0)
        a[:, :, 6:] = ((-nd)[:, :, :, None] * ns[None, :, None, :]).reshape(m, 8, 2)
        h = np.linalg.solve(a, nd.reshape(m, 8, 1))[..., 0]
        full = norm_inv @ np.concatenate([h, np.ones((m, 1))], axis=1).reshape(m, 3, 3) @ norm
        out[todo] = np.linalg.inv(full / full[:, 2:3, 2:3])
    return out


def source_coordinates(height: int, width: int, params: GeometricParams) -> tuple[np.ndarray, np.ndarray]:
    """For every output pixel, the (x, y) position it samples in the input: ``H⁻¹ q``."""
    hinv = inverse_homography(height, width, params)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    den = hinv[2, 0] * xs + hinv[2, 1] * ys + hinv[2, 2]
    sx = (hinv[0, 0] * xs + hinv[0, 1] * ys + hinv[0, 2]) / den
    sy = (hinv[1, 0] * xs + hinv[1, 1] * ys + hinv[1, 2]) / den
    return sx, sy


def apply(image: np.ndarray, params: GeometricParams, *, border: str = "reflect") -> np.ndarray:
    """Warp ``image`` by the homography of ``params`` with bilinear interpolation.

    Parameters
    ----------
    image : ndarray, (H, W) or (H, W, C)
        Any numeric dtype; the result is float32 (uint8 input keeps its 0-255 scale).
    params : GeometricParams
    border : {"reflect", "constant"}

    Returns
    -------
    ndarray, float32, same shape as ``image``
    """
    if border not in BORDERS:
        raise SpecError(f"border must be one of {BORDERS}, got {border!r}")
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise SpecError(f"image must have shape (H, W) or (H, W, C), got {image.shape}")
    height, width = image.shape[:2]
    if is_identity(params):
        return image.astype(np.float32)
    sx, sy = source_coordinates(height, width, params)
    x0 = np.floor(sx)
    y0 = np.floor(sy)
    fx = (sx - x0).astype(np.float32)
    fy = (sy - y0).astype(np.float32)
    x0 = x0.astype(np.int64)
    y0 = y0.astype(np.int64)
    src = image.astype(np.float32)
    out = np.zeros(image.shape, dtype=np.float32)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi = x0 + dx
            yi = y0 + dy
            weight = wy * wx
            if border == "reflect":
                vals = src[_reflect(yi, height), _reflect(xi, width)]
            else:
                inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
                vals = src[np.clip(yi, 0, height - 1), np.clip(xi, 0, width - 1)]
                weight = np.where(inside, weight, np.float32(0))
            if image.ndim == 3:
                weight = weight[..., None]
            out += weight * vals
    return out
