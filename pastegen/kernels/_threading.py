"""Numba's threading layer, chosen and launched before any parallel kernel of pastegen runs.

Measured on the project's 2-core KVM machine (AMD EPYC, Python 3.11, numba 0.68) with
``benchmarks/kernel_compile.py`` (``results/kernel_compile.json`` holds the last run): the cost
of one empty 2-thread parallel region, and 512x512 uint8 face tuples/s of
:func:`pastegen.kernels.render_tuple` on 1 / 2 threads, without and with ("burn") a second
process spinning on one core. The machine is shared with other jobs, so compare within a row;
the last run first, then the range seen over four runs:

=====================================  =============  =================  =======================
layer                                  empty region   no burner, 1 / 2   burn, 1 / 2 threads
=====================================  =============  =================  =======================
omp, spinning (``OMP_WAIT_POLICY``     3 µs (p90 up   1445 / 1876 x1.30  1421 / 1065 x0.75
unset: Numba's default here)           to 7.8 ms)     x0.10 - x1.58      x0.06 - x1.23
workqueue                              52-102 µs      1401 / 964 x0.69   1442 / 1096 x0.76
                                                      x0.63 - x0.83      x0.64 - x0.92
omp, ``OMP_WAIT_POLICY=passive``       10-46 µs       1516 / 1885 x1.24  1528 / 1437 x0.94
(pastegen's choice)                                   x0.94 - x1.24      x0.91 - x0.99
=====================================  =============  =================  =======================

Spinning OpenMP is fast on an idle machine but collapses (down to 1/16 of one thread: 28-64
tuples/s) whenever another process wants a core, its idle threads burning the CPU the working
ones need. ``workqueue`` never spins, but its threads poll with ``usleep`` naps, ~50-100 µs per
parallel region and two regions per tuple: 2 threads lose to 1 here. Passive OpenMP costs a
futex wake-up per region (~10 µs; ~45 µs when the other vCPU was halted) and, with the kernels'
dynamic row blocks, stays within a few per cent of one thread when the other core is taken.

Splitting one tuple across threads has a floor on a virtual machine. Measured 2026-12-03 on a
2-vCPU KVM guest (AMD EPYC, Zen 5, AVX-512; ``render_tuple`` of 512x512 face tuples, ~0.55 ms
each on one thread), 2 threads against 1, idle / with a process spinning on one core:

=============================================  ==============  ===================
libgomp waiting                                idle            burn
=============================================  ==============  ===================
passive (pastegen's choice)                    x1.30           x0.92
``GOMP_SPINCOUNT`` 1,000 / 10,000 / 100,000    x1.58 / x1.73   x0.80 / x0.54
                                               / x1.68         / x0.43
active (spin forever)                          x1.77           x0.87
workqueue                                      x0.77           x0.71
=============================================  ==============  ===================

Each tuple has two parallel passes (the colour transforms need the mask's mean, a reduction
over the whole warp), so two fork-join barriers. A sleeping (passive) thread is woken through
the hypervisor: ~40-80 µs per barrier here, more on other hosts (an AVX-512 Xeon guest measured
threads=2 at 0.8x of one thread), against ~0.3 ms of work per thread per tuple. Spinning
removes the wake-up but takes the CPU from a competing process, and from our own other thread
when they share a core. No waiting policy gives both, so :func:`pastegen.kernels.render_tuples`
parallelises across whole tuples instead: one hand-off per batch, each tuple on one thread (since
2026-12-03 on Python threads of its own, not on this layer: in a process where PyTorch's GNU
OpenMP was loaded first, e.g. by importing albumentations, the layer is ``workqueue`` and
render_tuples on it scaled only 1.3x). On this layer its threads=2 ran at 1.5-1.8x of one
thread with 32-64 tuples per call in quiet A/B runs (1.2-1.4x in the two full
``benchmarks/generation.py`` runs of that day, whose rounds spread 1.0-1.8x; two processes
scaled 1.5-2.1x in the same runs), the rest being the shared machine and ~40 µs of serial
Python per tuple (its kernel arguments), and at 1.04x rather than 0.85x with a competing process.

GNU OpenMP reads ``OMP_WAIT_POLICY`` once, when ``libgomp`` is loaded, so pastegen launches the
layer itself: unless the user chose one (``NUMBA_THREADING_LAYER``, or
``numba.config.THREADING_LAYER`` set to anything but ``"default"``), it selects ``omp`` and sets
``OMP_WAIT_POLICY=PASSIVE`` in the environment only for the moment Numba loads ``libgomp`` (an
``OMP_WAIT_POLICY`` the user set is kept; the variable is removed again afterwards, so OpenMP
runtimes loaded later, e.g. PyTorch's own, and child processes are unaffected). When the
system ``libgomp`` is already loaded (its policy fixed) or cannot be loaded, it selects
``workqueue`` instead: slower per call, never pathological. If the user chose ``omp``, the
passive policy is applied the same way. A layer already launched by other code is left alone.

Two more guards, used by :func:`pastegen.kernels.render_tuple`:

- GNU OpenMP is not fork-safe: a child forked after the parent ran an OpenMP region is killed
  by Numba if it starts one. :func:`parallel_allowed` is False in such a child, and the caller
  runs the serial kernel instead (same results).
- ``workqueue`` is not thread-safe; every parallel call of this package holds
  :data:`PARALLEL_LOCK`, and a caller that finds it taken runs the serial kernel instead.
"""

from __future__ import annotations

import os
import sys
import threading

import numba
from numba.np.ufunc import parallel as _parallel

__all__ = ["PARALLEL_LOCK", "launch", "layer", "parallel_allowed", "chosen_by_pastegen"]

#: Held while one of this package's parallel kernels runs.
PARALLEL_LOCK = threading.Lock()

_LAUNCH_LOCK = threading.Lock()
_CHOSEN = False  # pastegen selected the layer
_FORKED_AFTER_OMP = False  # this process was forked from one that had launched OpenMP


def _after_fork_in_child() -> None:
    global _FORKED_AFTER_OMP
    if _parallel._is_initialized and _parallel._threading_layer == "omp":
        _FORKED_AFTER_OMP = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _user_layer() -> str | None:
    """The layer the user asked for, or None for Numba's default."""
    env = os.environ.get("NUMBA_THREADING_LAYER", "").strip().lower()
    if env and env != "default":
        return env
    configured = str(numba.config.THREADING_LAYER).lower()  # type: ignore[attr-defined]  # a numba.config option, set at import
    return None if configured == "default" else configured


def _system_gomp_loaded() -> bool:
    """Whether the system ``libgomp.so.1`` is already mapped (its wait policy then fixed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            return any("/libgomp.so" in line for line in maps)
    except OSError:  # pragma: no cover - no procfs
        return False


def launch() -> None:
    """Choose the threading layer (see the module docstring) and launch Numba's threads.

    Idempotent and cheap once done; does nothing when a layer is already running.
    """
    global _CHOSEN
    if _parallel._is_initialized:
        return
    with _LAUNCH_LOCK:
        if _parallel._is_initialized:
            return
        user = _user_layer()
        if user is None:
            numba.config.THREADING_LAYER = "workqueue" if _system_gomp_loaded() else "omp"  # type: ignore[attr-defined]  # a numba.config option, set at import
            _CHOSEN = True
        may_use_omp = numba.config.THREADING_LAYER == "omp" or user == "threadsafe"  # type: ignore[attr-defined]  # a numba.config option, set at import
        patched = may_use_omp and "OMP_WAIT_POLICY" not in os.environ
        if patched:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            numba.get_num_threads()  # loads the layer and starts its threads
        except (ValueError, ImportError):
            if user is not None:
                raise
            numba.config.THREADING_LAYER = "workqueue"  # type: ignore[attr-defined]  # a numba.config option, set at import
            numba.get_num_threads()
        finally:
            if patched:
                del os.environ["OMP_WAIT_POLICY"]


def parallel_allowed() -> bool:
    """False in a child forked after the parent launched GNU OpenMP (a parallel call would abort)."""
    return not _FORKED_AFTER_OMP


def layer() -> str | None:
    """The threading layer Numba launched, or None before any parallel kernel ran."""
    if not _parallel._is_initialized:
        return None
    return _parallel.threading_layer()


def chosen_by_pastegen() -> bool:
    """Whether pastegen selected the layer (False: the user's or another library's choice)."""
    return _CHOSEN
