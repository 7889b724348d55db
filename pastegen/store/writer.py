"""Crash-safe writing of tuple files: :class:`TupleWriter` (``.partial`` file, resume, salvage)."""

from __future__ import annotations

import ctypes
import datetime as _dt
import json
import operator
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import h5py
import numpy as np

from .._version import __version__
from ..atomic import fsync_dir, fsync_path
from ..errors import IncompleteFileError, ResumeMismatchError, SpecError, StoreError, StoreWarning, first_line
from ..jsonvalues import canonical_json, short_repr
from .attributes import decode_value, encode_attr, json_list, read_attrs
from .consistency import tuple_problems
from .encode import EncodedTuple, check_tuple_arrays, raw_chunk
from .rows import read_rows_torn
from .schema import (
    DEFAULT_COMPRESSION,
    DERIVED,
    FORMAT_NAME,
    FORMAT_VERSION,
    READABLE_VERSIONS,
    RESERVED_ATTRS,
    VOLATILE_ATTRS,
    StoreLayout,
    check_output,
    compression_kwargs,
    create_datasets,
    file_layout,
    parse_derived,
    partial_path,
    salvage_path,
    stored_arrays,
    uncompressed_datasets,
)

_DEFAULT_FLUSH_EVERY = 64
_FLUSH_SECONDS = 5.0


def _is_lock_error(exc: BaseException) -> bool:
    """Whether an h5py error says the file is locked (open for writing in another process)."""
    text = str(exc).lower()
    return "unable to lock file" in text or "resource temporarily unavailable" in text


_SYNC_FILE_RANGE_WRITE = 2
_sync_file_range: list = []  # [function or None] once looked up


def _file_descriptor(f: h5py.File) -> int | None:
    """The operating-system file descriptor behind ``f`` (``None`` for a driver without one)."""
    try:
        fd = f.id.get_vfd_handle()
    except Exception:  # noqa: BLE001 - a driver without a file descriptor
        return None
    return fd if isinstance(fd, int) and fd >= 0 else None


def _start_writeback(fd: int) -> None:
    """Start the disk writes of ``fd``'s dirty pages now, without waiting for them (Linux
    ``sync_file_range(SYNC_FILE_RANGE_WRITE)``; skipped where the platform lacks it)."""
    if not _sync_file_range:
        fn = None
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(None, use_errno=True).sync_file_range
                fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
                fn.restype = ctypes.c_int
            except (OSError, AttributeError):
                fn = None
        _sync_file_range[:] = [fn]
    fn = _sync_file_range[0]
    if fn is not None:
        fn(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
#: HDF5's small-data block (2,048 bytes by default, h5py's too): a chunk can start this far before
#: the file's old end, in the block's free remainder (in a test file 0-1,942 bytes before; see
#: :meth:`_WriteBehind.chunk_written`).
_SMALL_DATA_SLACK = 2048


def _drop_pages(fd: int, ranges: list[list[int]]) -> None:
    """Drop from the page cache the whole pages inside the byte ranges ``[start, end)`` of ``fd``
    (``posix_fadvise(POSIX_FADV_DONTNEED)``, which leaves dirty pages alone; skipped where the
    platform lacks it)."""
    fadvise = getattr(os, "posix_fadvise", None)
    if fadvise is None:
        return
    for start, end in ranges:
        first, last = -(-start // _PAGE) * _PAGE, end // _PAGE * _PAGE
        if last > first:
            try:
                fadvise(fd, first, last - first, os.POSIX_FADV_DONTNEED)
            except OSError:  # e.g. a file system that does not support it
                return


class _WriteBehind:
    """The disk writes of a file being written, kept going while the writer goes on, and the
    page cache kept to what the writer will touch again.

    At each flush of the writer, :meth:`after_flush` starts the writes of the new dirty pages
    (:func:`_start_writeback`) and, unless one is still running, an ``fdatasync`` of the file in a
    background thread. ``fdatasync`` is what makes the data durable: on a virtual machine it also
    makes the host write its own cache of the disk image, which otherwise happens all at once in
    the ``fsync`` of :meth:`TupleWriter.commit`. Measured on the project's 2-vCPU Firecracker
    machine (ext4, disk 390-440 MB/s with ``O_DIRECT`` at the time; ``make --jobs 2``, 1,200
    512x512 tuples, three runs each): 314-318 tuples/s with the writes started only, 400-414 with
    the background ``fdatasync`` (491 on tmpfs); the commit's ``fsync`` went from 0.6-1.2 s to
    under 0.1 s.

    Once synced, the pages of the tuples' chunks are dropped from the page cache (:meth:`chunk_written`
    collects their byte ranges), so the cache does not grow by the whole file and new writes
    reuse the memory of old ones: 290-360 tuples/s with the cache growing, 470-540 with the
    pages dropped, where every write into fresh page-cache memory also cost the hypervisor's
    first touch of that memory. Only whole pages inside chunk data are dropped: the pages of
    HDF5's metadata and of the rows (flags, parameters), which each flush rewrites in part,
    stay cached. Dropping the whole file instead made each flush read those pages back from
    the disk first (about 4 MB of small reads per 1,200 tuples): ``make --jobs 2`` with the
    disk's reads limited to 100 per second (a spinning disk's random reads; a ``blkio`` cgroup)
    stored 164 tuples/s that way and 542 this way; on the unlimited virtual disk 576 and 578.

    An error of the background ``fdatasync`` (``EIO``, ``ENOSPC``, ...) is kept and raised by the
    next :meth:`after_flush` or :meth:`wait`: Linux reports a failed write-back once, so it must
    not be lost to the thread. :meth:`wait` must be called before the file is closed (the thread
    uses its descriptor). Guarantees nothing by itself: the commit still ``fsync``s.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: OSError | None = None
        self._written: list[list[int]] = []  # chunk bytes written since the last sync started
        self._run: list[int] | None = None  # the run of chunks being written (file sizes)

    def chunk_written(self, before: int, after: int, size: int) -> None:
        """Note a chunk of ``size`` bytes written while the file's size went from ``before`` to
        ``after`` (see :meth:`TupleWriter._write_chunk`).

        Chunks that each grew the file by their own size, one after the other, are one run of
        chunk data: HDF5 placed them back to back at the end, all shifted back by the same free
        remainder of its small-data block (at most :data:`_SMALL_DATA_SLACK` bytes). So the bytes
        from the run's first ``before`` to ``_SMALL_DATA_SLACK`` before its last ``after`` are
        chunk data, written once. Any other write ends the run.
        """
        run = self._run
        if after - before == size:
            if run is not None and run[1] == before:
                run[1] = after
                return
            self._end_run()
            self._run = [before, after]
        else:
            self._end_run()

    def _end_run(self) -> None:
        run, self._run = self._run, None
        if run is not None and run[1] - _SMALL_DATA_SLACK - run[0] >= _PAGE:
            self._written.append([run[0], run[1] - _SMALL_DATA_SLACK])

    def after_flush(self, f: h5py.File) -> None:
        """Start the writes of what ``f``'s flush left dirty and a background ``fdatasync``."""
        self._raise_error()
        self._end_run()  # the flush wrote metadata after it
        fd = _file_descriptor(f)
        if fd is None:
            self._written.clear()
            return
        _start_writeback(fd)
        if self._thread is not None and self._thread.is_alive():
            return  # the running fdatasync or the next flush's takes these pages too
        ranges, self._written = self._written, []
        self._thread = threading.Thread(target=self._sync, args=(fd, ranges), name="pastegen-write-behind", daemon=True)
        self._thread.start()

    def _sync(self, fd: int, ranges: list[list[int]]) -> None:
        try:
            os.fdatasync(fd)
        except OSError as e:
            self._error = e
            return
        _drop_pages(fd, ranges)

    def wait(self) -> None:
        """Wait for the background ``fdatasync`` and raise its error, if any."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._raise_error()

    def _raise_error(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error


class _RowBuffer:
    """Rows of a row-chunked dataset kept in memory in blocks of one chunk, written chunk-wise at
    each flush and kept after it.

    The writer is the only one writing these rows, so a kept block is what the file holds, and the
    next rows of the same chunk need not read it back: after :class:`_WriteBehind` dropped the
    file's pages, that read would be a disk read queued behind the tuples' writes, with the
    writer (and, once its queue fills, generation) waiting for it. Measured on the project's
    2-vCPU machine (``make --jobs 2``, 1,200 512x512 tuples, ext4): the main thread spent about
    a tenth of the run in these reads. At most :attr:`KEEP` blocks stay after a flush, the most
    recently used (the writer of ``make`` writes in order, so one would do).
    """

    KEEP = 2

    def __init__(self, ds: h5py.Dataset) -> None:
        self.ds = ds
        self.rows = ds.chunks[0]
        self.n = ds.shape[0]
        self.blocks: dict[int, np.ndarray] = {}  # chunk index -> rows, least recently used first
        self.dirty: set[int] = set()

    def set(self, index: int, value: Any) -> None:
        c = index // self.rows
        block = self.blocks.pop(c, None)
        if block is None:
            a = c * self.rows
            block = self.ds[a : min(self.n, a + self.rows)]
        self.blocks[c] = block
        block[index - c * self.rows] = value
        self.dirty.add(c)

    def flush(self) -> None:
        for c in sorted(self.dirty):
            a = c * self.rows
            self.ds[a : a + len(self.blocks[c])] = self.blocks[c]
        self.dirty.clear()
        for c in list(self.blocks)[: max(0, len(self.blocks) - self.KEEP)]:
            del self.blocks[c]


def _offset_fn(ndim: int) -> Any:
    zeros = (0,) * (ndim - 1)
    return lambda i: (i, *zeros)


# --- writer ---------------------------------------------------------------------------------------


class TupleWriter:
    """Write a tuple file crash-safely: to ``<path>.partial``, renamed into place by :meth:`commit`.

    Use as a context manager; call :meth:`commit` once every index is written. Leaving the block
    without committing (an exception, Ctrl-C) flushes and closes the ``.partial`` file and leaves
    it for ``resume=True``; nothing is ever written at the final path before the commit.

    Parameters
    ----------
    path : path
        The final file.
    layout : StoreLayout
        Number of tuples, image size and parameter schema.
    attrs : mapping, optional
        The run's metadata (spec JSON, seed, sources, ...): JSON-able values, stored as root
        attributes (see :mod:`pastegen.store`). Names in :data:`RESERVED_ATTRS` are refused.
    compression : str
        One of :data:`COMPRESSIONS`.
    overwrite : bool
        Replace an existing file at ``path``; the old file stays in place until :meth:`commit`
        replaces it. Without ``resume``, also discards a stale ``.partial``.
    resume : bool
        Finish the ``.partial`` file of an interrupted run made with the same layout, compression
        and attributes (except :data:`VOLATILE_ATTRS`); :class:`ResumeMismatchError` names the
        first difference. Tuples already safely written are kept (after re-checking them) and
        :meth:`pending` lists only the missing ones. When there is no ``.partial`` file this is
        a fresh run; when it cannot be opened at all, or was written in another tuple format
        (format 1, which stored ``I_T``: formats are never mixed in one file), a fresh run with
        a :class:`StoreWarning`.
    flush_every : int
        Flush to disk every this many tuples (and at least every 5 s); at most about twice this
        many tuples are lost when the process is killed.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false, or a ``.partial`` exists and neither
        ``resume`` nor ``overwrite`` was given.
    ResumeMismatchError
        ``resume`` found a ``.partial`` made with other settings (it is left untouched).
    StoreError
        The ``.partial`` file is open in another process.
    """

    #: ``(format_version, derived arrays)`` of the files this class writes: :data:`FORMAT_VERSION`
    #: and :data:`~pastegen.store.schema.DERIVED`. ``(1, ())`` would write the earlier layout (every
    #: array stored; tests make format-1 files so); the code below follows it throughout.
    write_format: ClassVar[tuple[int, tuple[str, ...]]] = (FORMAT_VERSION, DERIVED)

    def __init__(
        self,
        path: str | os.PathLike,
        layout: StoreLayout,
        *,
        attrs: Mapping[str, Any] | None = None,
        compression: str = DEFAULT_COMPRESSION,
        overwrite: bool = False,
        resume: bool = False,
        flush_every: int = _DEFAULT_FLUSH_EVERY,
    ) -> None:
        if not isinstance(layout, StoreLayout):
            raise SpecError(f"layout must be a StoreLayout, got {type(layout).__name__}")
        compression_kwargs(compression)  # validates the name
        if int(flush_every) < 1:
            raise SpecError(f"flush_every must be at least 1, got {flush_every}")
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.layout = layout
        self.compression = compression
        #: Image datasets whose chunks this writer stores unfiltered (:data:`~pastegen.store.UNCOMPRESSED`).
        self.uncompressed = uncompressed_datasets(compression)
        self.format_version, self.derived = self.write_format
        #: The image datasets this writer stores (``I``, ``I_S``, ``M``: not the derived ``I_T``).
        self.stored = stored_arrays(self.derived)
        self.flush_every = int(flush_every)
        self._attrs, self._json_names = self._encode_attrs(attrs or {})
        self._run_names = sorted(self._attrs)
        self._pid = os.getpid()
        self._f: h5py.File | None = None
        self._committed = False
        self._written = np.zeros(layout.count, bool)
        self._unflagged: list[int] = []
        self._last_flush = time.monotonic()
        self._behind = _WriteBehind()
        #: Tuples kept from the ``.partial`` file by a resume (0 for a fresh run).
        self.recovered = 0

        check_output(self.path, overwrite=overwrite, resume=resume)
        salvage = salvage_path(self.path)
        if salvage.exists():
            salvage.unlink()  # left by a resume that was itself interrupted; the .partial is intact
        if self.partial.exists():
            if resume:
                self._resume()
                return
            self._check_not_in_use(self.partial)
            self.partial.unlink()
        self._f = self._create(self.partial)

    # -- setup ---------------------------------------------------------------------------------

    @staticmethod
    def _encode_attrs(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        out, json_names = {}, []
        for name, value in attrs.items():
            if not isinstance(name, str) or not name:
                raise SpecError(f"attribute names must be non-empty strings, got {name!r}")
            if name in RESERVED_ATTRS:
                raise SpecError(f"attribute {name!r} is reserved by the store; use another name")
            stored, is_json = encode_attr(name, value)
            out[name] = stored
            if is_json:
                json_names.append(name)
        return out, json_names

    def _create(self, path: Path) -> h5py.File:
        f = h5py.File(path, "w-", rdcc_nbytes=0, locking="best-effort")
        try:
            create_datasets(f, self.layout, self.compression, self.derived)
            a = f.attrs
            a["format"] = FORMAT_NAME
            a["format_version"] = self.format_version
            a["complete"] = 0
            a["count"] = self.layout.count
            a["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["compression"] = self.compression
            a["pastegen_version"] = __version__
            a["uncompressed"] = ",".join(self.uncompressed)
            a["derived"] = ",".join(self.derived)
            for name, value in self._attrs.items():
                a[name] = value
            a["json_attrs"] = json.dumps(sorted(self._json_names))
            a["run_attrs"] = json.dumps(self._run_names)
            f.flush()
        except BaseException:
            f.close()
            path.unlink(missing_ok=True)
            raise
        self._bind(f)
        return f

    def _bind(self, f: h5py.File) -> None:
        self._f = f
        self._ds = {name: f[name] for name in self.stored}
        self._chunk_offset = {name: _offset_fn(self._ds[name].ndim) for name in self.stored}
        self._params = {name: _RowBuffer(f["params"][name]) for name in self.layout.param_fields}
        self._source = _RowBuffer(f["source_index"])
        self._flags = _RowBuffer(f["written"])

    @staticmethod
    def _check_not_in_use(path: Path) -> None:
        try:
            with h5py.File(path, "r", locking="best-effort"):
                pass
        except OSError as e:
            if _is_lock_error(e):
                raise StoreError(f"{path} is open in another process (a run still going?); stop it first") from None

    def _resume(self) -> None:
        try:
            old = h5py.File(self.partial, "r", locking="best-effort")
        except OSError as e:
            if _is_lock_error(e):
                raise StoreError(f"{self.partial} is open in another process (a run still going?); stop it or wait for it") from None
            self._start_over(f"it cannot be opened ({first_line(e)})")
            return
        try:
            try:
                stored = read_attrs(old)
                layout = file_layout(old) if "I" in old else None
            except Exception as e:  # noqa: BLE001 - damaged metadata
                self._start_over(f"its metadata cannot be read ({first_line(e)})")
                return
            self._check_resume_match(stored, layout)
            theirs = (stored.get("format_version"), parse_derived(stored.get("derived")))
            if theirs != (self.format_version, self.derived):
                # the same run in another layout (format 1 stored I_T): no tuple is copied across
                self._start_over(
                    f"it was written in tuple format {theirs[0]} (derived arrays: {', '.join(theirs[1]) or 'none'}), "
                    f"this pastegen writes format {self.format_version} (derived: {', '.join(self.derived) or 'none'})"
                )
                return
            salvage = salvage_path(self.path)
            self._f = self._create(salvage)
            # keep attributes the old run added with set_attrs() (the caller may set them again)
            late = {k: v for k, v in stored.items() if k not in RESERVED_ATTRS and k not in self._attrs}
            if late:
                self._write_attrs(late)
            try:
                self.recovered = self._salvage(old)
                self._flush()
            except BaseException:
                self._close_file(self._f, raising=False)
                salvage.unlink(missing_ok=True)
                raise
        finally:
            old.close()
        os.replace(salvage, self.partial)

    def _start_over(self, why: str) -> None:
        warnings.warn(f"{self.partial}: {why}; starting over in a fresh file", StoreWarning, stacklevel=4)
        self.partial.unlink()
        self._f = self._create(self.partial)

    def _check_resume_match(self, stored: dict[str, Any], layout: StoreLayout | None) -> None:
        def mismatch(what: str) -> ResumeMismatchError:
            return ResumeMismatchError(
                f"{self.partial} was made with other settings ({what}); resume with the same settings or pass --overwrite to start over"
            )

        if stored.get("format") != FORMAT_NAME:
            raise mismatch("it is not a pastegen tuple file")
        if stored.get("format_version") not in READABLE_VERSIONS:  # (a readable other version starts over)
            raise mismatch(f"format version {stored.get('format_version')!r}, this pastegen writes {self.format_version}")
        if layout is None:
            raise mismatch("it has no I dataset")
        mine = self.layout
        for name in ("count", "height", "width"):
            if getattr(layout, name) != getattr(mine, name):
                raise mismatch(f"{name}: partial file has {getattr(layout, name)}, this run {getattr(mine, name)}")
        theirs = layout.param_fields
        for name in sorted(set(theirs) | set(mine.param_fields)):
            if name not in mine.param_fields:
                raise mismatch(f"param field {name!r} is in the partial file but not in this run")
            if name not in theirs:
                raise mismatch(f"param field {name!r} is in this run but not in the partial file")
            if theirs[name] != mine.param_fields[name]:
                (s1, d1), (s2, d2) = theirs[name], mine.param_fields[name]
                raise mismatch(f"param field {name!r}: partial file has shape {s1} {d1}, this run {s2} {d2}")
        if stored.get("compression") != self.compression:
            raise mismatch(f"compression: partial file uses {stored.get('compression')}, this run {self.compression}")
        theirs_names = set(json_list(stored.get("run_attrs"))) - VOLATILE_ATTRS
        mine_names = set(self._run_names) - VOLATILE_ATTRS
        mine_values = self._decoded_attrs()
        for name in sorted(theirs_names | mine_names):
            if name not in mine_names:
                raise mismatch(f"attribute {name!r}: partial file has {short_repr(stored.get(name))}, this run has none")
            if name not in theirs_names:
                raise mismatch(f"attribute {name!r}: partial file has none, this run has {short_repr(mine_values[name])}")
            if canonical_json(stored.get(name)) != canonical_json(mine_values[name]):
                raise mismatch(f"attribute {name!r}: partial file has {short_repr(stored.get(name))}, this run {short_repr(mine_values[name])}")

    def _decoded_attrs(self) -> dict[str, Any]:
        return {k: (json.loads(v) if k in self._json_names else v) for k, v in self._attrs.items()}

    def _salvage(self, old: h5py.File) -> int:
        """Copy the tuples of ``old`` that are flagged written and check out; returns how many.

        A row chunk (``written``, ``source_index``, ``params/...``) torn by a process killed while
        the writer rewrote it in place fails its checksum; its rows are read from the raw bytes
        (:func:`~pastegen.store.rows.read_rows_torn`) and kept for the tuples flagged written. A
        flag is set only after a flush that wrote the tuple's arrays and rows had returned, and
        flags only ever go from 0 to 1, so a flag of 1 in a torn ``written`` chunk is a tuple that
        was flushed, and its rows in a torn chunk are bytes the interrupted write rewrote with the
        same values. (Before, such a tear discarded every tuple of the chunk: up to 16,384 tuples
        of ``written``; killed in the middle of a flush under load, the store's own kill test
        recovered 0 of 12 flushed tuples in about 1 run of 8.) Each tuple's arrays are still
        checked through their own checksums.
        """
        h, w = self.layout.height, self.layout.width
        flags, ok, torn = read_rows_torn(old["written"])
        good = (ok | torn) & (flags == 1)
        if not good.any():
            return 0
        src, ok, torn = read_rows_torn(old["source_index"])
        good &= ok | torn
        params = {}
        for name in self.layout.param_fields:
            params[name], ok, torn = read_rows_torn(old["params"][name])
            good &= ok | torn
        dss = {name: old[name] for name in self.stored}
        kept = 0
        for k in np.flatnonzero(good):
            i = int(k)
            arrays, raw = {}, {}
            try:
                for name, ds in dss.items():
                    offset = (i,) + (0,) * (ds.ndim - 1)
                    info = ds.id.get_chunk_info_by_coord(offset)
                    if info.byte_offset is None:
                        raise KeyError("chunk not allocated")
                    arrays[name] = ds[i]  # checks fletcher32
                    raw[name] = ds.id.read_direct_chunk(offset)
            except Exception:  # noqa: BLE001 - a torn or missing chunk: generate this tuple again
                continue
            if tuple_problems(arrays, h, w, self.derived):
                continue
            for name, (mask, data) in raw.items():
                offset = (i,) + (0,) * (self._ds[name].ndim - 1)
                if name in self.uncompressed and mask != 1:  # a partial file of an earlier rule
                    mask, data = raw_chunk(arrays[name])
                self._write_chunk(name, offset, data, mask)
            for name, buf in self._params.items():
                buf.set(i, params[name][i])
            self._source.set(i, src[i])
            self._mark(i)
            kept += 1
        return kept

    # -- writing -------------------------------------------------------------------------------

    def _live(self) -> h5py.File:
        if self._committed:
            raise StoreError(f"{self.path} was already committed")
        if self._f is None or not self._f.id.valid:
            raise StoreError(f"the writer of {self.path} is closed; reopen it with resume=True")
        if os.getpid() != self._pid:
            raise StoreError("a TupleWriter cannot be used in a forked process; write from the process that created it")
        return self._f

    def pending(self) -> list[int]:
        """Indices not written yet (all of them for a fresh file), in increasing order."""
        return np.flatnonzero(~self._written).tolist()

    def write(
        self,
        index: int,
        arrays: Mapping[str, np.ndarray] | EncodedTuple,
        params: Mapping[str, Any],
        source_index: int,
    ) -> None:
        """Store tuple ``index``.

        Parameters
        ----------
        index : int
            ``0 <= index < count``; each index is written once.
        arrays : mapping or EncodedTuple
            ``I``, ``I_T``, ``I_S`` as (H, W, 3) uint8 and ``M`` as (H, W) uint8 of 0/1, compressed
            and checksummed here by HDF5; ``I_T`` is not stored (readers rebuild it as
            ``I·(1−M)``), so it may be left out, and when given it must be exactly that
            (:class:`StoreError` otherwise: nothing is silently lost). Or the same arrays already
            encoded by :func:`~pastegen.store.encode_tuple` (in a worker process; chunks of
            ``I``, ``I_S``, ``M`` only), whose chunks are stored as they are
            (``H5Dwrite_chunk``): ~0.8 ms per 512x512 tuple here instead of ~3.5 ms (blosc-lz4) to
            ~25 ms (gzip) with compression. Either way the file reads the same (the chunks are
            byte-identical except with lzf; see :mod:`pastegen.store.encode`). Only shapes,
            dtypes, ``M``'s values and ``I_T`` are checked (by :func:`encode_tuple` for an encoded
            tuple; here only its compression, size and chunk lengths); :func:`verify` checks the
            rest.
        params : mapping
            One value per field of the layout, castable to the field's dtype and shape.
        source_index : int
            Index of the source photo in the run's source list.
        """
        self._live()
        try:
            i = operator.index(index)
        except TypeError:
            raise StoreError(f"tuple index must be an integer, got {index!r}") from None
        if not 0 <= i < self.layout.count:
            raise IndexError(f"tuple index {i} out of range for a file of {self.layout.count} tuples")
        if self._written[i]:
            raise StoreError(f"tuple {i} was already written to {self.partial}")
        h, w = self.layout.height, self.layout.width
        if isinstance(arrays, EncodedTuple):
            chunks = self._check_encoded(i, arrays)
            checked = None
        else:
            checked = check_tuple_arrays(arrays, h, w, f"tuple {i}", self.derived)
        fields = self.layout.param_fields
        if set(params) != set(fields):
            missing, extra = sorted(set(fields) - set(params)), sorted(set(params) - set(fields))
            raise StoreError(f"tuple {i}: params do not match the layout (missing {missing}, unexpected {extra})")
        values = {}
        for name, (shape, dtype) in fields.items():
            v = np.asarray(params[name])
            if v.shape != shape or v.dtype.kind not in "biuf":
                raise StoreError(f"tuple {i}: param {name!r} must be {shape} {dtype}, got {v.shape} {v.dtype}")
            cv = v.astype(dtype)
            if cv.dtype != v.dtype and not np.array_equal(cv.astype(v.dtype), v, equal_nan=v.dtype.kind == "f"):
                raise StoreError(f"tuple {i}: param {name!r} has values that {dtype} cannot hold exactly")
            values[name] = cv
        try:
            src = operator.index(source_index)
        except TypeError:
            raise StoreError(f"tuple {i}: source_index must be an integer, got {source_index!r}") from None
        if checked is not None:
            for name in self.stored:
                if name in self.uncompressed:
                    mask, data = raw_chunk(checked[name])
                    self._write_chunk(name, self._chunk_offset[name](i), data, mask)
                else:
                    self._ds[name][i] = checked[name]
        else:
            for name in self.stored:
                mask, data = chunks[name]
                self._write_chunk(name, self._chunk_offset[name](i), data, mask)
        for name, v in values.items():
            self._params[name].set(i, v)
        self._source.set(i, src)
        self._mark(i)

    def _write_chunk(self, name: str, offset: tuple, data: Any, mask: int) -> None:
        """Write one chunk as it is, and tell the write-behind how the file's size moved (from
        which it finds the bytes that surely hold chunk data, whose pages it may drop once
        synced: :meth:`_WriteBehind.chunk_written`). A wrong guess could only drop a clean page
        that HDF5 then reads back."""
        assert self._f is not None  # called while the file is open
        fid = self._f.id
        before = fid.get_filesize()
        self._ds[name].id.write_direct_chunk(offset, data, mask)
        self._behind.chunk_written(before, fid.get_filesize(), memoryview(data).nbytes)

    def _check_encoded(self, i: int, enc: EncodedTuple) -> dict[str, tuple[int, Any]]:
        """The chunks of an encoded tuple after the checks that need no decoding."""
        h, w = self.layout.height, self.layout.width
        if enc.compression != self.compression:
            raise StoreError(f"tuple {i}: encoded with compression {enc.compression}, but {self.partial.name} uses {self.compression}")
        if (enc.height, enc.width) != (h, w):
            raise StoreError(f"tuple {i}: encoded for {enc.height}x{enc.width} images, but the file holds {h}x{w}")
        if set(enc.chunks) != set(self.stored):
            not_stored = f" ({', '.join(self.derived)} is not stored)" if self.derived else ""
            raise StoreError(
                f"tuple {i}: encoded chunks must be exactly {', '.join(self.stored)}{not_stored}, got {', '.join(sorted(enc.chunks))}"
            )
        out = {}
        for name in self.stored:
            try:
                mask, data = enc.chunks[name]
                mask = operator.index(mask)
                size = memoryview(data).nbytes
            except (TypeError, ValueError):
                raise StoreError(f"tuple {i}: encoded chunk {name} must be (filter_mask, bytes)") from None
            raw = h * w * (1 if name == "M" else 3)
            # bit 0: the optional compression filter was skipped (the chunk is raw); fletcher32 always ran
            if mask not in (0, 1) or (mask == 1 and self.compression == "none"):
                raise StoreError(f"tuple {i}: encoded chunk {name} has filter mask {mask}; expected 0 or 1 (compression skipped)")
            if mask != 1 and name in self.uncompressed:
                raise StoreError(f"tuple {i}: encoded chunk {name} is compressed, but {self.compression} files store {name} unfiltered (filter mask 1)")
            if (mask == 1 or self.compression == "none") and size != raw + 4:
                raise StoreError(f"tuple {i}: encoded chunk {name} holds {size} bytes, expected {raw + 4} (raw data and checksum)")
            if size <= 4:
                raise StoreError(f"tuple {i}: encoded chunk {name} holds only {size} bytes")
            out[name] = (mask, data)
        return out

    def _mark(self, i: int) -> None:
        self._written[i] = True
        self._unflagged.append(i)
        if len(self._unflagged) >= self.flush_every or time.monotonic() - self._last_flush > _FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        """Data, parameters and metadata to disk; then the ``written`` flags of what was flushed;
        then the write-behind of all of it.

        The flags are written before the write-behind starts: a write into a page the background
        ``fdatasync`` is writing waits until the disk has it. With the flags written after the
        sync started, each flush's 1 kB flags write waited 14-24 ms on the project's virtual
        disk (``strace``), half of the writer's flush time; measured on a 2-vCPU Zen 4 machine
        (``make --jobs 2``, 1,200 512x512 tuples, alternating runs, medians of 4 and of 6):
        519 → 582 and 544 → 579 tuples/s to disk (627 and 659 on tmpfs).
        """
        f = self._f
        assert f is not None  # called while the file is open
        for buf in self._params.values():
            buf.flush()
        self._source.flush()
        f.flush()
        if self._unflagged:
            for i in self._unflagged:
                self._flags.set(i, 1)
            self._flags.flush()
            self._unflagged.clear()
        self._behind.after_flush(f)
        self._last_flush = time.monotonic()

    def flush(self) -> None:
        """Flush now (the writer also flushes on its own every ``flush_every`` tuples)."""
        self._live()
        self._flush()

    def _write_attrs(self, attrs: Mapping[str, Any]) -> None:
        encoded, json_names = self._encode_attrs(attrs)
        assert self._f is not None  # called while the file is open
        a = self._f.attrs
        names = set(json_list(decode_value(a["json_attrs"])))
        for name, value in encoded.items():
            if name in a:
                del a[name]
            a[name] = value
            names.discard(name)
        names.update(json_names)
        a["json_attrs"] = json.dumps(sorted(names))

    def set_attrs(self, **attrs: Any) -> None:
        """Add or replace root attributes (e.g. a summary at the end); same rules as ``attrs``."""
        self._live()
        self._write_attrs(attrs)

    def commit(self) -> Path:
        """Check every index was written, mark the file complete and rename it into place.

        Returns
        -------
        Path
            The final path.

        Raises
        ------
        IncompleteFileError
            Some indices were not written (the writer stays open).
        """
        f = self._live()
        missing = self.pending()
        if missing:
            raise IncompleteFileError(
                f"cannot commit {self.path}: {len(missing)} of {self.layout.count} tuples not written (first: {missing[0]})"
            )
        self._flush()
        f.attrs["complete"] = 1
        f.flush()
        self._close_file(f)
        fsync_path(self.partial)
        os.replace(self.partial, self.path)
        fsync_dir(self.path.parent)
        self._committed = True
        return self.path

    def close(self) -> None:
        """Flush and close without committing; the ``.partial`` file stays for ``resume=True``."""
        f = self._f
        if self._committed or f is None or not f.id.valid or os.getpid() != self._pid:
            return
        try:
            self._flush()
        except BaseException:
            self._close_file(f, raising=False)
            raise
        self._close_file(f)

    def _close_file(self, f: h5py.File, *, raising: bool = True) -> None:
        """Close ``f`` once the background ``fdatasync`` is done; its error is raised after the close
        (or dropped with ``raising=False``, while another error propagates)."""
        try:
            self._behind.wait()
        except OSError:
            if raising:
                raise
        finally:
            f.close()

    def __enter__(self) -> TupleWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if not self._committed and self._f is not None and self._f.id.valid:
                warnings.warn(
                    f"TupleWriter for {self.path} closed without commit(); {self.partial} is left for resume=True",
                    StoreWarning,
                    stacklevel=2,
                )
            self.close()
            return
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never mask the exception that ended the block
            f = self._f
            if f is not None and f.id.valid:
                try:
                    self._close_file(f, raising=False)
                except Exception:  # noqa: BLE001
                    pass

    def __repr__(self) -> str:
        state = "committed" if self._committed else f"{int(self._written.sum())}/{self.layout.count} written"
        return f"TupleWriter({str(self.path)!r}, {state})"
