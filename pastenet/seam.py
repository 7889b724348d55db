"""The Poisson seam (beyond the paper): make a pasted region meet its surroundings exactly.

Given the network's pasted pixels ``P`` inside the mask Ω and the target ``T`` around it,
:func:`poisson_seam` returns ``P + f`` where the membrane ``f`` is the harmonic function on Ω
(``Δf = 0``, 4-neighbour discrete Laplacian) that equals ``T − P`` on the pixels just outside Ω. It
is Poisson image editing with the normal guidance field (Pérez et al. 2003) applied to ``P``
instead of the raw source: the gradients of ``P`` are kept exactly and only a smooth correction is
added, which vanishes when ``P`` already meets the target along the border. Combined with the
affine colour map (:mod:`pastenet.models.heads`) the network decides the colours inside the region
(what Poisson editing alone cannot: it only propagates the border's offset inwards) and the
membrane removes any residual step at the seam.

Discretisation: for each pixel ``p`` of Ω, ``Σ_q (f_p − f_q) = 0`` over its 4-neighbours ``q`` inside
the image, with ``f_q = T_q − P_q`` for neighbours outside Ω; neighbours outside the image are left
out (a zero-flux border). A connected part of Ω that touches no pixel outside Ω (a mask covering
the whole image) has no boundary values, and its correction is zero. The sparse system is solved
exactly (SuperLU) for all channels at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import MaskError
from .recent import Recent, mask_key

__all__ = ["poisson_seam", "poisson_blend", "membrane", "prepare", "factorise", "window"]


#: Factorisations kept for reuse: a paste solves twice on one mask (the prior, then the seam).
_FACTORS_KEPT = 2
_FACTORS = Recent(_FACTORS_KEPT)


def _factorised(mask: np.ndarray, system: Callable[[], Any]) -> Any:
    """The sparse LU of ``system()``, the Laplacian system of ``mask``: reused while the same mask comes back.

    The system depends on the mask alone, so the factorisation (most of a solve's time: 0.7 s of
    0.8 s for a 512-pixel disc) is cached by the mask's packed bits, the last
    :data:`_FACTORS_KEPT` masks (thread-safe); ``system`` is only called (the sparse matrix only
    assembled) when the mask is not in the cache. The solution is the same as a fresh
    factorisation's, bit for bit.
    """
    from scipy.sparse.linalg import splu

    def lu() -> Any:
        A = system()
        # A is symmetric positive definite: a symmetric fill-reducing ordering and no pivoting
        return splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True}, **_supernodes(A.shape[0]))

    return _FACTORS.get(mask_key(mask), lu)


#: Below this many unknowns SuperLU factorises these systems faster column by column.
_SMALL_SYSTEM = 60_000


def _supernodes(n: int) -> dict[str, int]:
    """SuperLU's supernode relaxation and panel size for a Laplacian system of ``n`` unknowns.

    For the systems of training priors and ordinary pastes (up to some 60,000 unknowns) no
    relaxed supernodes and panels of one column factorise 1.3-1.5x faster than SuperLU's defaults
    (``benchmarks/README.md``); larger systems keep the defaults. The factors differ in their
    last bits only (solutions within 1e-11 of each other for values of 0-255).
    """
    return {"relax": 1, "panel_size": 1} if n < _SMALL_SYSTEM else {}


def membrane(difference: np.ndarray, mask: np.ndarray, *, extra: np.ndarray | None = None) -> np.ndarray:
    """The harmonic interpolation into ``mask`` of ``difference`` given on the pixels around it.

    Parameters
    ----------
    difference : ndarray, (H, W, C) float
        Boundary values; only pixels outside ``mask`` that neighbour it are read.
    mask : ndarray, (H, W) bool
        Ω.
    extra : ndarray, (H, W, C) float, optional
        A source term added to the right-hand side at each pixel of Ω (``Δf = −extra`` in the
        discrete sense); :func:`poisson_blend` uses it for mixed gradients. ``None``: zero.

    Returns
    -------
    ndarray, (H, W, C) float64
        ``f``: harmonic on Ω (without ``extra``), equal to ``difference`` outside Ω (zeros where not a neighbour).
    """
    import scipy.sparse as sp
    m = np.asarray(mask, dtype=bool)
    d = np.asarray(difference, dtype=np.float64)
    if d.ndim != 3 or d.shape[:2] != m.shape:
        raise MaskError(f"difference {d.shape} and mask {m.shape} must share their height and width")
    h, w = m.shape
    out = np.zeros_like(d)
    n = int(m.sum())
    if n == 0:
        return out
    index = -np.ones((h, w), dtype=np.int64)
    ys, xs = np.nonzero(m)
    index[ys, xs] = np.arange(n)
    rows, cols, vals = [], [], []
    rhs = np.zeros((n, d.shape[2]))
    degree = np.zeros(n)
    boundary = np.zeros(n, dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        qy, qx = ys + dy, xs + dx
        inside_image = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        p = np.nonzero(inside_image)[0]
        qy, qx = qy[p], qx[p]
        degree[p] += 1
        q_index = index[qy, qx]
        interior = q_index >= 0
        rows.append(p[interior])
        cols.append(q_index[interior])
        vals.append(-np.ones(int(interior.sum())))
        outer = p[~interior]
        np.add.at(rhs, outer, d[qy[~interior], qx[~interior]])
        boundary[outer] = True
    if extra is not None:
        e = np.asarray(extra, dtype=np.float64)
        if e.shape != d.shape:
            raise MaskError(f"extra {e.shape} and difference {d.shape} must have the same shape")
        rhs += e[ys, xs]
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(degree)

    def system() -> Any:
        A = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
        if not boundary.any():
            # A 4-connected part of Ω with no neighbour outside Ω is closed under taking
            # neighbours in the image, so it is the whole image: then Ω has no boundary value at
            # all, and A (singular) is pinned to the zero correction
            A = A + sp.identity(n, format="csc")
        return A

    f = _factorised(m, system).solve(rhs)
    out[ys, xs] = f
    return out


def poisson_seam(pasted: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``pasted`` inside ``mask`` plus the membrane that makes it meet ``target`` at the border.

    Parameters
    ----------
    pasted : ndarray, (H, W, C) float
        The network's result (only values inside ``mask`` are used).
    target : ndarray, (H, W, C) float
        The image around the region (only pixels outside ``mask`` that neighbour it are used).
    mask : ndarray, (H, W) bool

    Returns
    -------
    ndarray, (H, W, C) float32
        ``target`` outside ``mask``, ``pasted + f`` inside (see the module docstring).
    """
    m = np.asarray(mask, dtype=bool)
    p = np.asarray(pasted, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 3 or p.shape[:2] != m.shape:
        raise MaskError(f"pasted {p.shape}, target {t.shape} and mask {m.shape} do not fit together")
    f = membrane(t - p, m)
    return np.where(m[:, :, None], p + f, t).astype(np.float32)


def prepare(mask: np.ndarray) -> None:
    """Factorise, ahead of a paste, the system that pasting the region ``mask`` will solve.

    A paste solves on the placed mask's bounding box grown by one pixel; unless the region
    touches the target's border there, that crop does not depend on where it is placed, so its
    factorisation can be made while the user is still placing the region (``pastenet edit`` calls
    this when the region is drawn). Later pastes of this region (at any offset) take it from the
    cache; the result is the same as without.

    Parameters
    ----------
    mask : ndarray, (H, W)
        The region (non-zero inside); an empty one does nothing.

    Raises
    ------
    MaskError
        A mask that is not 2-D.
    """
    m = np.asarray(mask) != 0
    if m.ndim != 2:
        raise MaskError(f"prepare takes a 2-D mask, got shape {m.shape}")
    if not m.any():
        return
    ys, xs = np.nonzero(m)
    factorise(np.pad(m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], 1))  # as if placed away from any border


def factorise(mask: np.ndarray) -> None:
    """Factorise the system that :func:`poisson_seam` solves on ``mask``'s window, as a paste does.

    Pastes call it in a background thread for the seam's system as soon as the placed region is
    known, so that the factorisation runs beside the prior's and the network (SuperLU releases
    the GIL); the seam then takes it from the cache, or waits for it. The result is the same as
    without.

    Parameters
    ----------
    mask : ndarray, (H, W) bool
        The placed region on the image the seam will solve on; an empty one does nothing.
    """
    m = np.asarray(mask) != 0
    if not m.any():
        return
    crop = m[window(m)]
    membrane(np.zeros(crop.shape + (1,)), crop)


def window(mask: np.ndarray) -> tuple[slice, slice]:
    """The slices of ``mask``'s bounding box grown by one pixel (clipped to the image): where a paste solves.

    Pastes solve on this window (:func:`pastenet.paste.paste`), and :func:`prepare` factorises
    the system of the same window, so the two must agree: both take it from here.
    """
    ys, xs = np.nonzero(mask)
    h, w = mask.shape[:2]
    return (slice(max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, h)), slice(max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, w)))


def _neighbour_slices(h: int, w: int, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices ``(p, q)`` pairing every pixel ``p`` with its in-image neighbour ``q = p + (dy, dx)``."""
    p = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    q = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
    return p, q


def poisson_blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray, *, mixed: bool = False) -> np.ndarray:
    """Poisson image editing (Pérez et al. 2003) of the placed ``source`` into ``target`` over ``mask``.

    ``mixed=False``: seamless cloning with the source's gradients (eq. 11), which is
    :func:`poisson_seam` of the source. ``mixed=True``: mixed gradients (eq. 13): on each edge
    ``pq`` and channel, whichever of the target's and the source's differences has the larger
    magnitude (ties go to the source). Neighbours outside the image are left out, as in
    :func:`membrane`; the system is solved exactly.

    Parameters
    ----------
    source, target : ndarray, (H, W, C) float
        The source placed on the target's grid, and the target.
    mask : ndarray, (H, W) bool

    Returns
    -------
    ndarray, (H, W, C) float32
        ``target`` outside ``mask``, the blend inside (not clipped).
    """
    m = np.asarray(mask, dtype=bool)
    s = np.asarray(source, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if s.shape != t.shape or s.ndim != 3 or s.shape[:2] != m.shape:
        raise MaskError(f"source {s.shape}, target {t.shape} and mask {m.shape} do not fit together")
    if not mixed:
        return poisson_seam(s, t, m)
    # f = s + h: h solves A h = Σ_{q ∉ Ω} (t_q − s_q) + Σ_q (v_pq − (s_p − s_q))
    h, w = m.shape
    extra = np.zeros_like(s)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        p, q = _neighbour_slices(h, w, dy, dx)
        vs = s[p] - s[q]
        vt = t[p] - t[q]
        extra[p] += np.where(np.abs(vt) > np.abs(vs), vt - vs, 0.0)
    f = membrane(t - s, m, extra=extra)
    return np.where(m[:, :, None], s + f, t).astype(np.float32)
