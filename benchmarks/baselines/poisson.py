"""Poisson image editing (Pérez, Gangnet and Blake 2003), solved exactly with a sparse solver.

Discrete problem (Pérez et al., eq. 7 and 11): over the mask pixels Ω, find ``f`` with, for every
``p ∈ Ω``::

    |N_p| f_p − Σ_{q ∈ N_p ∩ Ω} f_q = Σ_{q ∈ N_p \\ Ω} f*_q + Σ_{q ∈ N_p} v_pq

where ``N_p`` are the 4-neighbours of ``p`` **inside the image**, ``f*`` is the target (Dirichlet
values on the pixels just outside Ω) and ``v_pq`` the guidance field on the edge ``pq``:

- ``normal`` (seamless cloning, eq. 11): ``v_pq = g_p − g_q``, the source's gradient;
- ``mixed`` (eq. 13): per edge and per channel, whichever of ``f*_p − f*_q`` and ``g_p − g_q`` has
  the larger magnitude (ties go to the source);
- ``membrane`` (eq. 2): ``v = 0``, the harmonic interpolation of the boundary values; used by the
  benchmark to fill an unknown hole without looking inside it.

Each colour channel is solved separately; the matrix (the same for all channels and guidance
modes) is factorised once with SuperLU (``scipy.sparse.linalg.splu``) and the factorisation of the
last few masks is cached, so the three channels and several modes on the same mask cost one
factorisation. The float solution is clipped to [0, 255] and rounded to uint8.

**Mask pixels on the image border.** Out-of-image neighbours are absent (``N_p`` has fewer than
four pixels): a homogeneous Neumann condition on the image border, so a region that touches the
border is free there instead of being pulled towards values that do not exist. The system is
singular only when Ω is the whole image (no Dirichlet pixel at all); the source is then returned
(the solution up to a constant), with a warning. An empty mask returns a copy of the target.

Pixels outside the mask are the target's exactly; the caller's arrays are never written.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ._checks import check_inputs, composite

__all__ = ["poisson_solve", "poisson_normal", "poisson_mixed", "membrane_fill", "laplacian_system", "MODES"]

MODES = ("normal", "mixed", "membrane")

# the four neighbour offsets (dy, dx)
_DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))

_CACHE: OrderedDict[tuple, tuple] = OrderedDict()
_CACHE_SIZE = 4


def _shift(a: np.ndarray, dy: int, dx: int, fill: float = 0.0) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]`` (``fill`` where that falls outside the image)."""
    out = np.full_like(a, fill)
    h, w = a.shape[:2]
    ys = slice(max(0, -dy), min(h, h - dy))
    xs = slice(max(0, -dx), min(w, w - dx))
    ys2 = slice(max(0, dy), min(h, h + dy))
    xs2 = slice(max(0, dx), min(w, w + dx))
    out[ys, xs] = a[ys2, xs2]
    return out


def laplacian_system(mask: np.ndarray) -> tuple[sp.csc_matrix, np.ndarray]:
    """The matrix ``A`` of the discrete Poisson equation over ``mask`` and the pixel index map.

    Returns ``(A, index)`` where ``index[y, x]`` is the unknown's number of mask pixel ``(y, x)``
    (row-major order) and ``-1`` outside the mask. ``A[i, i] = |N_p|`` (in-image neighbours),
    ``A[i, j] = −1`` for neighbouring mask pixels.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    index = np.full((h, w), -1, dtype=np.int64)
    n = int(mask.sum())
    index[mask] = np.arange(n)
    ys, xs = np.nonzero(mask)
    degree = np.zeros(n)
    rows, cols = [], []
    for dy, dx in _DIRECTIONS:
        qy, qx = ys + dy, xs + dx
        inside_image = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        degree += inside_image
        qy, qx, p = qy[inside_image], qx[inside_image], index[ys[inside_image], xs[inside_image]]
        q = index[qy, qx]
        both = q >= 0
        rows.append(p[both])
        cols.append(q[both])
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    off = sp.coo_matrix((-np.ones(len(r)), (r, c)), shape=(n, n))
    a = (sp.diags(degree) + off).tocsc()
    return a, index


def _factor(mask: np.ndarray):
    key = (mask.shape, hashlib.sha1(np.packbits(mask).tobytes()).hexdigest())
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    a, index = laplacian_system(mask)
    lu = splu(a)
    _CACHE[key] = (lu, index)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return lu, index


def _rhs(target: np.ndarray, source: np.ndarray | None, mask: np.ndarray, mode: str) -> np.ndarray:
    """Right-hand side (n, C) of the system for ``mode`` (float64)."""
    h, w = mask.shape
    f_star = target.astype(np.float64)
    g = None if source is None else source.astype(np.float64)
    b = np.zeros(f_star.shape, dtype=np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    for dy, dx in _DIRECTIONS:
        qy, qx = yy + dy, xx + dx
        valid = ((qy >= 0) & (qy < h) & (qx >= 0) & (qx < w))[..., None]
        q_in_mask = _shift(mask, dy, dx, fill=False)[..., None]
        f_q = _shift(f_star, dy, dx)
        # Dirichlet values of the neighbours just outside the mask
        b += np.where(valid & ~q_in_mask, f_q, 0.0)
        if mode == "membrane":
            continue
        v = g - _shift(g, dy, dx)
        if mode == "mixed":
            vt = f_star - f_q
            v = np.where(np.abs(vt) > np.abs(v), vt, v)
        b += np.where(valid, v, 0.0)
    return b[mask]


def poisson_solve(
    target: np.ndarray, source: np.ndarray | None, mask: np.ndarray, mode: str = "normal"
) -> np.ndarray:
    """The exact float solution inside the mask, as an (H, W, C) float64 image (target outside).

    Not clipped: :func:`poisson_normal` / :func:`poisson_mixed` clip and round it. ``target`` and
    ``source`` may have any number of channels (each solved separately); ``source`` is ignored
    (may be ``None``) for ``mode="membrane"``.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    mask = np.asarray(mask) != 0
    target = np.asarray(target)
    squeeze = target.ndim == 2
    t = target[..., None] if squeeze else target
    s = None
    if mode != "membrane":
        s = np.asarray(source)
        s = s[..., None] if s.ndim == 2 else s
        if s.shape != t.shape:
            raise ValueError(f"source {s.shape} and target {t.shape} must have the same shape")
    if mask.shape != t.shape[:2]:
        raise ValueError(f"mask {mask.shape} must be HxW of the target {t.shape[:2]}")
    out = t.astype(np.float64)
    if not mask.any():
        return out[..., 0] if squeeze else out
    if mask.all():
        warnings.warn("the mask covers the whole image: no boundary, returning the source", RuntimeWarning, stacklevel=2)
        out = (s if s is not None else t).astype(np.float64)
        return out[..., 0] if squeeze else out
    # work on the mask's bounding box grown by one pixel: every in-image neighbour of a mask
    # pixel lies in it, so the system is the same as over the whole image, at the box's cost
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    box = (slice(max(0, ys.min() - 1), min(h, ys.max() + 2)), slice(max(0, xs.min() - 1), min(w, xs.max() + 2)))
    m = mask[box]
    lu, _ = _factor(m)
    b = _rhs(t[box], None if s is None else s[box], m, mode)
    sol = lu.solve(b)
    out[box][m] = sol
    return out[..., 0] if squeeze else out


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 255.0)).astype(np.uint8)


def poisson_normal(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Seamless cloning with the source's gradients (Pérez et al. eq. 11), solved exactly."""
    target, source, mask = check_inputs(target, source, mask)
    return composite(target, _to_uint8(poisson_solve(target, source, mask, "normal")), mask)


def poisson_mixed(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Seamless cloning with mixed gradients (Pérez et al. eq. 13), solved exactly."""
    target, source, mask = check_inputs(target, source, mask)
    return composite(target, _to_uint8(poisson_solve(target, source, mask, "mixed")), mask)


def membrane_fill(target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The target with the mask filled by the harmonic (membrane) interpolation of its boundary.

    Reads no target pixel inside the mask: the benchmark uses it to give the mixed-gradient
    methods a target whose unknown content under the mask carries no information.
    """
    target = np.asarray(target)
    mask = np.asarray(mask) != 0
    return composite(target, _to_uint8(poisson_solve(target, None, mask, "membrane")), mask)
