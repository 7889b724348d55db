"""Where ``make``'s rendering threads run: one per CPU when they are as many as the CPUs.

``make --jobs N`` runs N rendering threads beside the writer (the calling thread): N + 1 busy
threads. When N equals the number of CPUs this process may run on, the virtual CPUs of the
project's 2-vCPU machine sat idle for part of each run although both rendering threads had work,
more so when writing to a disk, where the writer blocks and wakes more often. A woken thread is
first placed on the waker's CPU, and the likely cause is that the two rendering threads were at
times queued on one CPU while the other idled. Pinning rendering thread ``k`` to the ``k``-th
allowed CPU keeps one on each, and the idle time per run fell (0.55 → 0.27 s, 0.49 → 0.41 s over
10 runs). The writer and every other thread stay free to move.

Measured on the project's 2-vCPU machine (AMD EPYC Zen 4, ext4 disk; ``make --jobs 2``, 1,200
512x512 face tuples, runs alternating in one process; ``benchmarks/README.md``), pinned against
free, medians:

- to disk 612 → 639 tuples/s over 10 pairs (8 of them faster), 579 → 647 and 604 → 628 over 5;
- on tmpfs 682 → 689, 676 → 674, 662 → 677;
- beside a busy process that may run anywhere: 429 → 488 to disk, 489 → 524 on tmpfs; beside one
  pinned to the first CPU: 292 → 331 and 323 → 339.

With fewer threads than CPUs nothing is pinned: the scheduler can then put them on free CPUs,
which fixed ones could not use. ``PASTEGEN_MAKE_PIN=0`` turns pinning off.

A thread that a pinned thread starts inherits its single-CPU mask for good. The only pool a
rendering thread could start is OpenCV's (``cv2.resize`` of the crop). :func:`opencv_threads` keeps
it on the calling thread while pinned threads render: both CPUs already render, so its pool
would only compete with them. The pixels are the same either way.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

#: Environment variable that turns the pinning of ``make``'s rendering threads off (``0``).
PIN_ENV = "PASTEGEN_MAKE_PIN"


def rendering_cpus(jobs: int) -> list[int] | None:
    """The CPUs to pin ``jobs`` rendering threads to, one each, or None to leave them free.

    Pinned only where the platform can (Linux's ``sched_setaffinity``), with at least two
    threads, exactly as many as the CPUs this process may run on, and ``PASTEGEN_MAKE_PIN``
    not ``0``.
    """
    get = getattr(os, "sched_getaffinity", None)
    if get is None or not hasattr(os, "sched_setaffinity") or os.environ.get(PIN_ENV, "1").strip() == "0":
        return None
    try:
        cpus = sorted(get(0))
    except OSError:
        return None
    return cpus if jobs >= 2 and jobs == len(cpus) else None


def pin_current_thread(cpu: int) -> bool:
    """Restrict the calling thread (not the process) to ``cpu``; False where that is refused."""
    try:
        os.sched_setaffinity(0, {cpu})  # pid 0: the calling thread on Linux
    except (OSError, AttributeError, ValueError):
        return False
    return True


@contextlib.contextmanager
def opencv_threads(n: int) -> Iterator[None]:
    """OpenCV's thread count set to ``n`` for the block, then restored (a no-op without OpenCV)."""
    try:
        import cv2
    except ImportError:
        yield
        return
    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)
