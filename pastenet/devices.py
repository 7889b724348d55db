"""Which torch device a device name means: :func:`resolve_device` (training and pasting)."""

from __future__ import annotations

import torch

from .errors import ConfigError

__all__ = ["resolve_device"]


def resolve_device(device: str | torch.device = "auto", *, local_rank: int = 0) -> torch.device:
    """``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a device.

    ``"auto"`` and an unnumbered ``"cuda"`` mean GPU ``local_rank`` (this process's GPU under
    torchrun; 0 otherwise).

    Raises
    ------
    ConfigError
        An unknown device string, another device type, CUDA asked for where there is none, or a
        GPU number past the last GPU.
    """
    if isinstance(device, torch.device):
        dev = device
    elif device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError):
            raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!s} asked for but CUDA is not available; use --device cpu")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
        if dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device {device!s} does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif dev.type != "cpu":
        raise ConfigError(f"unsupported device {device!s}; use auto, cpu, cuda or cuda:N")
    return dev
