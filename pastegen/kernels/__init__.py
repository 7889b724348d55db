"""Fused Numba kernels: a whole training tuple in two passes over the image.

:func:`render_tuple` gives the arrays of :func:`pastegen.pipeline.render` (uint8: ``M`` and
``I_T`` exactly, ``I_S`` within one level) or their unquantised float32 versions for training,
computing ``T`` only inside the mask. Outputs go into reusable :class:`TupleBuffers` and are
bit-identical for any number of threads.

Pass structure (details in :mod:`pastegen.kernels._render`)
-----------------------------------------------------------
1. serial set-up, O(H + W): the mask as one x-span per row (exactly the pixels of
   ``components.mask.rasterize``), each row's offset in a planar scratch buffer, the row blocks
   of both passes;
2. pass 1, masked pixels only, parallel over row blocks: the bilinear homography warp
   (``reflect``/``constant`` border) into planar float32 scratch rows, per-row float64 sums;
3. serial: the row sums added in row order -> contrast means -> one affine map per channel and
   colour transform;
4. pass 2, every row, parallel over row blocks: on the masked span the mixing field, both
   colour transforms with a branchless closed-form HSV hue shift / saturation scale (vectorised
   by LLVM on the planar rows), eq. 3 and the quantisation; over the whole row ``I_T``, ``I_S``
   (zero outside the mask) and ``M``.

:func:`render_tuples` renders a batch with each tuple whole on one thread (Python threads of
its own, one hand-off per batch, no barrier inside a tuple): the way to use several cores in one
process, since the two barriers per tuple of :func:`render_tuple`'s split cost more than they
save on a virtual machine (measurements in :mod:`pastegen.kernels._threading`).

Threads claim row blocks one at a time from an atomic counter, so a thread slowed down by
another process on its core takes fewer blocks. The threading layer is chosen and launched by
:mod:`pastegen.kernels._threading` (GNU OpenMP with passive waiting unless the user chose a
layer; measurements in its docstring). A serial driver serves ``threads=1``, concurrent callers
and processes forked after an OpenMP run.

Examples
--------
>>> import numpy as np
>>> from pastegen import kernels
>>> from pastegen.pipeline import TupleGenerator, TupleSpec
>>> spec = TupleSpec(64, 64)
>>> gen = TupleGenerator([np.full((80, 80, 3), 128, np.uint8)], spec, seed=0)
>>> p = gen.sample_params(0)
>>> crop = np.ascontiguousarray(gen.crop_image(p))  # the ground truth I
>>> out = kernels.render_tuple(crop, p, spec)
>>> out = kernels.render_tuple(crop, p, spec, out=out)  # the same buffers, overwritten
>>> out.I_S.shape, out.M.dtype, int(out.M.sum()) == int((out.I_T.sum(axis=2) == 0).sum())
((64, 64, 3), dtype('uint8'), True)
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from ..components import color, crop, geometric, mask, mix, shading, tone
from ..errors import SpecError
from ..params import TupleParams
from ..spec import TupleSpec
from . import _threading
from ._render import _kernel_batch, _kernel_parallel, _kernel_serial

__all__ = ["TupleBuffers", "TupleBatch", "render_tuple", "render_tuples", "warm_up", "threading_layer"]


_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))


@dataclass
class TupleBuffers:
    """The output arrays of :func:`render_tuple`, reusable from one tuple to the next.

    Parameters
    ----------
    I_T : ndarray, (H, W, 3), uint8 or float32
        ``I·(1−M)``: the crop with the mask cut out (float32: ``I/255·(1−M)``).
    I_S : ndarray, (H, W, 3), same dtype as ``I_T``
        ``T(I)·M``: the transformed content inside the mask, zero outside.
    M : ndarray, (H, W), uint8
        The mask (0/1).
    """

    I_T: np.ndarray
    I_S: np.ndarray
    M: np.ndarray

    @classmethod
    def empty(cls, height: int, width: int, dtype=np.uint8) -> TupleBuffers:
        """Uninitialised buffers of the given size and output dtype (uint8 or float32)."""
        dtype = _check_dtype(dtype)
        return cls(
            I_T=np.empty((height, width, 3), dtype),
            I_S=np.empty((height, width, 3), dtype),
            M=np.empty((height, width), np.uint8),
        )

    def fits(self, height: int, width: int, dtype=np.uint8) -> bool:
        """Whether these buffers can receive a (height, width) tuple of ``dtype``."""
        return _outputs_fit(self.I_T, self.I_S, self.M, (height, width), dtype)


def _outputs_fit(I_T: object, I_S: object, M: object, lead: tuple[int, ...], dtype) -> bool:
    """``I_T``, ``I_S`` (``lead + (3,)``, ``dtype``) and ``M`` (``lead``, uint8) are usable and
    do not overlap: the rule of :meth:`TupleBuffers.fits` and :meth:`TupleBatch.fits`."""
    dtype = np.dtype(dtype)
    return (
        _usable(I_T, (*lead, 3), dtype)
        and _usable(I_S, (*lead, 3), dtype)
        and _usable(M, lead, np.dtype(np.uint8))
        and not np.may_share_memory(I_T, I_S)
        and not np.may_share_memory(I_T, M)
        and not np.may_share_memory(I_S, M)
    )


def _usable(a: object, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    return (
        isinstance(a, np.ndarray)
        and type(a) is np.ndarray
        and a.shape == shape
        and a.dtype == dtype
        and a.flags.c_contiguous
        and a.flags.writeable
        and a.flags.aligned
    )


@dataclass
class TupleBatch:
    """The output arrays of :func:`render_tuples`: :class:`TupleBuffers` with a leading tuple axis.

    Parameters
    ----------
    I_T, I_S : ndarray, (N, H, W, 3), uint8 or float32
    M : ndarray, (N, H, W), uint8
    """

    I_T: np.ndarray
    I_S: np.ndarray
    M: np.ndarray

    @classmethod
    def empty(cls, count: int, height: int, width: int, dtype=np.uint8) -> TupleBatch:
        """Uninitialised buffers for ``count`` tuples of the given size and output dtype."""
        dtype = _check_dtype(dtype)
        return cls(
            I_T=np.empty((count, height, width, 3), dtype),
            I_S=np.empty((count, height, width, 3), dtype),
            M=np.empty((count, height, width), np.uint8),
        )

    def __len__(self) -> int:
        return int(self.M.shape[0])

    def __getitem__(self, k: int) -> TupleBuffers:
        """Tuple ``k``'s arrays (views)."""
        return TupleBuffers(I_T=self.I_T[k], I_S=self.I_S[k], M=self.M[k])

    def fits(self, count: int, height: int, width: int, dtype=np.uint8) -> bool:
        """Whether these buffers can receive ``count`` (height, width) tuples of ``dtype``."""
        return _outputs_fit(self.I_T, self.I_S, self.M, (count, height, width), dtype)


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise SpecError(f"dtype must be uint8 or float32, got {dtype!r}") from None
    if dt not in _DTYPES:
        raise SpecError(f"dtype must be uint8 or float32, got {dt}")
    return dt


def _check_image(image: object, spec: TupleSpec) -> np.ndarray:
    shape = (spec.height, spec.width, 3)
    if not isinstance(image, np.ndarray):
        raise SpecError(f"the crop I must be a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.shape != shape:
        raise SpecError(f"the crop I must be uint8 of shape {shape}, got {image.dtype} {image.shape}")
    if not image.flags.c_contiguous:
        raise SpecError("the crop I must be C-contiguous (use np.ascontiguousarray)")
    view = image.view(np.ndarray)
    view.flags.writeable = False  # one compiled variant for writeable and read-only inputs
    return view


def _check_threads(threads: object) -> int:
    limit = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]  # a numba.config option, set at import
    if threads is None:
        # numba's default: the current setting once the layer runs, else NUMBA_NUM_THREADS
        return int(numba.get_num_threads()) if _threading.layer() is not None else limit
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise SpecError(f"threads must be a positive integer or None, got {threads!r}")
    return min(int(threads), limit)


class _Scratch(threading.local):
    """Per-thread planar float32 scratch rows (R, G, B, mixing field), grown on demand.

    One column per masked pixel; kept between calls (a fresh buffer costs page faults).
    """

    buf: np.ndarray | None = None

    def get(self, pixels: int, limit: int) -> np.ndarray:
        """At least ``pixels`` columns (grown by doubling, up to ``limit`` when that is more)."""
        if self.buf is None or self.buf.shape[1] < pixels:
            old = 0 if self.buf is None else self.buf.shape[1]
            self.buf = np.empty((4, max(pixels, min(2 * old, limit))), np.float32)
        return self.buf


_SCRATCH = _Scratch()


#: Column of the hue bias in :func:`pastegen.components.color.packed`; the kernels take it in
#: sextants (``6·Δ1``), the unit of their HSV hue.
_HUE = color.PACKED_FIELDS.index("hue")


def _kernel_args(params: TupleParams, spec: TupleSpec) -> tuple:
    """The sampled parameters as the kernel's arrays and flags.

    Every number comes from the components: the inverse homography (``geometric``), the mask's
    inside test (``mask.inside_test``), the transforms eq. 3 needs (``shading.blend_case``) and
    their packed parameters (``color.packed``, the hue bias then scaled to sextants).
    """
    identity = geometric.is_identity(params.geometric)
    try:
        hinv = np.eye(3) if identity else geometric.inverse_homography(spec.height, spec.width, params.geometric)
    except np.linalg.LinAlgError:
        raise SpecError(f"the corner offsets {params.geometric.offsets.tolist()} give a singular homography") from None
    mask_geom = np.array(mask.inside_test(params.mask), dtype=np.float64)
    tp, blend = _colour_args(params)
    grid = np.ascontiguousarray(params.mix.grid, np.float32)
    return hinv, identity, spec.geometric.border == "constant", mask_geom, tp, blend, grid


def _colour_args(params: TupleParams) -> tuple[np.ndarray, bool]:
    """The packed colour transforms eq. 3 needs (hue bias in sextants), and whether it blends two."""
    a, b = params.color_a, params.color_b
    case = shading.blend_case(a, b, params.mix)
    chosen = {"first": (a,), "second": (b,), "both": (a, b)}[case]
    tp = np.array([color.packed(p) for p in chosen], dtype=np.float64)
    tp[:, _HUE] *= 6.0
    return tp, case == "both"


def _kernel_args_batch(params: list[TupleParams], spec: TupleSpec) -> tuple:
    """:func:`_kernel_args` of every tuple, stacked for :func:`_kernel_batch`.

    The inverse homographies come from one batched :func:`geometric.inverse_homographies` (the
    same bits as one call per tuple, at a fraction of the per-call overhead); a singular one is
    reported by :func:`_kernel_args`, naming its tuple.
    """
    n = len(params)
    offsets = np.stack([p.geometric.offsets for p in params])
    try:
        hinvs = geometric.inverse_homographies(spec.height, spec.width, offsets)
    except np.linalg.LinAlgError:
        for k, p in enumerate(params):
            try:
                _kernel_args(p, spec)
            except SpecError as e:
                raise SpecError(f"params[{k}]: {e}") from None
        raise  # (unreachable: one of them is singular)
    identities = ~offsets.reshape(n, -1).any(axis=1)  # geometric.is_identity of each
    mask_geoms = np.array([mask.inside_test(p.mask) for p in params], np.float64)
    grids = np.stack([p.mix.grid for p in params])  # (the caller checked that their shapes agree)
    tps, ntps, blends = _colour_args_batch(params, grids)
    return hinvs, identities, spec.geometric.border == "constant", mask_geoms, tps, ntps, blends, grids.astype(np.float32)


def _colour_args_batch(params: list[TupleParams], grids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_colour_args` of every tuple as arrays: ``tps`` (N, 2, 6) with the unused second
    row zero, ``ntps`` (N,) the transforms each needs, ``blends`` (N,) whether it blends two.

    The same numbers and decisions, taken on whole columns: ``shading.blend_case`` (exact
    equality of the two transforms, or a mixing grid ``grids[k]`` of all ones / all zeros) and
    ``color.packed`` (the hue wrapped by Python's ``%``, as there). Tested against
    :func:`_colour_args`.
    """
    n = len(params)

    def columns(transforms: list[color.ColorParams]) -> tuple[np.ndarray, np.ndarray]:
        raw = np.empty((n, len(color.PACKED_FIELDS)), np.float64)  # Δ2, λ1..3, Δ1, k1 (hue unwrapped)
        raw[:, 0] = [c.brightness for c in transforms]
        raw[:, 1:4] = [c.contrast for c in transforms]
        raw[:, _HUE] = [c.hue for c in transforms]
        raw[:, 5] = [c.saturation for c in transforms]
        packed = raw.copy()
        packed[:, _HUE] = [c.hue % 1.0 for c in transforms]
        return raw, packed

    raw_a, packed_a = columns([p.color_a for p in params])
    raw_b, packed_b = columns([p.color_b for p in params])
    flat = grids.reshape(n, -1)
    first = (raw_a == raw_b).all(axis=1) | flat.all(axis=1)  # blend_case "first"
    second = ~first & ~flat.any(axis=1)
    blends = ~first & ~second
    tps = np.zeros((n, 2, len(color.PACKED_FIELDS)), np.float64)
    tps[:, 0] = np.where(second[:, None], packed_b, packed_a)
    tps[blends, 1] = packed_b[blends]
    tps[:, :, _HUE] *= 6.0
    return tps, np.where(blends, 2, 1).astype(np.int64), blends


def render_tuple(
    image: np.ndarray,
    params: TupleParams,
    spec: TupleSpec,
    *,
    out: TupleBuffers | None = None,
    dtype=np.uint8,
    threads: int | None = None,
) -> TupleBuffers:
    """Render the tuple of ``params`` from its crop in one fused kernel.

    The pure function of the NumPy path (the components' ``apply`` functions, as in
    ``pastegen.pipeline.render_numpy``): ``M`` and ``I_T`` are exactly its arrays, ``I_S`` is
    within one level (float32 arithmetic in a different order; float32 ``I_S`` within 1e-5 of
    :func:`pastegen.reference.transform`).

    Parameters
    ----------
    image : ndarray, (H, W, 3), uint8, C-contiguous
        The crop ``I`` (``spec.height`` x ``spec.width``).
    params : TupleParams
        The sampled parameters (disabled components carry identity parameters).
    spec : TupleSpec
        Working size and the warp's border rule.
    out : TupleBuffers, optional
        Buffers to render into; used when their shapes and dtypes fit (C-contiguous,
        writeable), fully overwritten. Otherwise new buffers are allocated.
    dtype : {numpy.uint8, numpy.float32}
        uint8: ``I_T = I·(1−M)``, ``I_S = quantize(T(I))·M`` (rounding half up). float32:
        ``I_T = (I/255)·(1−M)``, ``I_S = T(I)·M`` in [0, 1], unquantised.
    threads : int, optional
        Threads for this call (capped at ``numba.config.NUMBA_NUM_THREADS``); None: Numba's
        current default. Results are bit-identical for any value. While another Python thread
        runs a parallel render, this call runs on one thread. Splitting one tuple pays two
        thread wake-ups per tuple; to use several cores on many tuples, :func:`render_tuples`
        (whole tuples per thread) is faster.

    Returns
    -------
    TupleBuffers
        ``out`` when it was used, else new buffers.

    Raises
    ------
    SpecError
        A crop of the wrong dtype, shape or memory layout, a bad ``dtype``, ``threads`` or
        ``out``, output buffers overlapping the crop, corner offsets with a singular homography.
    """
    if not isinstance(spec, TupleSpec):
        raise SpecError(f"spec must be a TupleSpec, got {type(spec).__name__}")
    if not isinstance(params, TupleParams):
        raise SpecError(f"params must be a TupleParams, got {type(params).__name__}")
    dt = _check_dtype(dtype)
    img = _check_image(image, spec)
    nthreads = _check_threads(threads)
    height, width = spec.height, spec.width
    if out is not None and not isinstance(out, TupleBuffers):
        raise SpecError(f"out must be a TupleBuffers, got {type(out).__name__}")
    if out is None or not out.fits(height, width, dt):
        out = TupleBuffers.empty(height, width, dt)
    if any(np.may_share_memory(img, a) for a in (out.I_T, out.I_S, out.M)):
        raise SpecError("the output buffers overlap the crop I")
    hinv, identity, constant, mask_geom, tp, blend, grid = _kernel_args(params, spec)
    args = (
        img,
        img.reshape(height, 3 * width),
        out.I_T.reshape(height, 3 * width),
        out.I_S.reshape(height, 3 * width),
        out.M,
        hinv,
        identity,
        constant,
        mask_geom,
        tp,
        blend,
        grid,
    )
    scratch = _SCRATCH.get(_masked_bound(params, height, width), height * width)
    if _run(args, scratch, dt, nthreads, height) < 0:  # (a bound that was too tight: never seen)
        _run(args, _SCRATCH.get(height * width, height * width), dt, nthreads, height)
    tone.apply_masked(out.I_S, out.M, params.tone)  # beyond the paper; colours then the identity
    return out


def _run(args: tuple, scratch: np.ndarray, dt: np.dtype, nthreads: int, height: int) -> int:
    """Run the parallel or the serial driver; returns the masked count (negative: no room)."""
    if nthreads > 1 and _threading.parallel_allowed() and _threading.PARALLEL_LOCK.acquire(blocking=False):
        try:
            _threading.launch()
            previous = numba.get_num_threads()
            numba.set_num_threads(nthreads)
            try:
                return _kernel_parallel(*args, scratch, dt == np.uint8, nthreads, _blocks(nthreads, height))  # type: ignore[call-arg]  # args: its first 12
            finally:
                numba.set_num_threads(previous)
        finally:
            _threading.PARALLEL_LOCK.release()
    return _kernel_serial(*args, scratch, dt == np.uint8)  # type: ignore[call-arg]  # args: its first 12


def render_tuples(
    images: np.ndarray,
    params: Sequence[TupleParams],
    spec: TupleSpec,
    *,
    out: TupleBatch | None = None,
    dtype=np.uint8,
    threads: int | None = None,
) -> TupleBatch:
    """Render many tuples, each whole on one thread: the way to use several cores in one process.

    Tuple ``k`` is exactly ``render_tuple(images[k], params[k], spec, dtype=dtype)`` (the same
    serial instructions, whatever ``threads``). The calling thread and ``threads - 1`` Python
    threads of a pool kept by pastegen (the kernel releases the GIL) claim whole tuples from a
    shared counter, so there is no barrier inside a tuple and one hand-off per call: on a
    virtual machine, where waking a sleeping vCPU costs tens to hundreds of microseconds, this
    scales with the cores where :func:`render_tuple`'s split of one tuple across threads (two
    barriers per tuple) does not (``benchmarks/generation.py``; measurements in
    :mod:`pastegen.kernels._threading`). It does not use Numba's threading layer, so it scales
    the same in a process where another library (PyTorch, imported by albumentations) loaded
    GNU OpenMP first and pastegen falls back to Numba's ``workqueue`` layer (1.3x there with
    that layer). A thread slowed down by another process on its core simply takes fewer tuples.

    Parameters
    ----------
    images : ndarray, (N, H, W, 3), uint8, C-contiguous
        The crops ``I`` (``spec.height`` x ``spec.width``), e.g. cropped straight into a batch
        buffer with ``crop.apply(..., dst=images[k])``.
    params : sequence of TupleParams
        ``N`` parameter sets, one per crop.
    spec : TupleSpec
    out : TupleBatch, optional
        Buffers to render into when their shapes and dtypes fit; otherwise new ones.
    dtype : {numpy.uint8, numpy.float32}
        As in :func:`render_tuple`.
    threads : int, optional
        Threads (capped at ``numba.config.NUMBA_NUM_THREADS`` and at ``N``); None: Numba's
        current default. One thread runs the batch driver on the calling thread (no per-tuple
        Python overhead). Several Python threads may call it at once (each call has its own
        scratch rows; their helper tasks share the pool).

    Returns
    -------
    TupleBatch
        ``out`` when it was used, else new buffers.

    Raises
    ------
    SpecError
        As :func:`render_tuple` (naming the tuple), ``images`` not (N, H, W, 3) uint8
        C-contiguous, or ``len(params) != N``.
    """
    if not isinstance(spec, TupleSpec):
        raise SpecError(f"spec must be a TupleSpec, got {type(spec).__name__}")
    dt = _check_dtype(dtype)
    height, width = spec.height, spec.width
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (height, width, 3):
        got = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise SpecError(f"images must be uint8 of shape (N, {height}, {width}, 3), got {got}")
    if not images.flags.c_contiguous:
        raise SpecError("images must be C-contiguous (use np.ascontiguousarray)")
    params = list(params)
    n = images.shape[0]
    if len(params) != n:
        raise SpecError(f"{n} images but {len(params)} parameter sets")
    for k, p in enumerate(params):
        if not isinstance(p, TupleParams):
            raise SpecError(f"params[{k}] must be a TupleParams, got {type(p).__name__}")
    nthreads = min(_check_threads(threads), max(n, 1))
    if out is not None and not isinstance(out, TupleBatch):
        raise SpecError(f"out must be a TupleBatch, got {type(out).__name__}")
    if out is None or not out.fits(n, height, width, dt):
        out = TupleBatch.empty(n, height, width, dt)
    if any(np.may_share_memory(images, a) for a in (out.I_T, out.I_S, out.M)):
        raise SpecError("the output buffers overlap the crops")
    if n == 0:
        return out
    view = images.view(np.ndarray)
    view.flags.writeable = False  # one compiled variant for writeable and read-only inputs
    if len({p.mix.grid.shape for p in params}) == 1:  # the batch's arguments stack
        _render_batch(view, out, _kernel_args_batch(params, spec), dt, nthreads)
        for k, p in enumerate(params):
            tone.apply_masked(out.I_S[k], out.M[k], p.tone)
        return out
    for k in range(n):
        render_tuple(view[k], params[k], spec, out=out[k], dtype=dt, threads=1)
    return out


class _BatchPool:
    """The Python threads that run :func:`_kernel_batch` workers beside the calling thread.

    Created on first use and grown when more threads are asked for; a forked child starts
    without one (threads do not survive a fork, and the lock may have been held by one).
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.lock = threading.Lock()
        self.pool: ThreadPoolExecutor | None = None
        self.size = 0

    def get(self, size: int) -> ThreadPoolExecutor:
        with self.lock:
            if self.pool is None or self.size < size:
                if self.pool is not None:
                    self.pool.shutdown(wait=False)
                self.pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="pastegen-batch")
                self.size = size
            return self.pool


_BATCH_POOL = _BatchPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_BATCH_POOL.reset)


class _BatchScratch(threading.local):
    """Per-calling-thread scratch rows of :func:`render_tuples`: one full-size block per worker."""

    buf: np.ndarray | None = None

    def get(self, workers: int, pixels: int) -> np.ndarray:
        if self.buf is None or self.buf.shape[0] < workers or self.buf.shape[2] < pixels:
            self.buf = np.empty((workers, 4, pixels), np.float32)
        return self.buf[:workers]


_BATCH_SCRATCH = _BatchScratch()


def _render_batch(images: np.ndarray, out: TupleBatch, args: tuple, dt: np.dtype, nthreads: int) -> None:
    """:func:`_kernel_batch` workers on ``nthreads`` threads: the calling thread and
    ``nthreads - 1`` of :data:`_BATCH_POOL`'s Python threads (the kernel releases the GIL).
    ``args``: :func:`_kernel_args_batch`. The workers claim the tuples with the largest masks
    first (the mask's area, ``hw·hh`` of its inside test, measures a tuple's work)."""
    n, height, width = images.shape[:3]
    hinvs, identities, constant, mask_geoms, tps, ntps, blends, grids = args
    order = np.argsort(-(mask_geoms[:, 4] * mask_geoms[:, 5]), kind="stable") if nthreads > 1 else np.arange(n)
    scratch = _BATCH_SCRATCH.get(nthreads, height * width)  # a whole image per worker: never too small
    counters = np.zeros(1, np.int64)

    def work(w: int) -> None:
        _kernel_batch(
            images, out.I_T, out.I_S, out.M, hinvs, identities, constant, mask_geoms, tps, ntps, blends, grids,
            scratch[w], dt == np.uint8, counters, order,
        )  # fmt: skip

    if nthreads == 1:
        work(0)
        return
    helpers = [_BATCH_POOL.get(nthreads - 1).submit(work, w) for w in range(1, nthreads)]
    try:
        work(0)
    finally:
        for f in helpers:
            f.result()  # every worker has finished before the buffers are returned


def _masked_bound(params: TupleParams, height: int, width: int) -> int:
    """An upper bound of the mask's pixel count (its rotated bounding box, 2 px wider each way)."""
    m = params.mask
    bw, bh = mask.rotated_extent(m.width, m.height, m.angle)
    if not (math.isfinite(bw) and math.isfinite(bh)):
        return height * width
    return max(1, min(height * width, (int(bw) + 3) * (int(bh) + 3)))


#: Row blocks per thread and pass (claimed dynamically; results never depend on it).
_BLOCKS_PER_THREAD = 8


def _blocks(nthreads: int, height: int) -> int:
    return max(1, min(_BLOCKS_PER_THREAD * nthreads, height))


def warm_up() -> float:
    """Compile, or load from Numba's cache, every kernel variant on a tiny input.

    The variants: uint8 and float32 outputs, each with the serial and the parallel driver of
    :func:`render_tuple` and the batch driver of :func:`render_tuples`.

    Returns
    -------
    float
        Seconds taken: about 0.4 s with a warm cache (mostly Numba's one-time start-up),
        about 20 s when everything is compiled (``benchmarks/kernel_compile.py``).
    """
    start = time.perf_counter()
    spec = TupleSpec(16, 16, geometric=geometric.GeometricSpec(sigma=1.0), name="warm-up")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    params = TupleParams(
        index=0,
        source_index=0,
        crop=crop.identity(spec.size),
        geometric=geometric.sample(rng, spec.geometric),
        color_a=color.sample(rng, spec.color),
        color_b=color.sample(rng, spec.color),
        mix=mix.MixParams(grid=np.array([[0, 1], [1, 0]], np.uint8)),
        mask=mask.MaskParams(cx=7.5, cy=7.0, width=8.0, height=6.0, angle=30.0),
    )
    for dt in _DTYPES:
        render_tuple(image, params, spec, dtype=dt, threads=1)
        render_tuple(image, params, spec, dtype=dt, threads=2)
        render_tuples(np.stack([image, image]), [params, params], spec, dtype=dt, threads=2)
        if numba.config.NUMBA_NUM_THREADS < 2:  # type: ignore[attr-defined]  # a numba.config option, set at import; render_tuple never runs the parallel driver then
            _run_parallel_once(image, params, spec, dt)
    return time.perf_counter() - start


def _run_parallel_once(image, params, spec, dt) -> None:
    out = TupleBuffers.empty(spec.height, spec.width, dt)
    hinv, identity, constant, mask_geom, tp, blend, grid = _kernel_args(params, spec)
    img = _check_image(image, spec)
    h, w = spec.height, spec.width
    with _threading.PARALLEL_LOCK:
        _threading.launch()
        _kernel_parallel(
            img, img.reshape(h, 3 * w), out.I_T.reshape(h, 3 * w), out.I_S.reshape(h, 3 * w), out.M,
            hinv, identity, constant, mask_geom, tp, blend, grid, _SCRATCH.get(h * w, h * w), dt == np.uint8, 1, 2,
        )


def threading_layer() -> str | None:
    """The Numba threading layer in use (None before any parallel kernel ran)."""
    return _threading.layer()
