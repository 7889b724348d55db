"""The figures a run logs: loss terms averaged between log steps and over processes, and speed."""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Mapping

import torch

from .distributed import reduce_mean

__all__ = ["LossMeter", "peak_memory_mb", "all_finite"]


class LossMeter:
    """Sums a step's loss terms until the next log step.

    The sums stay tensors on the device, so no step waits for the device until :meth:`read`.

    Parameters
    ----------
    step : int
        The step the run starts (or resumes) from: the first speed figure counts from it.
    """

    def __init__(self, step: int) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.t_last, self.step_last = time.perf_counter(), step

    def add(self, terms: Mapping[str, torch.Tensor]) -> None:
        """Add one step's loss terms (detached 0-d tensors, :class:`~pastenet.train.step.GanStep`)."""
        for key, value in terms.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1

    def read(self, step: int, batch: int, world_size: int, device: torch.device) -> dict[str, float]:
        """The mean of each term since the last read, over every process, then start again.

        A collective call in a multi-process job: every process reads at the same steps.

        Parameters
        ----------
        step : int
            The step just finished.
        batch, world_size : int
            Samples per step on each process, and the number of processes (for ``samples_s``).
        device : torch.device
            For the peak memory figure.

        Returns
        -------
        dict
            The terms' means (the same on every process), and this process's speed: ``it_s``
            (steps per second since the last read), ``samples_s`` (over all processes) and
            ``peak_mem_mb`` (:func:`peak_memory_mb`).
        """
        now = time.perf_counter()
        keys = sorted(self.sums)
        means = torch.stack([self.sums[k] for k in keys]).double().div(self.count)
        stats = dict(zip(keys, reduce_mean(means).cpu().tolist(), strict=True))
        stats["it_s"] = (step - self.step_last) / max(now - self.t_last, 1e-9)
        stats["samples_s"] = stats["it_s"] * batch * world_size
        stats["peak_mem_mb"] = peak_memory_mb(device)
        self.sums, self.count = {}, 0
        self.t_last, self.step_last = now, step
        return stats


def peak_memory_mb(device: torch.device) -> float:
    """The peak memory of this process in MiB: CUDA memory allocated on ``device``, else the RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def all_finite(stats: Mapping[str, float]) -> bool:
    """Whether every figure is finite."""
    return all(math.isfinite(v) for v in stats.values())
