"""Training data: tuple files and streams as torch datasets, a seeded sampler with an exact cursor.

Items and batches
-----------------
Every dataset here yields the same item, uint8 tensors (cheap to move between processes and to
the device; :func:`prepare` converts them to floats there)::

    {"I": uint8 [3, H, W],          the original photo
     "X": uint8 [3, H, W],          the composite I_T + I_S = I·(1−M) + T(I)·M (disjoint supports)
     "M": uint8 [1, H, W],          the paste mask, 0/1
     "index": int64}                the global tuple index

Streams made with ``geometric_source=True`` (``pastenet train --truth colours``, beyond the paper)
add ``"truth": uint8 [3, H, W]``: ``I`` outside the mask and ``T_geometric(I)`` inside it, the
pasted content where T put it with the photo's own colours. A model that only changes colours
(the affine colour-map head) cannot undo T's geometry; trained towards ``I`` it learns to lower
the contrast wherever the warp misaligns the content (the L1-optimal answer under misalignment),
trained towards ``truth`` it learns to undo the colour transforms alone.

A :class:`StreamDataset` made with ``prior="poisson"`` (``pastenet train --prior poisson``, beyond
the paper) adds ``"prior": uint8 [3, H, W]``: ``"X"`` with Poisson image editing's blend of
``T(I)`` into ``I_T`` inside the mask (:func:`with_poisson_prior`), rounded to uint8; G sees it
beside ``"X"`` and its colour map is applied to it. With ``geometric_source`` the ``"truth"``
inside the mask is likewise the blend of ``T_geometric(I)``: the result Poisson editing would give
if the source had its true colours. Paste prepares G's input the same way (:mod:`pastenet.paste`),
so the network learns only what Poisson editing cannot do, and a map that changes nothing is
Poisson editing.

The default collate stacks them into ``[B, ...]`` tensors.

Positions and the cursor
------------------------
Training consumes an infinite sequence of *positions* ``p = 0, 1, 2, ...``. A distributed step
``s`` with per-rank batch ``B`` and world size ``W`` consumes the global positions
``[s·B·W, (s+1)·B·W)``, and rank ``r`` takes the slice ``[s·B·W + r·B, s·B·W + (r+1)·B)``. The
*cursor* is the number of positions consumed, ``steps · B · W``: resuming from cursor ``c``
continues exactly where an uninterrupted run would be (prefetched but unconsumed batches are
simply read again).

- From a tuple file of ``N`` tuples, position ``p`` is file index ``perm(seed, p // N)[p mod N]``:
  every epoch is a fresh permutation that depends only on ``(seed, epoch, N)``
  (:func:`epoch_permutation`: ``numpy.random.Generator(PCG64(SeedSequence(seed,
  spawn_key=(SAMPLER_STREAM_ID, epoch)))).permutation(N)``). :class:`CursorSampler` yields
  one rank's indices.
- From a stream, position ``p`` is global tuple index ``p`` (a stream never repeats a tuple). The
  stream is built with ``start = cursor``, ``block_size = B`` and the rank's ``rank`` /
  ``world_size``; by pastegen's split rule rank ``r``'s ``k``-th batch is block ``k·W + r``, the
  same positions as above.

So the cursor means the same thing for both sources, and a trainer stores one integer.

Worker processes
----------------
:func:`make_loader` starts its workers with the ``"forkserver"`` multiprocessing context where
the platform has one (``"spawn"`` elsewhere), not torch's default ``"fork"``: a child forked
from a trainer that already ran OpenMP regions (PyTorch's intra-op pool, Numba's ``omp``
layer) or holds HDF5 state is not safe to use those in. The price is a start-up cost per
worker (a fresh interpreter importing torch and pastegen: about 2-4 s on a 2-core machine),
paid once, since workers are persistent. Datasets cross to the workers pickled:
:class:`~pastegen.store.TupleFile` pickles as its path and re-opens lazily, a
:class:`~pastegen.TupleStream` as its configuration and source records.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset, Sampler, get_worker_info

from pastegen.errors import first_line as _first_line

from .config import PRIORS
from .errors import ConfigError, DataError

__all__ = [
    "SAMPLER_STREAM_ID",
    "open_training_file",
    "TupleFileDataset",
    "StreamDataset",
    "epoch_permutation",
    "position_index",
    "CursorSampler",
    "make_stream",
    "with_poisson_prior",
    "one_thread_per_worker",
    "make_loader",
    "Batches",
    "default_mp_context",
    "prepare",
]

#: First word of the sampler's SeedSequence spawn key: keeps its draws apart from any other stream
#: derived from the same seed. Part of the data order's definition: never change it.
SAMPLER_STREAM_ID = 0x5341_4D50  # "SAMP"


# --- tuple files ----------------------------------------------------------------------------------


def open_training_file(path: str | os.PathLike) -> Any:
    """Open a pastegen tuple file for training, refusing what training cannot use.

    Parameters
    ----------
    path : path
        A complete tuple file written by ``pastegen make`` (or ``pastegen combine``).

    Returns
    -------
    pastegen.store.TupleFile

    Raises
    ------
    DataError
        Missing, incomplete (an interrupted ``pastegen make``), of another format version, not a
        tuple file, damaged, empty, or with non-square tuples. The one-line message says what to do.
    """
    from pastegen import errors as pe
    from pastegen.store import open_tuples

    p = Path(path)
    try:
        tf = open_tuples(p)
    except pe.IncompleteFileError as e:
        raise DataError(
            f"training data {p} is incomplete (an interrupted `pastegen make`); finish it with "
            f"`pastegen make --resume` and the same options ({_first_line(e)})"
        ) from None
    except pe.MissingShardError as e:
        raise DataError(f"training data {p}: {_first_line(e)}") from None
    except pe.MissingFileError:
        raise DataError(f"training data {p} does not exist; make it with `pastegen make` or pass the right path") from None
    except pe.IncompatibleFileError as e:
        raise DataError(f"training data {p} cannot be used: {_first_line(e)}") from None
    except pe.CorruptFileError as e:
        raise DataError(f"training data {p} is damaged: {_first_line(e)}; check it with `pastegen verify`") from None
    except pe.PastegenError as e:
        raise DataError(f"training data {p} cannot be opened: {_first_line(e)}") from None
    except OSError as e:
        raise DataError(f"training data {p} cannot be read: {_first_line(e)}") from None
    if len(tf) == 0:
        raise DataError(f"training data {p} holds no tuples; make it with `pastegen make --count N` (N >= 1)")
    if tf.height != tf.width:
        raise DataError(
            f"training data {p} holds {tf.height}x{tf.width} tuples; the discriminator needs square ones: "
            "make the file with equal --height and --width"
        )
    return tf


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)))


def _check_prior(prior: str) -> str:
    if prior not in PRIORS:
        raise ConfigError(f"prior must be one of {', '.join(PRIORS)}, got {prior!r}")
    return prior


def _chw_select(inside: np.ndarray, a: np.ndarray, b: np.ndarray) -> torch.Tensor:
    """``np.where(inside, a, b)`` of HWC uint8 images, returned as a CHW tensor: one pass, no temporary HWC image."""
    out = np.empty((3,) + inside.shape, dtype=np.uint8)
    np.copyto(out, np.asarray(b, dtype=np.uint8).transpose(2, 0, 1))
    np.copyto(out, np.asarray(a, dtype=np.uint8).transpose(2, 0, 1), where=inside)
    return torch.from_numpy(out)


def _item(
    I: np.ndarray, I_T: np.ndarray, I_S: np.ndarray, M: np.ndarray, index: int, I_G: np.ndarray | None = None, P_S: np.ndarray | None = None
) -> dict[str, torch.Tensor]:
    """The item dict from HWC uint8 arrays (see the module docstring); ``I_G``: add ``"truth"``, ``P_S``: ``"prior"``."""
    inside = np.asarray(M) != 0
    item = {
        "I": _chw(I),
        "X": _chw_select(inside, I_S, I_T),  # = I_T + I_S: the supports are disjoint
        "M": torch.from_numpy(inside.astype(np.uint8)[None]),
        "index": torch.tensor(int(index), dtype=torch.int64),
    }
    if I_G is not None:
        item["truth"] = _chw_select(inside, I_G, I)
    if P_S is not None:
        item["prior"] = _chw_select(inside, P_S, I_T)
    return item


def with_poisson_prior(item: Mapping[str, Any], spec: Any) -> dict[str, Any]:
    """A stream item with ``P_S``, the Poisson blend of ``I_S`` into ``I_T``, and ``I_G`` blended too (uint8).

    Poisson image editing with the normal guidance field (:func:`pastenet.seam.poisson_seam`, the
    function paste uses) reads the source on the pixels around the mask too, where a tuple has no
    ``T(I)``: they are rendered from the tuple's crop with the mask grown by one pixel
    (:func:`pastegen.pipeline.grown_mask`), inside the mask the tuple's own values are kept. Both
    sources are solved at once (one factorisation).

    Parameters
    ----------
    item : mapping
        A :class:`pastegen.TupleStream` item (uint8 arrays, ``params``, ``index``, ``source_index``).
    spec : pastegen.TupleSpec
        The stream's spec.

    Returns
    -------
    dict
        A copy of ``item`` with ``P_S`` added and ``I_G`` (when present) replaced by its blend;
        both zero outside the mask.
    """
    from pastegen.pipeline import TupleParams, geometric_only, grown_mask, render

    from .seam import poisson_seam, window

    params = TupleParams.from_record(int(item["index"]), int(item["source_index"]), item["params"])
    grown = grown_mask(params, 1)
    inside = np.asarray(item["M"])[..., None] != 0
    names = ["I_S"] + (["I_G"] if item.get("I_G") is not None else [])
    around = {"I_S": grown, "I_G": geometric_only(grown)}
    blended = np.zeros(inside.shape[:2] + (3 * len(names),), dtype=np.uint8)
    if inside.any():
        # solved on the mask's bounding box grown by a pixel, as paste solves: the same system
        # (same unknowns in the same order, same boundary values), so the same result, bit for
        # bit, for a fraction of the whole tuple's conversions and copies
        box = window(inside[..., 0])
        sources = [np.where(inside[box], item[n][box], render(item["I"], around[n], spec).I_S[box]) for n in names]
        target = np.asarray(item["I_T"][box], dtype=np.float32)
        solved = poisson_seam(np.concatenate(sources, axis=2).astype(np.float32), np.concatenate([target] * len(names), axis=2), inside[box][..., 0])
        blended[box] = np.clip(np.rint(solved), 0, 255).astype(np.uint8) * inside[box]
    out = dict(item)
    for k, n in enumerate(names):
        out["P_S" if n == "I_S" else n] = blended[..., 3 * k : 3 * k + 3]
    return out


class TupleFileDataset(Dataset):
    """A tuple file as a map-style dataset of item dicts (see the module docstring).

    The file is checked once here (:func:`open_training_file`) and read lazily in each process:
    the underlying :class:`~pastegen.store.TupleFile` pickles as its path and re-opens the HDF5
    file in a worker.

    Parameters
    ----------
    path : path

    Attributes
    ----------
    path : Path
    file : pastegen.store.TupleFile
    resolution : int
        Side of the (square) tuples.
    index_offset : int
        Global index of the file's first tuple (non-zero for one shard of a sharded run); item
        ``"index"`` is ``index_offset + i`` for file index ``i``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.file = open_training_file(self.path)
        self.resolution = int(self.file.height)
        self.index_offset = int(self.file.attrs.get("index_offset", 0) or 0)
        self._length = len(self.file)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        from pastegen import errors as pe

        try:
            f = self.file
            arrays = f.read_arrays(i, ("I", "I_T", "I_S", "M"))  # each stored dataset read once (I_T is rebuilt from I and M)
        except pe.PastegenError as e:
            raise DataError(f"training data {self.path}: {_first_line(e)}") from None
        return _item(arrays["I"], arrays["I_T"], arrays["I_S"], arrays["M"], self.index_offset + int(i))

    def __repr__(self) -> str:
        return f"TupleFileDataset({str(self.path)!r}, {self._length} tuples of {self.resolution}x{self.resolution})"


# --- sampling ---------------------------------------------------------------------------------------


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    """The file order of ``epoch``: a permutation of ``range(n)`` that depends only on ``(seed, epoch, n)``.

    ``numpy.random.Generator(PCG64(SeedSequence(seed, spawn_key=(SAMPLER_STREAM_ID, epoch)))).permutation(n)``.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    seed, epoch, n = _int("seed", seed, 0), _int("epoch", epoch, 0), _int("n", n, 1)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(SAMPLER_STREAM_ID, epoch))))
    return rng.permutation(n).astype(np.int64)


def position_index(seed: int, n: int, position: int) -> int:
    """File index of global ``position``: ``epoch_permutation(seed, position // n, n)[position % n]``."""
    epoch, k = divmod(_int("position", position, 0), _int("n", n, 1))
    return int(epoch_permutation(seed, epoch, n)[k])


class CursorSampler(Sampler[int]):
    """One rank's file indices, forever, from a cursor (see the module docstring).

    Step ``s`` (counted from ``start``) consumes the global positions
    ``[start + s·B·W, start + (s+1)·B·W)``; this rank yields the ``B`` of them from
    ``start + s·B·W + rank·B``, mapped to file indices by :func:`position_index`.

    Parameters
    ----------
    n : int
        Number of tuples in the file.
    seed : int
        Seed of the epoch permutations.
    batch : int
        Per-rank batch size ``B``.
    rank, world_size : int
        This process's place in a distributed job.
    start : int
        The cursor: global positions consumed so far (``steps · B · W`` in a lock-step loop).
    """

    def __init__(self, n: int, *, seed: int, batch: int, rank: int = 0, world_size: int = 1, start: int = 0) -> None:
        self.n = _int("n", n, 1)
        self.seed = _int("seed", seed, 0)
        self.batch = _int("batch", batch, 1)
        self.world_size = _int("world_size", world_size, 1)
        self.rank = _int("rank", rank, 0)
        if self.rank >= self.world_size:
            raise ConfigError(f"rank must be below world_size ({self.world_size}), got {self.rank}")
        self.start = _int("start", start, 0)

    def positions(self) -> Iterator[int]:
        """This rank's global positions, in order, forever."""
        stride = self.batch * self.world_size
        base = self.start + self.rank * self.batch
        while True:
            yield from range(base, base + self.batch)
            base += stride

    def __iter__(self) -> Iterator[int]:
        epoch, perm = -1, np.empty(0, dtype=np.int64)
        for p in self.positions():
            e, k = divmod(p, self.n)
            if e != epoch:
                epoch, perm = e, epoch_permutation(self.seed, e, self.n)
            yield int(perm[k])

    def __repr__(self) -> str:
        return (
            f"CursorSampler(n={self.n}, seed={self.seed}, batch={self.batch}, rank={self.rank}, "
            f"world_size={self.world_size}, start={self.start})"
        )


# --- streams ----------------------------------------------------------------------------------------


def one_thread_per_worker() -> None:
    """Bring every thread pool of this process down to one thread: a data loader worker's set-up.

    Loader workers are the parallelism: each renders and solves its tuples on one thread (the
    tuples do not depend on it). Otherwise numba, OpenCV and OpenBLAS each start a thread per core
    in every worker, and OpenBLAS's (SuperLU's dense blocks in the Poisson prior) spin while they
    wait: measured on 2 cores, the same tuples/s for 1.3-1.4 CPU-seconds per second instead of 1.0,
    taken from the training step; on 16 cores with 13 workers, a load average of 29. Called by
    :class:`StreamDataset` in each worker; the results are the same bits with any thread count.
    """
    import cv2
    import numba
    import scipy.sparse.linalg  # noqa: F401  (loads scipy's BLAS now, so that the limit below reaches it)
    import threadpoolctl

    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    threadpoolctl.threadpool_limits(1)


class StreamDataset(IterableDataset):
    """A :class:`pastegen.TupleStream` as an iterable dataset of item dicts.

    Each loader worker iterates ``stream.for_worker(id, num_workers)``; with the stream's
    ``block_size`` equal to the loader's batch size and the loader in order, a rank receives its
    blocks in increasing order (pastegen's split rule). Without workers the stream is iterated as
    it is.

    Parameters
    ----------
    stream : pastegen.TupleStream
        Built with ``start = cursor``, ``block_size = batch`` and this process's ``rank`` /
        ``world_size`` (:func:`make_stream` does it); worker 0 of 1.
    prior : {"none", "poisson"}
        ``"poisson"``: items also carry ``"prior"``, the Poisson blend (see the module docstring).
    """

    def __init__(self, stream: Any, *, prior: str = "none") -> None:
        from pastegen import TupleStream

        self.prior = _check_prior(prior)
        if not isinstance(stream, TupleStream):
            raise ConfigError(f"StreamDataset needs a pastegen.TupleStream, got {type(stream).__name__}")
        if stream.num_workers != 1:
            raise ConfigError("give StreamDataset the rank's stream (worker 0 of 1); it sets up each loader worker itself")
        if stream.as_tuple:
            raise ConfigError("StreamDataset needs a stream of dicts (as_tuple=False)")
        self.stream = stream

    @property
    def resolution(self) -> int | None:
        """Side of the tuples when square, else None."""
        spec = self.stream.spec
        return int(spec.height) if spec.height == spec.width else None

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        stream = self.stream if info is None else self.stream.for_worker(info.id, info.num_workers)
        if info is not None:
            one_thread_per_worker()
        for item in stream:
            it = cast("dict[str, Any]", item)  # a stream of dicts: as_tuple streams are refused in __init__
            if self.prior == "poisson":
                it = with_poisson_prior(it, stream.spec)
            yield _item(it["I"], it["I_T"], it["I_S"], it["M"], it["index"], it.get("I_G"), it.get("P_S"))

    def __repr__(self) -> str:
        return f"StreamDataset({self.stream!r}{'' if self.prior == 'none' else f', prior={self.prior!r}'})"


def make_stream(
    source: TupleFileDataset | str | os.PathLike | Sequence[Any],
    *,
    spec: Any = None,
    seed: int | None = None,
    start: int = 0,
    batch: int,
    rank: int = 0,
    world_size: int = 1,
    stop: int | None = None,
    geometric_source: bool = False,
) -> Any:
    """Build the :class:`pastegen.TupleStream` a rank trains on.

    Parameters
    ----------
    source : TupleFileDataset, path of a tuple file, or a sequence of photo paths / source records
        A tuple file (dataset or path) streams *the file's run*: its sources, spec and seed, so
        indices below its count are the file's tuples and later ones continue the run. Photo
        paths are scanned like ``pastegen make`` scans them.
    spec : pastegen.TupleSpec or str, optional
        The spec (or a preset name); required for photo paths, defaults to the file's.
    seed : int, optional
        Root seed of the tuples; required for photo paths, defaults to the file's.
    start : int
        The cursor (global positions consumed; see the module docstring).
    batch : int
        Per-rank batch size: the stream's ``block_size``.
    rank, world_size : int
    stop : int, optional
        Global index to stop before (None: forever).
    geometric_source : bool
        Items also carry ``"truth"``: ``I`` with ``T_geometric(I)`` inside the mask, the target of
        a colour-only model (``pastenet train --truth colours``; see the module docstring).

    Returns
    -------
    pastegen.TupleStream
    """
    import pastegen
    from pastegen import errors as pe
    from pastegen.sources import SourceImage

    batch = _int("batch", batch, 1)
    if isinstance(source, (str, os.PathLike)):
        source = TupleFileDataset(source)
    if isinstance(source, TupleFileDataset):
        tf = source.file
        if source.index_offset:
            raise DataError(f"{source.path} is one shard of a sharded run; stream from the combined file or the photos")
        sources: Any = [SourceImage(**s) for s in tf.sources]
        if spec is None:
            try:
                spec = pastegen.TupleSpec.from_dict(tf.spec or {})
            except pe.PastegenError as e:
                raise DataError(f"{source.path}: its stored spec cannot be read ({_first_line(e)})") from None
        if seed is None:
            seed = tf.seed
        scan: bool | None = False
    else:
        if spec is None or seed is None:
            raise ConfigError("streaming from photos needs spec= and seed=")
        sources, scan = list(source), None
    if isinstance(spec, str):
        spec = pastegen.preset(spec)
    try:
        return pastegen.TupleStream(
            sources, spec, seed, start=start, stop=stop, rank=rank, world_size=world_size, block_size=batch, scan=scan,
            geometric_source=geometric_source,
        )  # fmt: skip
    except pe.SpecError as e:
        raise ConfigError(f"cannot stream tuples: {_first_line(e)}") from None
    except pe.PastegenError as e:
        raise DataError(f"cannot stream tuples: {_first_line(e)}") from None


# --- loaders ----------------------------------------------------------------------------------------


def default_mp_context() -> str:
    """``"forkserver"`` where available, else ``"spawn"`` (see the module docstring)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


class Batches:
    """An infinite iterator of batches with its cursor.

    Attributes
    ----------
    loader : torch.utils.data.DataLoader
    cursor : int
        Global positions consumed once the batches yielded so far are used (``+ B·W`` per batch).
    """

    def __init__(self, loader: DataLoader, cursor: int, stride: int) -> None:
        self.loader = loader
        self.cursor = cursor
        self._stride = stride
        self._it: Iterator[Any] | None = iter(loader)

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        if self._it is None:
            raise StopIteration
        batch = next(self._it)
        self.cursor += self._stride
        return batch

    def close(self) -> None:
        """Stop the worker processes."""
        it, self._it = self._it, None
        if it is not None and hasattr(it, "_shutdown_workers"):
            it._shutdown_workers()

    def __enter__(self) -> Batches:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def make_loader(
    source: Any,
    *,
    batch: int,
    seed: int,
    cursor: int,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch: int = 2,
    mp_context: str | None = None,
) -> Batches:
    """An infinite iterator over this rank's batches from ``cursor`` (see the module docstring).

    Parameters
    ----------
    source : TupleFileDataset, StreamDataset or pastegen.TupleStream
        A stream is re-derived for this rank, batch and cursor (its sources, spec, seed and stop
        are kept): its global index ``p`` is position ``p``.
    batch : int
        Per-rank batch size ``B``.
    seed : int
        Seed of the file's epoch permutations (unused for streams: their seed is the stream's).
    cursor : int
        Global positions consumed so far (``steps · B · W``).
    rank, world_size : int
    workers : int
        Loader worker processes (persistent); 0 reads in this process. Batches are identical
        for any value.
    pin_memory : bool
        Pin batches for faster host-to-GPU copies.
    prefetch : int
        Batches each worker prepares ahead.
    mp_context : str, optional
        Start method of the workers; default :func:`default_mp_context` (not ``"fork"``).

    Returns
    -------
    Batches
        ``next()`` gives a batch dict; ``.cursor`` counts positions consumed.
    """
    from pastegen import TupleStream

    batch = _int("batch", batch, 1)
    cursor = _int("cursor", cursor, 0)
    workers = _int("workers", workers, 0)
    world_size = _int("world_size", world_size, 1)
    rank = _int("rank", rank, 0)
    if rank >= world_size:
        raise ConfigError(f"rank must be below world_size ({world_size}), got {rank}")
    kwargs: dict[str, Any] = {"batch_size": batch, "num_workers": workers, "pin_memory": bool(pin_memory), "in_order": True}
    if workers > 0:
        kwargs.update(
            persistent_workers=True,
            prefetch_factor=_int("prefetch", prefetch, 1),
            multiprocessing_context=mp_context or default_mp_context(),
        )
    if isinstance(source, TupleFileDataset):
        sampler = CursorSampler(len(source), seed=seed, batch=batch, rank=rank, world_size=world_size, start=cursor)
        loader = DataLoader(source, sampler=sampler, **kwargs)
    elif isinstance(source, (StreamDataset, TupleStream)):
        stream = source.stream if isinstance(source, StreamDataset) else source
        if stream.stop is not None and cursor > stream.stop:
            raise ConfigError(f"cursor {cursor} is past the stream's stop ({stream.stop})")
        try:
            stream = TupleStream(
                list(stream.sources), stream.spec, stream.seed, start=cursor, stop=stream.stop, rank=rank,
                world_size=world_size, block_size=batch, scan=False, max_pixels=stream.max_pixels,
                geometric_source=stream.geometric_source,
            )  # fmt: skip
        except Exception as e:  # a source record that no longer decodes
            raise DataError(f"cannot stream tuples: {_first_line(e)}") from None
        loader = DataLoader(StreamDataset(stream, prior=source.prior if isinstance(source, StreamDataset) else "none"), **kwargs)
    else:
        raise ConfigError(f"make_loader needs a TupleFileDataset, StreamDataset or TupleStream, got {type(source).__name__}")
    return Batches(loader, cursor, batch * world_size)


# --- on the device ----------------------------------------------------------------------------------


def prepare(batch: Mapping[str, torch.Tensor], device: torch.device | str, *, channels_last: bool = False) -> dict[str, torch.Tensor]:
    """A batch of uint8 items as float tensors on ``device``, the networks' inputs.

    Parameters
    ----------
    batch : mapping
        A collated batch of items (``I``, ``X``, ``M``, ``index``).
    device : torch.device or str
    channels_last : bool
        Return the 4-D tensors in channels-last memory format.

    Returns
    -------
    dict
        ``I`` [B,3,H,W] in [-1, 1] (``u8 / 127.5 − 1``), ``composite`` [B,3,H,W] in [-1, 1],
        ``M`` [B,1,H,W] float 0/1, ``X`` [B,4,H,W] = ``cat(composite, M)`` (the generator's
        input), ``index`` [B] int64, and ``truth`` and ``prior`` [B,3,H,W] in [-1, 1] when the
        items carry them.
        Transfers are non-blocking (overlapping with compute from pinned memory).
    """
    device = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def image(u8: torch.Tensor) -> torch.Tensor:
        return u8.to(device, non_blocking=True).float().div_(127.5).sub_(1.0)

    I = image(batch["I"])
    composite = image(batch["X"])
    M = batch["M"].to(device, non_blocking=True).float()
    X = torch.cat([composite, M], dim=1)
    out = {"I": I, "composite": composite, "M": M, "X": X}
    for key in ("truth", "prior"):
        if key in batch:
            out[key] = image(batch[key])
    out = {k: v.contiguous(memory_format=fmt) for k, v in out.items()}
    out["index"] = batch["index"].to(device, non_blocking=True)
    return out
