"""Worker processes that die with the process that started them.

joblib's ``loky`` workers outlive a parent that is killed (``SIGKILL``, the OOM killer): they wait
for their idle timeout (300 s) holding the parent's standard output and error, so a caller reading
``pastegen make``'s output through a pipe hangs. :func:`watch_parent`, run in each worker (as the
executor's ``initializer``; the scan's tasks call it again), starts a daemon thread that
ends the worker with ``os._exit`` within :data:`POLL_SECONDS` of its parent's death;
:func:`loky_parallel` makes such a pool.

It polls rather than using Linux's ``prctl(PR_SET_PDEATHSIG)``: that signal fires when the
*thread* that started the worker ends, which for a reusable executor started from a short-lived
thread would kill healthy workers.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

__all__ = ["POLL_SECONDS", "watch_parent", "loky_parallel"]

#: How often (seconds) a worker checks that its parent is alive.
POLL_SECONDS = 0.2

_watching: int | None = None
_lock = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (cannot be our parent, but be safe)
        return True
    return True


def _poll(parent: int, direct: bool, interval: float) -> None:
    while True:
        gone = os.getppid() != parent if direct else not _alive(parent)
        if gone:
            os._exit(1)  # the parent is gone: nobody will read this worker's results
        time.sleep(interval)


def watch_parent(parent_pid: int, interval: float = POLL_SECONDS) -> None:
    """In a worker process: exit as soon as the process ``parent_pid`` has ended.

    Idempotent, and a no-op when called in ``parent_pid`` itself (so a task may call it whether
    it runs in a worker or serially in the parent).

    Parameters
    ----------
    parent_pid : int
        The process that started the pool (``os.getpid()`` there).
    interval : float, optional
        Seconds between checks. Default :data:`POLL_SECONDS`.
    """
    global _watching
    parent_pid = int(parent_pid)
    if parent_pid == os.getpid():
        return
    with _lock:
        if _watching == parent_pid:
            return
        _watching = parent_pid
    # A direct child notices its parent's death by being re-parented; otherwise probe the pid.
    direct = os.getppid() == parent_pid
    if not direct and not _alive(parent_pid):
        os._exit(1)
    threading.Thread(
        target=_poll, args=(parent_pid, direct, float(interval)), name="pastegen-parent-watch", daemon=True
    ).start()


def loky_parallel(**kwargs: Any) -> Any:
    """``joblib.Parallel(backend="loky", **kwargs)`` whose workers watch this process.

    The executor's ``initializer`` runs :func:`watch_parent` in every worker as it starts (also
    in one that never gets a task). A joblib too old to pass ``initializer`` on to loky gets a
    plain pool; the tasks of :func:`pastegen.sources.scan_sources` then start the watch themselves.
    """
    from joblib import Parallel

    try:
        return Parallel(backend="loky", initializer=watch_parent, initargs=(os.getpid(),), **kwargs)
    except TypeError:
        return Parallel(backend="loky", **kwargs)
