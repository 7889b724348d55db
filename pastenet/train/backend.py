"""Where and how a run computes: the process group, the device, precision and memory format."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..devices import resolve_device
from ..errors import ConfigError
from .distributed import World, world_from_env
from .options import TrainOptions

__all__ = ["Backend", "start_backend"]


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
