"""Numba kernel behind :func:`pastegen.store.encode.fletcher32` (imported on first use only).

A top-level function, so ``cache=True`` keeps the compiled code between processes (a kernel
defined inside a function is compiled again in every process).
"""

from __future__ import annotations

import numba
import numpy as np

_ROW = 4096


@numba.njit(cache=True, nogil=True)
def fletcher32_sums(words):  # pragma: no cover - compiled
    """``(Σ v_i, Σ i·v_i mod 65535)`` of uint16 words ``v`` (the first sum exact)."""
    n = words.size
    m = np.uint64(65535)
    full = n // _ROW
    col = np.zeros(_ROW, np.uint64)  # column sums of the words laid out in rows of 4096
    s1 = np.uint64(0)
    iw = np.uint64(0)
    for r in range(full):
        base = r * _ROW
        rs = np.uint32(0)  # <= 4096 * 65535 < 2**32
        for k in range(_ROW):
            v = words[base + k]
            rs += np.uint32(v)
            col[k] += np.uint64(v)
        s1 += np.uint64(rs)
        iw = (iw + (np.uint64(base) % m) * (np.uint64(rs) % m)) % m
    for k in range(_ROW):
        iw = (iw + np.uint64(k) * (col[k] % m)) % m
    for i in range(full * _ROW, n):
        v = np.uint64(words[i])
        s1 += v
        iw = (iw + (np.uint64(i) % m) * v) % m
    return s1, iw
