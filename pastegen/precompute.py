"""Precompute a run of tuples into an HDF5 file: scan, generate (in parallel), store, check.

:func:`make` is what ``pastegen make`` calls. Workers render tuples; one writer (this process)
stores them in index order, so ``jobs=1`` and ``jobs=N`` give identical files. The output is
written under a temporary name and renamed into place at the end; an interrupted run is finished
by calling again with ``resume=True``.

``make(..., shard=(k, n))`` makes shard ``k`` of ``n`` of the run instead: the contiguous block
of global indices given by :func:`pastegen.shards.shard_range`, in a file of its own that
:func:`pastegen.shards.combine` joins with the other shards (see :mod:`pastegen.shards`).

Memory does not grow with ``count`` beyond a few bytes per tuple: the writer keeps one flag byte
per tuple and the list of indices still to render is held as an ``int64`` array (8 bytes per
tuple; the writer hands it over as a Python list, about 36 bytes per tuple, for a moment at the
start). Rendered tuples are written as they arrive and dropped; at most ``2·jobs`` batches
(:data:`THREAD_BATCH_SIZE` tuples each; :data:`BATCH_SIZE` with worker processes) are in flight.
``tests/test_memory.py`` measures it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import os
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .components import crop
from .errors import CorruptFileError, OutputWriteError, PastegenError, ResumeMismatchError, SourceError
from .pipeline import DEFAULT_PHOTO_CACHE_MB, TupleGenerator, TupleParams, TupleSpec, render
from .shards import check_shard, shard_range
from .sources import DEFAULT_MAX_PIXELS, SkippedFile, SourceImage, SourceScan, hash_file, scan_sources
from .sources.scancache import CacheOption
from .store import DEFAULT_COMPRESSION, EncodedTuple, StoreLayout, TupleFile, TupleWriter, check_output, open_tuples, partial_path, uncompressed_datasets
from .store.schema import salvage_path

__all__ = ["MakeResult", "make", "scan_for_make", "replay_check", "ProgressCallback", "BATCH_SIZE", "THREAD_BATCH_SIZE"]

#: ``progress(stage, done, total)``; stage is "scan" or "generate", ``done`` is an increment.
ProgressCallback = Callable[[str, int, int], None]

#: Tuples per parallel task: large enough to amortise inter-process transfer, small enough to
#: keep memory flat and the progress bar lively.
BATCH_SIZE = 8


@dataclass(frozen=True)
class MakeResult:
    """Summary of a :func:`make` run."""

    path: Path
    count: int  # tuples in the file
    generated: int  # tuples rendered by this call (count minus those a resumed file already had)
    sources: tuple[SourceImage, ...]
    skipped: tuple[SkippedFile, ...]
    seconds: float
    spec: TupleSpec
    seed: int
    compression: str
    file_bytes: int = field(default=0)
    shard: tuple[int, int] | None = None  # (k, n) for a shard file
    index_offset: int = 0  # global index of the file's first tuple
    total_count: int = 0  # tuples of the whole run (``count`` unless sharded)

    @property
    def tuples_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else float("inf")


def _render_batch(
    gen: TupleGenerator, indices: Sequence[int], compression: str, threads: int | None = None, reuse: Any = None, arenas: Any = None
) -> list[tuple[int, int, EncodedTuple, dict]]:
    """Render tuples into reused buffers and encode their chunks (compression and checksums)
    here, in the worker, so the single writer only stores ready chunks.

    ``reuse``: an object (e.g. a thread's ``threading.local``) whose ``buffers`` and ``crop``
    attributes carry the render buffers and the crop buffer from one batch to the next.
    ``arenas``: an :class:`_ArenaPool` whose buffers receive the encoded chunks (the caller gives
    each back once the writer stored it); None: a fresh buffer per tuple (a worker process, whose
    tuples are pickled to the writer).
    """
    from .kernels import TupleBuffers
    from .store.encode import ChunkArena, encode_into

    spec = gen.spec
    size = (spec.height, spec.width)
    buffers = getattr(reuse, "buffers", None)
    dst = getattr(reuse, "crop", None)
    if dst is None or dst.shape != (*size, 3):
        dst = np.empty((*size, 3), np.uint8)
    raw_i = "I" in uncompressed_datasets(compression)
    out = []
    for i in indices:
        params = gen.sample_params(i)
        arena = arenas.take() if arenas is not None else ChunkArena(*size)
        # an unfiltered I is cropped straight into its chunk's place; else into the reused buffer
        image = crop.apply(gen.load(params.source_index), params.crop, size, dst=arena.image("I") if raw_i else dst)
        t = render(image, params, spec, out=buffers, threads=threads)
        buffers = TupleBuffers(I_T=t.I_T, I_S=t.I_S, M=t.M)
        out.append((i, params.source_index, encode_into(arena, t.arrays(), compression, pooled=arenas is not None), params.to_record()))
    if reuse is not None:
        reuse.buffers, reuse.crop = buffers, dst
    return out


class _ArenaPool:
    """Encoding buffers (:class:`pastegen.store.encode.ChunkArena`) recycled between the rendering
    threads and the writer: at most as many as tuples in flight, whatever ``count``."""

    def __init__(self, height: int, width: int) -> None:
        import threading

        self.size = (height, width)
        self._free: list = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        with self._lock:
            if self._free:
                return self._free.pop()
        from .store.encode import ChunkArena

        return ChunkArena(*self.size)

    def give(self, encoded: EncodedTuple) -> None:
        """Recycle the arena behind ``encoded``'s chunks (after the writer stored them)."""
        arena = getattr(encoded, "arena", None)
        if arena is not None:
            with self._lock:
                self._free.append(arena)


def _batches(indices: Sequence[int] | np.ndarray, size: int, offset: int = 0) -> Iterator[list[int]]:
    """Lists of ``size`` global indices (file indices plus ``offset``)."""
    for start in range(0, len(indices), size):
        yield [int(i) + offset for i in indices[start : start + size]]


def scan_for_make(
    paths: Sequence[str | os.PathLike] | SourceScan,
    spec: TupleSpec,
    *,
    max_pixels: int,
    jobs: int,
    strict: bool,
    progress: ProgressCallback | None,
    cache: CacheOption = True,
) -> SourceScan:
    """Scan ``paths`` as :func:`make` does; refuse an all-bad list.

    Besides the bad files of :func:`pastegen.sources.scan_sources`, a photo is skipped when it is
    smaller than the crop under the ``skip`` policy of ``spec``, or when the size it would be
    resized to exceeds ``max_pixels`` (:func:`pastegen.components.crop.check_resized_pixels`).
    ``cache`` is passed to :func:`~pastegen.sources.scan_sources` (``True``: the user's scan
    cache, ``False``: none, or a cache file).
    """
    if isinstance(paths, SourceScan):
        return paths
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise SourceError("no source images were given")
    total = len(paths)
    scan = scan_sources(
        paths,
        max_pixels=max_pixels,
        min_size=crop.min_source_size(spec.crop, spec.size),
        jobs=jobs,
        strict=strict,
        progress=(lambda n: progress("scan", n, total)) if progress else None,
        cache=cache,
        # the pixel limit also holds for the size a photo is resized to (a thin strip enlarged)
        size_check=functools.partial(crop.check_resized_pixels, spec.crop, spec.size, max_pixels),
    )
    if not scan.images:
        reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in scan.skipped[:3])
        raise SourceError(f"none of the {total} source files can be used ({reasons}{'; ...' if len(scan.skipped) > 3 else ''})")
    return scan


def make(
    output: str | os.PathLike,
    sources: Sequence[str | os.PathLike] | SourceScan,
    spec: TupleSpec,
    *,
    count: int,
    seed: int = 0,
    jobs: int = 1,
    compression: str = DEFAULT_COMPRESSION,
    resume: bool = False,
    overwrite: bool = False,
    strict: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback | None = None,
    shard: tuple[int, int] | None = None,
    cache_mb: float = DEFAULT_PHOTO_CACHE_MB,
    scan_cache: CacheOption = True,
) -> MakeResult:
    """Generate ``count`` tuples (or one shard of them) into the HDF5 file ``output``.

    Parameters
    ----------
    output : path
        The final file. Written as ``<output>.partial`` and renamed at the end.
    sources : sequence of paths, or SourceScan
        Source photos. Paths are scanned first: every file is decoded and hashed, bad files are
        skipped and listed (``strict=True`` stops at the first one instead).
    spec : TupleSpec
    count : int
        Number of tuples (indices ``0 .. count-1``).
    seed : int
        Root seed; tuple ``i`` depends only on ``(seed, i, spec, sources)``.
    jobs : int
        Workers for scanning (joblib/loky processes) and rendering (threads of this process, see
        :func:`_generate`); the file is identical for any value. ``-1`` uses every core. The
        writer (this thread) stores the tuples beside the rendering threads, also for ``jobs=1``.
    compression : str
        One of :data:`pastegen.store.COMPRESSIONS`.
    resume : bool
        Finish an interrupted run of the same settings (its ``.partial`` file).
    overwrite : bool
        Replace an existing output (the old file stays until the new one is complete).
    strict : bool
        Fail on the first bad source file instead of skipping it.
    max_pixels : int
        Pixel limit per source image, checked before decoding.
    progress : callable, optional
        ``progress(stage, increment, total)`` for progress bars.
    shard : (k, n), optional
        Make only shard ``k`` of ``n`` of the run of ``count`` tuples: global indices
        ``[floor(k·count/n), floor((k+1)·count/n))``, stored as tuples ``0 ..`` of ``output`` with
        the attributes ``shard``, ``index_offset`` and ``total_count``. Its tuples equal those
        of a single run; :func:`pastegen.shards.combine` joins the shards. ``0 <= k < n <= count``.
    cache_mb : float
        Memory budget (MiB) for decoded source photos shared by the rendering threads
        (:class:`pastegen.pipeline.PhotoCache`), used when the run has more tuples than source
        photos (so photos are used more than once); 0 decodes every photo for every tuple. Peak
        memory grows by at most this much, whatever ``count``; the file does not depend on it.
    scan_cache : bool or path-like
        The scan cache of :func:`pastegen.sources.scan_sources`: ``True`` (default) the user's
        (``$PASTEGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/pastegen``, else ``~/.cache/pastegen``),
        ``False`` none, or the path of a cache file. Unchanged photos scanned before with the same
        settings are not decoded again; the file does not depend on it.

    Returns
    -------
    MakeResult

    Raises
    ------
    ImageError
        With ``strict=True``, the first bad source file's error (e.g.
        :class:`~pastegen.errors.TruncatedImageError`, or
        :class:`~pastegen.errors.ImageTooLargeError` for a photo whose enlargement to the crop
        would exceed ``max_pixels``).
    SourceError
        No usable source photo, or invalid ``count``, ``jobs`` or ``cache_mb``.
    OutputExistsError
        ``output`` (or its ``.partial``) exists and neither ``overwrite`` nor ``resume`` was given.
    ResumeMismatchError
        ``resume`` found a ``.partial`` made with other settings; when the source photos differ,
        the message names them.
    OutputWriteError
        The file cannot be written. On a full disk (``ENOSPC``, or a quota) the ``.partial`` file
        is removed first, so that the same command can simply be run again once there is room;
        after other write errors it is kept for ``resume``.
    """
    if count < 1:
        raise SourceError(f"count must be at least 1, got {count}")
    if shard is not None:
        shard = check_shard(shard, count)
    lo, hi = (0, count) if shard is None else shard_range(count, *shard)
    jobs = _resolve_jobs(jobs)
    check_output(output, overwrite=overwrite, resume=resume)  # fail before the scan, not after it
    started = time.perf_counter()
    scan = scan_for_make(sources, spec, max_pixels=max_pixels, jobs=jobs, strict=strict, progress=progress, cache=scan_cache)
    if not cache_mb >= 0:
        raise SourceError(f"cache_mb must be a non-negative number, got {cache_mb!r}")
    n_file = hi - lo
    reused = n_file > len(scan.images)  # (with fewer tuples than photos, each photo is used about once)
    gen = TupleGenerator(scan.images, spec, seed, max_pixels=max_pixels, cache_bytes=int(cache_mb * 2**20) if reused else 0)
    layout = StoreLayout(count=n_file, height=spec.height, width=spec.width, param_fields=gen.param_fields)
    attrs: dict[str, Any] = {
        "spec": spec.to_json(),
        "seed": gen.seed,
        "sources": [s.to_dict() for s in scan.images],
        "skipped": [s.to_dict() for s in scan.skipped],
        "generator": f"pastegen {__version__}",
    }
    if shard is not None:
        attrs.update(shard=list(shard), index_offset=lo, total_count=count)
    if resume:
        _check_resume_sources(output, attrs["sources"], scan.skipped)
    writer: TupleWriter | None = None
    try:
        with TupleWriter(output, layout, attrs=attrs, compression=compression, overwrite=overwrite, resume=resume) as writer:
            pending = np.asarray(writer.pending(), dtype=np.int64)  # file indices; 8 bytes each
            if progress and len(pending) < n_file:
                progress("generate", n_file - len(pending), n_file)
            arenas = _ArenaPool(spec.height, spec.width)
            with _quiet_runtime():
                batches = _generate(gen, pending, jobs, compression, offset=lo, arenas=arenas)
                try:
                    for batch in batches:
                        for index, source_index, encoded, record in batch:
                            writer.write(index - lo, encoded, record, source_index)
                            arenas.give(encoded)
                        if progress:
                            progress("generate", len(batch), n_file)
                        del batch
                finally:
                    batches.close()  # stops the workers at once on an error or interrupt
            final = writer.commit()
    except OSError as exc:
        if isinstance(exc, PastegenError):
            raise
        raise _write_failed(output, exc, opened=writer is not None) from None
    return MakeResult(
        path=Path(final),
        count=n_file,
        generated=len(pending),
        sources=tuple(scan.images),
        skipped=tuple(scan.skipped),
        seconds=time.perf_counter() - started,
        spec=spec,
        seed=gen.seed,
        compression=compression,
        file_bytes=os.path.getsize(final),
        shard=shard,
        index_offset=lo,
        total_count=count,
    )


#: Errors that mean "no room": the unfinished file is removed (a resume would need more room still).
_NO_ROOM = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG) if e is not None)


def _write_failed(output: str | os.PathLike, exc: OSError, *, opened: bool) -> OutputWriteError:
    """The typed error for an ``OSError`` while writing ``output``; on a full disk (or quota) the
    ``.partial`` file is removed, so a rerun starts clean and the space it took is free again."""
    partial = partial_path(output)
    code = exc.errno if isinstance(exc.errno, int) else None
    if code is None:  # h5py sometimes only names the error in its message
        code = next((e for e in _NO_ROOM if os.strerror(e) in str(exc)), None)
    if code is not None:
        reason = os.strerror(code)  # (h5py's own message runs over several lines)
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    if code in _NO_ROOM:
        removed = []
        # the writer works on <output>.partial (and on a resume first on a salvage copy beside it);
        # a resume that failed before it opened anything leaves the earlier .partial alone
        for path in (partial, salvage_path(output)) if opened else ():
            try:
                path.unlink()
                removed.append(path.name)
            except FileNotFoundError:
                pass
            except OSError:
                pass
        what = f"; removed the unfinished {', '.join(removed)}" if removed else ""
        return OutputWriteError(
            f"cannot write {partial}: {reason}{what}; free some space and run the command again", code
        )
    return OutputWriteError(
        f"cannot write {partial}: {reason}; once that is fixed, run the same command with --resume", code
    )


def _source_changes(before: Sequence[dict], after: Sequence[dict], skipped: Sequence[SkippedFile] = ()) -> str | None:
    """Name the photos that differ between two runs' ``sources`` lists (None if they match)."""
    if [dict(s) for s in before] == [dict(s) for s in after]:
        return None
    old = {s.get("path"): s for s in before}
    new = {s.get("path"): s for s in after}
    why = {s.path: s.reason for s in skipped}

    def names(paths: list, note: Callable[[Any], str] = lambda p: "") -> str:
        shown = ", ".join(f"{p}{note(p)}" for p in paths[:3])
        return shown + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")

    parts = []
    changed = [p for p in new if p in old and old[p] != new[p]]
    if changed:
        def how(p: Any) -> str:
            a, b = old[p], new[p]
            if (a.get("height"), a.get("width")) != (b.get("height"), b.get("width")):
                return f" (was {a.get('height')}x{a.get('width')}, now {b.get('height')}x{b.get('width')})"
            return " (its content, SHA-256)"

        parts.append(f"{len(changed)} photo(s) changed: {names(changed, how)}")
    gone = [p for p in old if p not in new]
    if gone:
        parts.append(f"{len(gone)} photo(s) missing now: {names(gone, lambda p: f' (skipped: {why[p]})' if p in why else '')}")
    added = [p for p in new if p not in old]
    if added:
        parts.append(f"{len(added)} new photo(s): {names(added)}")
    if not parts:
        parts.append("the same photos in another order")
    return "; ".join(parts)


def _check_resume_sources(output: str | os.PathLike, sources: list[dict], skipped: Sequence[SkippedFile]) -> None:
    """Refuse to resume a ``.partial`` made from other photos, naming them (before the writer
    compares the rest of the settings)."""
    partial = partial_path(output)
    if not partial.exists():
        return
    try:
        import h5py

        from .store.attributes import read_attrs

        with h5py.File(partial, "r", locking=False) as f:
            stored = read_attrs(f).get("sources")
    except Exception:  # noqa: BLE001 - unreadable: the writer decides (start over with a warning)
        return
    if not isinstance(stored, list) or not all(isinstance(s, dict) for s in stored):
        return
    diff = _source_changes(stored, sources, skipped)
    if diff:
        raise ResumeMismatchError(
            f"{partial} was made from other source photos ({diff}); resume with the same photos or pass --overwrite to start over"
        )


#: Thread switch interval (s) while ``make`` generates (see :func:`_quiet_runtime`).
_SWITCH_INTERVAL = 0.001


@contextlib.contextmanager
def _quiet_runtime() -> Iterator[None]:
    """Quiet the interpreter's background work while tuples are generated; restored on exit.

    - The cyclic garbage collector is disabled: a run allocates many short-lived objects (arrays,
      parameter records, chunks) but no reference cycles that need collecting, and each generation-0
      collection walked the live objects (~2.5 % of ``make``'s CPU time). Objects already alive are
      moved out of its view first (``gc.freeze``), so the first collection afterwards is cheap.
    - BLAS (OpenBLAS of NumPy/SciPy) is limited to one thread with ``threadpoolctl`` when it is
      installed: the tiny solves of the homographies otherwise wake its worker threads, which then
      spin in ``sched_yield`` on the cores the rendering threads need. Results do not change.
    - The interpreter's thread switch interval is lowered to 1 ms (from 5 ms): the writer (this
      thread) waits for the GIL after each HDF5 call while the rendering threads run Python code
      between their kernels; measured 6 % less CPU per tuple (3.53 against 3.76 ms, jobs=2).
    """
    enabled = gc.isenabled()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, _SWITCH_INTERVAL))
    gc.freeze()
    gc.disable()
    limits: Any = contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=1, user_api="blas")
    except Exception:  # noqa: BLE001 - not installed or no BLAS found: nothing to limit
        pass
    try:
        with limits:
            yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()
        if enabled:
            gc.enable()


def _resolve_jobs(jobs: int) -> int:
    if jobs == -1 or jobs == 0:
        return os.cpu_count() or 1
    if jobs < -1:
        raise SourceError(f"jobs must be positive or -1 (all cores), got {jobs}")
    return int(jobs)


def _generate(
    gen: TupleGenerator, pending: Sequence[int] | np.ndarray, jobs: int, compression: str, offset: int = 0, arenas: Any = None
) -> Generator[list, None, None]:
    """Rendered, encoded batches of the global indices ``pending + offset``, in order.

    By ``jobs`` threads of this process (:func:`_generate_threads`), so the caller's thread
    writes while they render, also for ``jobs=1`` (on the project's 2-vCPU machine, 1,200 512x512
    tuples to ext4 at ``jobs=1``: 290 → 314 tuples/s, tmpfs unchanged at 329: the disk's costs
    are hidden behind the rendering); serially in the caller's thread for a batch or less. With
    ``PASTEGEN_MAKE_POOL=processes`` a joblib/loky process pool renders instead (slower: every chunk crosses a pipe, ~0.8 ms of this process's time per
    512x512 tuple, and each worker starts an interpreter and loads the kernels).
    """
    if len(pending) <= BATCH_SIZE:
        import threading

        local = threading.local()
        for batch in _batches(pending, BATCH_SIZE, offset):
            yield _render_batch(gen, batch, compression, reuse=local, arenas=arenas)
        return
    if os.environ.get("PASTEGEN_MAKE_POOL", "threads").lower() == "processes":
        from joblib import delayed

        from ._workers import loky_parallel

        # Workers die with this process, even if it is killed (they would otherwise hold its pipes).
        parallel = loky_parallel(n_jobs=jobs, return_as="generator", pre_dispatch="2*n_jobs", batch_size=1)
        # One kernel thread per worker: the processes already use the cores (measured fastest).
        yield from parallel(delayed(_render_batch)(gen, batch, compression, 1) for batch in _batches(pending, BATCH_SIZE, offset))
        return
    yield from _generate_threads(gen, pending, jobs, compression, offset, arenas)


#: Tuples per task of the thread pool: no transfer to amortise, so small batches keep both
#: the start (first batch before the first write) and the tail (one thread idle) short.
THREAD_BATCH_SIZE = 4


def _generate_threads(
    gen: TupleGenerator, pending: Sequence[int] | np.ndarray, jobs: int, compression: str, offset: int, arenas: Any = None
) -> Iterator[list]:
    """:func:`_generate` by ``jobs`` threads of this process, at most ``2·jobs`` batches in flight, in order.

    The kernel (Numba, ``nogil``), c-blosc (ctypes) and image decoding release the GIL, so threads
    use the cores without shipping every chunk through a pipe to the writer. Each thread has its
    own generator copy (decoded-photo cache) and reuses its own render buffers.
    """
    import copy
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    local = threading.local()

    def work(indices: list[int]) -> list:
        if not hasattr(local, "gen"):
            local.gen = copy.copy(gen)  # a copy starts with an empty photo cache of its own
        return _render_batch(local.gen, indices, compression, threads=1, reuse=local, arenas=arenas)

    batches = _batches(pending, THREAD_BATCH_SIZE, offset)
    inflight: deque = deque()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="pastegen-make")
    try:
        for batch in batches:
            inflight.append(pool.submit(work, batch))
            if len(inflight) >= 2 * jobs:
                break
        while inflight:
            done = inflight.popleft().result()
            nxt = next(batches, None)
            if nxt is not None:
                inflight.append(pool.submit(work, nxt))
            yield done
            del done
    finally:
        for f in inflight:
            f.cancel()
        pool.shutdown(wait=True)


def replay_check(
    tuples: TupleFile | str | os.PathLike,
    indices: Sequence[int] | None = None,
    *,
    check_sources: bool = True,
) -> list[str]:
    """Re-render stored tuples from their stored parameters and compare, bit for bit.

    ``I_T``, ``I_S`` and ``M`` are re-rendered from the stored ``I`` and parameters; when the
    source photos are still where the file says (and ``check_sources``), ``I`` is re-cut from its
    source photo too, after checking the photo's SHA-256 against the one recorded: a photo that
    changed since the file was made is named in the problem (once per tuple that uses it) instead
    of a bare "I differs". ``indices`` are the file's own (``0 .. len-1``); a shard file's tuple ``j``
    is replayed as the global tuple ``index_offset + j``.

    Returns
    -------
    list of str
        Problems found (empty when every tuple replays exactly).
    """
    tf = tuples if isinstance(tuples, TupleFile) else open_tuples(tuples)
    spec = TupleSpec.from_json(tf.attrs["spec"])
    sources = [SourceImage(**s) for s in tf.attrs["sources"]]
    have_sources = check_sources and all(os.path.exists(s.path) for s in sources)
    gen = TupleGenerator(sources, spec, tf.attrs["seed"]) if have_sources else None
    offset = int(tf.attrs.get("index_offset", 0))
    problems: list[str] = []
    changed: dict[int, str | None] = {}  # source index -> how its photo changed (None: it did not)

    def photo_change(k: int) -> str | None:
        if k not in changed:
            src = sources[k]
            try:
                digest = hash_file(src.path)
            except OSError as exc:
                changed[k] = f"its source photo {src.path} cannot be read ({exc.strerror or exc})"
            else:
                changed[k] = None if digest == src.sha256 else (
                    f"its source photo {src.path} changed since the file was made (SHA-256 {digest[:12]}..., "
                    f"recorded {src.sha256[:12]}...); I cannot be re-cut from it"
                )
        return changed[k]

    for i in range(len(tf)) if indices is None else indices:
        item = tf[i]
        g = offset + int(i)
        name_i = f"tuple {i}" if offset == 0 else f"tuple {i} (global {g})"
        params = TupleParams.from_record(g, item["source_index"], item["params"])
        again = render(item["I"], params, spec)
        for name in ("I_T", "I_S", "M"):
            if not np.array_equal(getattr(again, name), item[name]):
                problems.append(f"{name_i}: {name} does not replay from the stored parameters")
        if gen is not None:
            k = params.source_index
            if not 0 <= k < len(sources):
                problems.append(f"{name_i}: source index {k} is not one of the file's {len(sources)} source photos")
            elif gen.sample_params(g) != params:
                problems.append(f"{name_i}: stored parameters differ from those the seed draws")
            elif (change := photo_change(k)) is not None:
                problems.append(f"{name_i}: {change}")
            else:
                try:
                    same = np.array_equal(gen.crop_image(params), item["I"])
                except PastegenError as exc:
                    problems.append(f"{name_i}: {exc}")
                    continue
                if not same:
                    problems.append(f"{name_i}: I differs from its source photo {sources[k].path}")
    if tf is not tuples:
        tf.close()
    return problems


def check_replay_or_raise(path: str | os.PathLike, indices: Sequence[int] | None = None) -> None:
    """:func:`replay_check`, raising :class:`CorruptFileError` on the first problem."""
    problems = replay_check(path, indices)
    if problems:
        raise CorruptFileError(f"{path}: {problems[0]} ({len(problems)} problem(s))")
