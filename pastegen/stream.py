"""Streaming tuples by global index, without a file: :class:`TupleStream` (torch-free).

A stream renders the tuples of a run on the fly, in global index order from a cursor, exactly as
:func:`pastegen.precompute.make` would store them (same seed, spec and sources give the same
tuple ``i``, bit for bit). It is meant to sit under a training loop's data loader, split over
ranks (processes of a distributed job) and loader workers, and to resume exactly.

Split rule
----------
The global indices ``start, start+1, ...`` (up to ``stop``, or forever) are dealt in *blocks* of
``block_size`` consecutive indices to ``S = world_size · num_workers`` shards, round robin:
block ``b`` (indices ``start + b·block_size ..``) goes to shard ``b mod S``, and

    shard ``s = worker · world_size + rank``.

So rank ``r`` gets the blocks ``b ≡ r (mod world_size)`` (a distributed sampler's interleave)
and, within a rank, consecutive blocks go to workers 0, 1, ..., ``num_workers - 1`` in turn,
which is the order in which a round-robin reader such as torch's ``DataLoader`` (``in_order``)
collects the workers' batches. Set ``block_size`` to the loader's ``batch_size`` (the loader
batches inside each worker): rank ``r`` then receives its indices in increasing order. No index
is produced twice and none is skipped.

Resuming
--------
When every rank has consumed the same number ``m`` of batches of ``block_size`` tuples (a
lock-step distributed loop), the tuples consumed by the whole job are exactly the global indices
``[start, start + consumed)`` with ``consumed = m · block_size · world_size`` (the count of
tuples consumed, summed over ranks). To resume, build the streams again with
``start = start + consumed`` (:meth:`TupleStream.advanced`); prefetched but unconsumed tuples are
simply rendered again. ``stop`` stays the same. For one stream object iterated in one process,
:meth:`TupleStream.state_dict` / :meth:`TupleStream.load_state_dict` save and restore its own
position (``position``: tuples it has yielded), and :attr:`TupleStream.cursor` is the global
index of the next tuple it yields.

Workers
-------
A loader wrapper (in a torch project; pastegen does not import torch) configures each worker's
copy from the worker info, passed as plain integers::

    class Tuples(torch.utils.data.IterableDataset):
        def __init__(self, stream):
            self.stream = stream                           # rank/world_size set, worker 0 of 1
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            s = self.stream if info is None else self.stream.for_worker(info.id, info.num_workers)
            return iter(s)

Sources
-------
Paths are scanned first, exactly as ``make`` scans them (:func:`pastegen.precompute.scan_for_make`:
every file decoded and hashed, bad files skipped), so the source list, and with it every tuple,
equals ``make``'s. A :class:`~pastegen.sources.SourceScan` or a list of
:class:`~pastegen.sources.SourceImage` records (e.g. from a file's ``sources`` attribute) is used
as it is; so are paths with ``scan=False`` (every file must then be a usable photo) and in-memory
RGB arrays.

Memory does not grow with the number of tuples streamed: nothing is kept between items but the
generator's small cache of decoded photos.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from .errors import SpecError
from .pipeline import TrainingTuple, TupleGenerator, TupleSpec, geometric_only, render
from .rng import check_seed

__all__ = ["TupleStream", "shard_of", "stream_indices", "STATE_VERSION"]

#: Version of :meth:`TupleStream.state_dict`'s layout.
STATE_VERSION = 1


def _nonneg_int(name: str, value: Any, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def shard_of(rank: int = 0, world_size: int = 1, worker: int = 0, num_workers: int = 1) -> tuple[int, int]:
    """``(s, S)``: the stream shard of loader ``worker`` of ``num_workers`` on ``rank`` of ``world_size``.

    ``s = worker · world_size + rank``, ``S = world_size · num_workers`` (see the module's split rule).

    Examples
    --------
    >>> shard_of(rank=1, world_size=2, worker=2, num_workers=3)
    (5, 6)
    """
    world_size = _nonneg_int("world_size", world_size, 1)
    num_workers = _nonneg_int("num_workers", num_workers, 1)
    rank = _nonneg_int("rank", rank)
    worker = _nonneg_int("worker", worker)
    if rank >= world_size:
        raise SpecError(f"rank must be below world_size ({world_size}), got {rank}")
    if worker >= num_workers:
        raise SpecError(f"worker must be below num_workers ({num_workers}), got {worker}")
    return worker * world_size + rank, world_size * num_workers


def stream_indices(
    start: int, stop: int | None, shard: int, num_shards: int, block_size: int = 1, position: int = 0
) -> Iterator[int]:
    """Global indices of ``shard`` of ``num_shards``, from its ``position``-th (see the split rule).

    Examples
    --------
    >>> list(stream_indices(10, 22, shard=1, num_shards=2, block_size=3))
    [13, 14, 15, 19, 20, 21]
    """
    t, k = divmod(position, block_size)
    while True:
        base = start + (t * num_shards + shard) * block_size
        for i in range(base + k, base + block_size):
            if stop is not None and i >= stop:
                return
            yield i
        k = 0
        t += 1


def _shard_length(start: int, stop: int, shard: int, num_shards: int, block_size: int) -> int:
    """Tuples shard ``shard`` yields in total from ``start`` to ``stop``."""
    n = max(0, stop - start)
    blocks = -(-n // block_size)
    if shard >= blocks:
        return 0
    mine = (blocks - 1 - shard) // num_shards + 1
    length = mine * block_size
    if (blocks - 1) % num_shards == shard:
        length -= blocks * block_size - n  # the last, partial block is this shard's
    return length


class TupleStream:
    """Tuples rendered on the fly by global index, split over ranks and loader workers.

    Parameters
    ----------
    sources : sequence of paths, SourceScan, or sequence of SourceImage / arrays
        Source photos (see the module docstring: paths are scanned like ``make`` scans them).
    spec : TupleSpec, optional
        Defaults to ``TupleSpec()``.
    seed : int
        Root seed.
    start : int
        Global index the stream starts from (the resume cursor).
    stop : int or None
        Global index to stop before; ``None`` streams forever.
    rank, world_size : int
        This process's place in a distributed job.
    worker, num_workers : int
        This loader worker's place (see :meth:`for_worker`).
    block_size : int
        Consecutive indices dealt to a shard at a time; the loader's ``batch_size``.
    dtype : numpy dtype
        Type of the image arrays: ``uint8`` (as stored in HDF5), or a float type for values in
        ``[0, 1]`` (``M`` stays 0/1 in that type).
    as_tuple : bool
        Yield :class:`~pastegen.pipeline.TrainingTuple` objects (uint8) instead of dicts.
    scan : bool or None
        Scan path sources like ``make`` (the default for paths); ``False`` uses them as they are.
    geometric_source : bool
        Also yield ``"I_G"`` = ``T_geometric(I)·M``: the pasted content with the photo's own colours
        (:func:`pastegen.pipeline.geometric_only`), the target of a colour-only harmonisation.
        Not with ``as_tuple``.
    max_pixels, strict, jobs :
        Passed to the scan (``jobs`` processes for it), and ``max_pixels`` to the generator.

    Each item is a dict ``{"I", "I_T", "I_S", "M": arrays, "params": {"component/field":
    value}, "source_index": int, "index": int}``, the layout of :class:`pastegen.store.TupleFile`
    items (parameters in their stored dtypes, NumPy scalars for scalar fields) plus the global
    ``index`` (and ``"I_G"`` with ``geometric_source``).

    Attributes
    ----------
    sources : tuple
        The source list tuples are drawn from (``SourceImage`` records after a scan).
    skipped : tuple
        Files the scan skipped.
    position : int
        Tuples this stream object has yielded (its own position; see :meth:`state_dict`).
    """

    def __init__(
        self,
        sources: Any,
        spec: TupleSpec | None = None,
        seed: int = 0,
        *,
        start: int = 0,
        stop: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        worker: int = 0,
        num_workers: int = 1,
        block_size: int = 1,
        dtype: Any = np.uint8,
        as_tuple: bool = False,
        scan: bool | None = None,
        max_pixels: int | None = None,
        strict: bool = False,
        jobs: int = 1,
        geometric_source: bool = False,
    ) -> None:
        from .sources import DEFAULT_MAX_PIXELS, SourceImage, SourceScan

        self.spec = spec if spec is not None else TupleSpec()
        if not isinstance(self.spec, TupleSpec):
            raise SpecError(f"spec must be a TupleSpec, got {type(self.spec).__name__}")
        self.seed = check_seed(seed)
        self.start = _nonneg_int("start", start)
        self.stop = None if stop is None else _nonneg_int("stop", stop)
        if self.stop is not None and self.stop < self.start:
            raise SpecError(f"stop ({self.stop}) must not be below start ({self.start})")
        self.rank, self.world_size, self.worker, self.num_workers = int(rank), int(world_size), int(worker), int(num_workers)
        self.shard, self.num_shards = shard_of(rank, world_size, worker, num_workers)
        self.block_size = _nonneg_int("block_size", block_size, 1)
        self.dtype = np.dtype(dtype)
        if self.dtype != np.uint8 and self.dtype.kind != "f":
            raise SpecError(f"dtype must be uint8 or a float type, got {self.dtype}")
        self.as_tuple = bool(as_tuple)
        if self.as_tuple and self.dtype != np.uint8:
            raise SpecError("as_tuple=True yields TrainingTuple objects, which are uint8; leave dtype at uint8")
        self.geometric_source = bool(geometric_source)
        if self.as_tuple and self.geometric_source:
            raise SpecError("geometric_source=True adds I_G to dict items; as_tuple=True yields TrainingTuple objects without it")
        self.max_pixels = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
        self.position = 0

        if isinstance(sources, SourceScan):
            images, skipped = sources.images, sources.skipped
        else:
            items = list(sources)
            paths = [x for x in items if isinstance(x, (str, os.PathLike))]
            if paths and len(paths) != len(items):
                raise SpecError("give sources as all paths, or as SourceImage records / arrays, not a mix")
            if paths and scan is not False:
                from .precompute import scan_for_make

                found = scan_for_make(paths, self.spec, max_pixels=self.max_pixels, jobs=jobs, strict=strict, progress=None)
                images, skipped = found.images, found.skipped
            else:
                images, skipped = tuple(items), ()
                for x in images:
                    if not isinstance(x, (str, os.PathLike, SourceImage, np.ndarray)):
                        raise SpecError(f"unsupported source {x!r}: give paths, SourceImage records or RGB uint8 arrays")
        self.sources = tuple(images)
        self.skipped = tuple(skipped)
        self._gen: TupleGenerator | None = None
        self._make_generator()  # validates the sources now rather than in a worker

    # -- configuration ---------------------------------------------------------------------------

    def _make_generator(self) -> TupleGenerator:
        if self._gen is None:
            self._gen = TupleGenerator(self.sources, self.spec, self.seed, max_pixels=self.max_pixels)
        return self._gen

    def _replace(self, **changes: Any) -> TupleStream:
        new = object.__new__(TupleStream)
        new.__dict__.update(self.__dict__)
        new._gen = None
        for key, value in changes.items():
            setattr(new, key, value)
        new.shard, new.num_shards = shard_of(new.rank, new.world_size, new.worker, new.num_workers)
        new.position = changes.get("position", 0)
        return new

    def for_worker(self, worker: int, num_workers: int) -> TupleStream:
        """A copy for loader worker ``worker`` of ``num_workers`` (e.g. torch's ``get_worker_info()``'s
        ``id`` and ``num_workers``), at position 0, same rank and start."""
        shard_of(self.rank, self.world_size, worker, num_workers)  # validates
        return self._replace(worker=int(worker), num_workers=int(num_workers))

    def advanced(self, consumed: int) -> TupleStream:
        """A copy that starts ``consumed`` global indices later (position 0, same shard): the stream
        to resume with after the whole job consumed ``consumed`` tuples in index order."""
        consumed = _nonneg_int("consumed", consumed)
        start = self.start + consumed
        if self.stop is not None and start > self.stop:
            raise SpecError(f"cannot advance {consumed} tuples: start {start} would pass stop {self.stop}")
        return self._replace(start=start)

    # -- position --------------------------------------------------------------------------------

    @property
    def cursor(self) -> int | None:
        """Global index of the next tuple this stream yields (None when it is exhausted)."""
        return next(stream_indices(self.start, self.stop, self.shard, self.num_shards, self.block_size, self.position), None)

    def indices(self) -> Iterator[int]:
        """Global indices this stream yields from its position on (does not move it)."""
        return stream_indices(self.start, self.stop, self.shard, self.num_shards, self.block_size, self.position)

    def __len__(self) -> int:
        """Tuples left to yield (a finite stream only)."""
        if self.stop is None:
            raise TypeError("the stream is infinite (stop=None) and has no length")
        return _shard_length(self.start, self.stop, self.shard, self.num_shards, self.block_size) - self.position

    def state_dict(self) -> dict[str, Any]:
        """This stream's position and configuration, as plain JSON-able values."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "spec": self.spec.to_json(),
            "start": self.start,
            "stop": self.stop,
            "shard": self.shard,
            "num_shards": self.num_shards,
            "block_size": self.block_size,
            "position": self.position,
            "cursor": self.cursor,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict` of a stream with the same seed, spec, start, stop and
        split; :class:`SpecError` names the first thing that differs."""
        if state.get("version") != STATE_VERSION:
            raise SpecError(f"stream state version {state.get('version')!r}; this pastegen reads {STATE_VERSION}")
        mine = self.state_dict()
        for key in ("seed", "spec", "start", "stop", "shard", "num_shards", "block_size"):
            if state.get(key) != mine[key]:
                what = "the spec" if key == "spec" else f"{key} {state.get(key)!r}"
                raise SpecError(f"the saved stream state has {what}, this stream {'another' if key == 'spec' else mine[key]!r}")
        self.position = _nonneg_int("position", state.get("position"))

    # -- items -----------------------------------------------------------------------------------

    def render(self, index: int) -> dict[str, Any] | TrainingTuple:
        """The item of global tuple ``index`` (whatever the shard; does not move the position)."""
        gen = self._make_generator()
        t = gen[index]
        if self.as_tuple:
            return t
        arrays = t.arrays()
        if self.geometric_source:
            arrays["I_G"] = render(t.I, geometric_only(t.params), gen.spec).I_S  # from the same crop I
        if self.dtype != np.uint8:
            full = self.dtype.type(255)
            arrays = {k: (v.astype(self.dtype) if k == "M" else v.astype(self.dtype) / full) for k, v in arrays.items()}
        fields = self._make_generator().param_fields
        params = {k: np.asarray(v, dtype=fields[k][1])[()] for k, v in t.params.to_record().items()}
        return {**arrays, "params": params, "source_index": int(t.params.source_index), "index": int(index)}

    def __iter__(self) -> Iterator[dict[str, Any] | TrainingTuple]:
        """Yield this shard's tuples from its position on; each yield advances :attr:`position`."""
        for i in self.indices():
            item = self.render(i)
            self.position += 1
            yield item

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_gen"] = None  # rebuilt (with an empty photo cache) in the receiving process
        return state

    def __repr__(self) -> str:
        end = "inf" if self.stop is None else self.stop
        return (
            f"TupleStream({len(self.sources)} sources, spec={self.spec.name!r}, seed={self.seed}, "
            f"[{self.start}, {end}), shard {self.shard}/{self.num_shards}, block {self.block_size}, position {self.position})"
        )
