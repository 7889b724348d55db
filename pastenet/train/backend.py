"""Where and how a run computes: the process group, the device, precision and memory format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..devices import resolve_device
from ..errors import ConfigError
from .distributed import World, world_from_env
from .options import TrainOptions

__all__ = ["Backend", "start_backend", "cpu_threads", "training_threads", "torch_threads"]


def start_backend(options: TrainOptions) -> tuple[World, torch.device]:
    """Join the process group (torchrun) and pick this process's device.

    On CUDA it also selects the device and turns on cuDNN's benchmark mode (the fastest
    convolution for each fixed shape) and TF32 for the float32 parts (the gradient penalty runs D
    in float32).

    Parameters
    ----------
    options : TrainOptions
        ``device``: auto (CUDA when present), cpu, cuda or cuda:N (each process takes its
        ``LOCAL_RANK``'s device).

    Returns
    -------
    (World, torch.device)
    """
    cuda = options.device.startswith("cuda") or (options.device == "auto" and torch.cuda.is_available())
    world = world_from_env("cuda" if cuda else "cpu")
    device = resolve_device(options.device, local_rank=world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return world, device


def cpu_threads(threads: int, *, workers: int, processes: int = 1, cores: int | None = None, current: int | None = None) -> int:
    """The torch threads a training process on the CPU runs with.

    A run with the Poisson prior has its data loader workers solve a Poisson blend for every
    tuple, as much CPU as the networks' step; with one torch thread per core on top, the threads
    wait on each other's preempted work (on 2 cores with 2 such workers: 1.85 it/s with 2 threads,
    2.9 with 1; ``benchmarks/README.md``). Workers that only read a tuple file or render tuples
    leave the cores mostly free, and there all threads are faster (tiny from a file: 5.5-6.1
    against 4.0; a stream without the prior: 5.0 against 2.7-3.6). So ``0`` (auto) gives each
    process its share of the cores less one per busy worker, and never more threads than the
    process already has (``OMP_NUM_THREADS`` or an earlier ``torch.set_num_threads`` stay an upper
    bound).

    Parameters
    ----------
    threads : int
        The option: ``0`` for auto, else the count itself.
    workers : int
        Busy data loader workers of this process (those that Poisson-blend each tuple; the
        trainer passes 0 for the others).
    processes : int
        Training processes on this machine (torchrun's local world size).
    cores : int, optional
        Cores this process may run on (default: its CPU affinity).
    current : int, optional
        The process's torch threads now (default: ``torch.get_num_threads()``).

    Returns
    -------
    int
        At least 1.
    """
    if threads:
        return int(threads)
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if current is None:
        current = torch.get_num_threads()
    return max(1, min(int(current), cores // max(1, processes) - workers))


def training_threads(options: TrainOptions, *, cores: int | None = None, current: int | None = None) -> int:
    """:func:`cpu_threads` for a run's options: its workers count as busy with the Poisson prior.

    With data echoing (``--echo K``) the workers prepare ``K`` times fewer tuples per step, so
    ``workers // K`` of them count as busy (on 2 cores with the faces zoo command at 256, echo 4,
    one worker: 2.19 it/s with 2 torch threads, while G's step alone runs at 2.06 on one thread;
    ``benchmarks/README.md``, "Data echoing"). The processes on this machine are torchrun's
    ``LOCAL_WORLD_SIZE`` (1 without torchrun); ``cores`` and ``current`` as for :func:`cpu_threads`.
    """
    busy = options.workers // options.echo if options.prior != "none" else 0
    try:
        processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        processes = 1
    return cpu_threads(options.threads, workers=busy, processes=processes, cores=cores, current=current)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(count)``, then restore the previous count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Backend:
    """This process's place in the job, its device, and how the networks run there."""

    world: World
    device: torch.device
    amp: bool = False  # bf16 autocast of the networks' forward passes
    channels_last: bool = False  # channels_last memory format of networks and batches

    @property
    def memory_format(self) -> torch.memory_format:
        """The networks' and batches' memory format."""
        return torch.channels_last if self.channels_last else torch.contiguous_format

    @classmethod
    def of(cls, world: World, device: torch.device, options: TrainOptions) -> Backend:
        """Resolve ``options.amp`` and ``options.channels_last`` ("auto": on CUDA) on ``device``.

        Parameters
        ----------
        world : World
        device : torch.device
        options : TrainOptions

        Returns
        -------
        Backend

        Raises
        ------
        ConfigError
            ``amp="bf16"`` on a device other than CUDA.
        """
        amp = device.type == "cuda" and options.amp in ("auto", "bf16") or options.amp == "bf16"
        if amp and device.type != "cuda":
            raise ConfigError("--amp bf16 needs a CUDA device")
        channels_last = options.channels_last == "on" or (options.channels_last == "auto" and device.type == "cuda")
        return cls(world=world, device=device, amp=amp, channels_last=channels_last)
