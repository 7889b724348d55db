"""Multi-process training (torchrun): process-group set-up, gradient averaging, agreement.

Like StyleGAN2-ADA, the networks are not wrapped in ``DistributedDataParallel``: each process
computes the gradients of its share of the batch, then the gradients are averaged with one
``all_reduce`` per network. This works with the gradient penalty's double backward (which DDP's
hooks do not support) and makes a job of W processes with batch B compute the same update as one
process with batch W·B (the GAN's noise is drawn for the global batch on every process and
sliced, see :mod:`pastenet.train.loop`).

What every process must agree on goes through one ``all_reduce`` too: the logged figures are
averaged over the processes (:func:`reduce_mean`), and a stop (a signal, a non-finite loss, a
checkpoint that cannot be saved) is taken by every process when any one of them sees it
(:func:`any_rank`), so no process is left waiting in a collective call of a step the others
never reach.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["World", "world_from_env", "average_gradients", "broadcast_parameters", "reduce_mean", "any_rank"]


@dataclass(frozen=True)
class World:
    """This process's place in the job."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world_from_env(device_type: str) -> World:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).

    A single process (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) needs no process group. The backend
    is NCCL on CUDA and gloo on CPU.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo", rank=rank, world_size=size)
    return World(rank=rank, size=size, local_rank=local_rank)


def broadcast_parameters(module: torch.nn.Module, world: World) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if not world.distributed:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def average_gradients(module: torch.nn.Module, world: World) -> None:
    """Average the parameters' gradients over the processes (one flat all-reduce)."""
    if not world.distributed:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    offset = 0
    for p in params:
        n = p.numel()
        p.grad = flat[offset : offset + n].view_as(p).clone()
        offset += n


def _joined() -> bool:
    """Whether this process is in a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def reduce_mean(values: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the processes (element-wise); ``values`` itself in a single process.

    Parameters
    ----------
    values : torch.Tensor
        The same shape and dtype on every process (on the device of the process group's backend:
        CUDA for NCCL).

    Returns
    -------
    torch.Tensor
        A new tensor with every process's mean when a process group of more than one process is
        initialised, else ``values`` unchanged (the same object: no copy, no rounding).
    """
    if not _joined():
        return values
    total = values.clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total / dist.get_world_size()


def any_rank(flag: bool, device: torch.device | str | None = None) -> bool:
    """Whether ``flag`` is true on any process: every process gets the same answer.

    Every process must call it at the same point (it is a collective call when a process group
    of more than one process is initialised; ``flag`` itself otherwise).

    Parameters
    ----------
    flag : bool
        This process's flag (e.g. "a loss is not finite", "a signal arrived").
    device : torch.device or str, optional
        Where the flag's tensor goes: the device of the process group's backend (CUDA for
        NCCL); the CPU when None.

    Returns
    -------
    bool
    """
    if not _joined():
        return bool(flag)
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return bool(value.item() > 0)
