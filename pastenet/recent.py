"""A small cache of the last few results keyed by a mask's bits (thread-safe).

Pasting keeps work that depends on a region's shape alone for when the same region comes back
(moved, or prepared while it is placed): :mod:`pastenet.seam` its Poisson factorisations,
:mod:`pastenet.paste` the dilation of its context ring.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

__all__ = ["Recent", "mask_key"]


def mask_key(mask: np.ndarray, *extra: Hashable) -> tuple:
    """``(shape, *extra, digest of the packed bits)``: equal for equal boolean masks (and extras)."""
    return (mask.shape, *extra, hashlib.blake2b(np.packbits(mask).tobytes(), digest_size=16).digest())


class Recent:
    """The last ``kept`` values by key, the least recently used dropped first.

    Parameters
    ----------
    kept : int
        How many values are kept.
    """

    def __init__(self, kept: int) -> None:
        self.kept = int(kept)
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value kept for ``key``, else ``make()`` (called outside the lock), kept."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                return value
        value = make()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.kept:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
