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
from concurrent.futures import Future
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
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value kept for ``key``, else ``make()`` (called outside the lock), kept.

        A value another thread is making for the same key is waited for, not made twice (a paste
        factorises its seam's system in the background while it solves its prior; the editor
        prepares a region while the user places it). Should that thread fail, this one makes it.
        """
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
                return value
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = Future()
        assert pending is not None
        if not owner:
            try:
                return pending.result()
            except Exception:
                return self.get(key, make)
        try:
            value = make()
        except BaseException as e:
            with self._lock:
                del self._pending[key]
            pending.set_exception(e)
            raise
        with self._lock:
            del self._pending[key]
            self._values[key] = value
            while len(self._values) > self.kept:
                self._values.popitem(last=False)
        pending.set_result(value)
        return value

    def clear(self) -> None:
        """Forget every value."""
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
