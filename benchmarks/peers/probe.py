"""A fixed CPU-bound workload (no memory traffic) to see how many cores a noisy machine gives.

``CpuProbe()(image, params)`` ignores its arguments and computes ``sqrt`` over a 16 KiB array 200
times (about 1 ms). Its throughput with N processes divided by that with one process is the
parallelism the machine offers at that moment (N on an idle machine; less when other work runs).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CpuProbe"]


class CpuProbe:
    def __init__(self, spec=None, *, dtype="float32", rounds: int = 200) -> None:
        self.a = np.linspace(1.0, 2.0, 4096, dtype=np.float32)
        self.b = np.empty_like(self.a)
        self.rounds = int(rounds)

    def __call__(self, image=None, params=None):
        a, b = self.a, self.b
        for _ in range(self.rounds):
            np.sqrt(a, out=b)
            np.sqrt(b, out=b)
        return None
