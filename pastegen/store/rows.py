"""Reading row-chunked datasets chunk by chunk, past damaged chunks (resume, reader, verify)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import first_line

if TYPE_CHECKING:  # pragma: no cover
    import h5py

__all__ = ["read_rows_tolerant"]


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
