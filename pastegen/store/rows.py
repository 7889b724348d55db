"""Reading row-chunked datasets chunk by chunk, past damaged chunks (resume, reader, verify)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import first_line

if TYPE_CHECKING:  # pragma: no cover
    import h5py

__all__ = ["read_rows_tolerant", "read_rows_torn"]


def read_rows_tolerant(ds: h5py.Dataset) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, str]]]:
    """Read a row-chunked dataset chunk by chunk.

    Parameters
    ----------
    ds : h5py.Dataset
        A dataset chunked along its first axis (``written``, ``source_index``, ``params/...``).

    Returns
    -------
    values : ndarray
        The rows (zeros where a chunk could not be read).
    ok : ndarray of bool
        Which rows were read.
    failed : list of (start, stop, reason)
        The row ranges of the chunks that failed (checksum, I/O), with the first line of the error.
    """
    n = ds.shape[0]
    values = np.zeros(ds.shape, ds.dtype)
    ok = np.zeros(n, bool)
    failed = []
    step = ds.chunks[0] if ds.chunks else n
    for a in range(0, n, step):
        b = min(n, a + step)
        try:
            values[a:b] = ds[a:b]
            ok[a:b] = True
        except Exception as e:  # noqa: BLE001 - any HDF5 read failure means the rows are unusable
            failed.append((a, b, first_line(e)))
    return values, ok, failed


def read_rows_torn(ds: h5py.Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`read_rows_tolerant`, and a chunk that fails only its checksum read from its raw bytes.

    For resume (:meth:`pastegen.store.TupleWriter._salvage`). The writer rewrites a row chunk at
    every flush; the chunk's size never changes (the checksum is its only filter), so HDF5 writes
    it in place, and a process killed during that write (``SIGKILL``: Linux stops a write between
    two pages) leaves a chunk whose body is part new, part old and whose checksum is the old one.
    Rows that were already on disk before that write hold the same bytes in both versions; which
    rows those are is the caller's to know (the ``written`` flags, set only after their rows were
    flushed).

    Parameters
    ----------
    ds : h5py.Dataset
        A row-chunked dataset.

    Returns
    -------
    values : ndarray
        The rows (raw bytes for torn chunks; zeros where a chunk could not be read at all).
    ok : ndarray of bool
        Rows read through their checksum.
    torn : ndarray of bool
        Rows read from the raw bytes of a chunk whose checksum failed: the chunk is stored without
        compression (checksum only), with the filter run and the size of its body plus the
        4-byte checksum.
    """
    values, ok, failed = read_rows_tolerant(ds)
    torn = np.zeros_like(ok)
    if not failed or not ds.fletcher32 or ds.compression is not None or ds.shuffle or ds.scaleoffset is not None or ds.chunks is None:
        return values, ok, torn
    chunk_rows = ds.chunks[0]
    body_bytes = int(np.prod(ds.chunks, dtype=np.int64)) * ds.dtype.itemsize
    for a, b, _ in failed:
        try:
            mask, raw = ds.id.read_direct_chunk((a,) + (0,) * (ds.ndim - 1))
        except Exception:  # noqa: BLE001 - not allocated or unreadable: nothing to take
            continue
        if mask != 0 or len(raw) != body_bytes + 4:
            continue
        body = np.frombuffer(raw[:body_bytes], dtype=ds.dtype).reshape((chunk_rows, *ds.shape[1:]))
        values[a:b] = body[: b - a]
        torn[a:b] = True
    return values, ok, torn
