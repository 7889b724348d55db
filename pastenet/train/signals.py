"""SIGINT and SIGTERM during training: a flag checked between steps."""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["StopFlag"]


class StopFlag:
    """SIGINT / SIGTERM set a flag checked between steps (a second SIGINT interrupts at once).

    A context manager: it installs its handlers on entry (in the main thread only; elsewhere
    signals cannot be handled) and restores the previous ones on exit.
    """

    def __init__(self) -> None:
        self.set = False
        self.signum: int | None = None  # the first signal received
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.set = True
        if self.signum is None:
            self.signum = signum
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
