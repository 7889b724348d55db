"""Timing of renderers: in this process, or in N worker processes started together.

Both ways run the same loop, :func:`render_loop`, over the same in-memory items ``(image,
params)``, cycling through them from an offset. Worker processes (``spawn``: no inherited
thread pools) receive the items once, when they start, and build each renderer once; a timed run
gives every worker the same number of tuples, lines them up on a barrier, and each reports its
own start and end (``time.perf_counter``, CLOCK_MONOTONIC, comparable across processes on
Linux). Throughput is ``N·n / (last end − first start)``: only the rendering is timed, no
start-up, no transfer of results (each worker keeps only its last tuple).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from . import make_renderer

__all__ = ["render_loop", "InProcess", "ProcessPool", "set_cv2_threads"]

_BARRIER_TIMEOUT_S = 900


def set_cv2_threads(n: int) -> None:
    import cv2

    cv2.setNumThreads(int(n))


def render_loop(renderer, items: Sequence, n: int, offset: int) -> tuple[float, float]:
    """Render ``n`` tuples of ``items`` starting at ``offset``; returns (start, end) perf_counter.

    A renderer with a ``render_many(items, offset, n)`` method renders them in its own batches.
    """
    count = len(items)
    many = getattr(renderer, "render_many", None)
    if many is not None:
        t0 = time.perf_counter()
        many(items, offset, n)
        return t0, time.perf_counter()
    t0 = time.perf_counter()
    for k in range(offset, offset + n):
        image, params = items[k % count]
        renderer(image, params)
    return t0, time.perf_counter()


def _key(name: str, options: dict) -> tuple:
    return (name, tuple(sorted(options.items())))


class InProcess:
    """Renderers run in this process (one process; threads as the renderer's options say)."""

    processes = 1

    def __init__(self, items: Sequence, spec) -> None:
        self.items, self.spec = items, spec
        self.renderers: dict[tuple, Any] = {}

    def renderer(self, name: str, options: dict):
        key = _key(name, options)
        if key not in self.renderers:
            self.renderers[key] = make_renderer(name, self.spec, **options)
        return self.renderers[key]

    def run(self, name: str, options: dict, n: int, offset: int = 0) -> float:
        """Tuples per second over ``n`` tuples."""
        t0, t1 = render_loop(self.renderer(name, options), self.items, n, offset)
        return n / (t1 - t0)

    def close(self) -> None:
        self.renderers.clear()


# --- worker side ----------------------------------------------------------------------------------

_W: dict[str, Any] = {}


def _init(items, spec, barrier, cv2_threads: int, env: dict) -> None:
    os.environ.update(env)
    set_cv2_threads(cv2_threads)
    _W.update(items=items, spec=spec, barrier=barrier, renderers={})


def _task(args) -> tuple[float, float, int, int]:
    name, options, n, offset = args
    key = _key(name, options)
    try:
        r = _W["renderers"].get(key)
        if r is None:
            r = _W["renderers"][key] = make_renderer(name, _W["spec"], **options)
    except BaseException:
        _W["barrier"].abort()  # release the other workers instead of leaving them waiting
        raise
    _W["barrier"].wait(timeout=_BARRIER_TIMEOUT_S)
    t0, t1 = render_loop(r, _W["items"], n, offset)
    return t0, t1, n, os.getpid()


class ProcessPool:
    """``processes`` spawned workers holding the items; each timed run uses every worker once."""

    def __init__(self, items: Sequence, spec, processes: int, *, cv2_threads: int = 1, env: dict | None = None) -> None:
        self.processes = int(processes)
        self.items = items
        ctx = mp.get_context("spawn")
        self.barrier = ctx.Barrier(self.processes)
        self.pool = ctx.Pool(self.processes, initializer=_init, initargs=(items, spec, self.barrier, cv2_threads, dict(env or {})))
        self._lock = threading.Lock()

    def run(self, name: str, options: dict, n: int, offset: int = 0) -> float:
        """Tuples per second of all workers together, each rendering ``n`` tuples."""
        step = max(1, len(self.items) // self.processes)
        tasks = [(name, options, n, offset + j * step) for j in range(self.processes)]
        try:
            res = self.pool.map(_task, tasks, chunksize=1)
        except BaseException:
            self.barrier.reset()
            raise
        pids = {r[3] for r in res}
        if len(pids) != self.processes:
            raise RuntimeError(f"expected {self.processes} distinct workers, got {len(pids)}")
        start = min(r[0] for r in res)
        end = max(r[1] for r in res)
        return sum(r[2] for r in res) / (end - start)

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
