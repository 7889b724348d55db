"""What a running job leaves behind besides its stats: checkpoints and sample grids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..checkpoint import CHECKPOINTS_DIR, latest_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..errors import CheckpointError
from .distributed import World, any_rank
from .options import TrainOptions
from .rundir import grid_image, mask_outline
from .step import step_seed

if TYPE_CHECKING:
    from ..models import Generator

__all__ = ["CheckpointWriter", "sample_grid", "to_uint8_image"]


class CheckpointWriter:
    """Saves the job's state at a step: the main process writes, every process waits for it.

    Parameters
    ----------
    run_dir : Path or None
        The run folder (None on the other processes of a new run).
    modules : mapping
        The networks by name (:attr:`pastenet.train.networks.Networks.modules`).
    runner : GanStep
        Its optimisers' states are saved.
    options : TrainOptions
        Recorded in the checkpoint; ``fresh_batch`` (the data cursor) and ``keep``.
    config : ModelConfig
    world : World
    device : torch.device
        Where the processes agree on a failed save (see :meth:`save`).
    """

    def __init__(
        self, run_dir: Path | None, modules: Mapping[str, torch.nn.Module], runner: Any, options: TrainOptions,
        config: ModelConfig, world: World, device: torch.device,
    ) -> None:  # fmt: skip
        self.run_dir, self.modules, self.runner, self.options = run_dir, modules, runner, options
        self.config, self.world, self.device = config, world, device

    def save(self, step: int) -> Path | None:
        """Save the checkpoint of ``step`` (after ``step`` steps); a collective call.

        Returns
        -------
        Path or None
            The checkpoint written (None on the other processes).

        Raises
        ------
        CheckpointError
            The checkpoint cannot be saved (e.g. a full disk; the message says how to continue
            from the last complete one). Every process raises, so none waits for the others.
        """
        error: BaseException | None = None
        path = None
        if self.world.main and self.run_dir is not None:
            try:
                path = self._write(step)
            except Exception as e:  # noqa: BLE001 - raised again below, after the other processes hear of it
                error = e
        if any_rank(error is not None, self.device):  # also the barrier: the others wait for the save
            if error is not None:
                raise error
            raise CheckpointError(f"the main process could not save the checkpoint of step {step}; stopped")
        return path

    def _write(self, step: int) -> Path:
        assert self.run_dir is not None
        o = self.options
        state = {"step": step, "cursor": step * o.fresh_batch * self.world.size, **self.runner.state_dict(), "options": json.dumps(o.to_record())}
        try:
            return save_checkpoint(
                self.run_dir / CHECKPOINTS_DIR, step, modules=self.modules, state=state, model_record=self.config.to_record(), keep=o.keep
            )
        except CheckpointError as e:
            last = latest_checkpoint(self.run_dir / CHECKPOINTS_DIR)
            then = f"continue from {last.name} with: pastenet train --resume {self.run_dir}" if last is not None else "no checkpoint of this run is saved"
            raise CheckpointError(f"{e}; {then}") from e


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """[3,H,W] in [-1, 1] → HxWx3 uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


@torch.no_grad()
def sample_grid(G: Generator, batch: Mapping[str, torch.Tensor], device: torch.device, *, channels_last: bool, seed: int) -> np.ndarray:
    """Rows of (input X with the mask outlined, output Y, the loss's truth) on fixed inputs and noise.

    Parameters
    ----------
    G : nn.Module
        The generator (G_ema when the run keeps one).
    batch : mapping
        The grid's fixed inputs (:meth:`pastenet.train.datasource.TrainingData.grid_batch`).
    device : torch.device
    channels_last : bool
    seed : int
        The run's seed: the grid's noise is the same at every step.

    Returns
    -------
    ndarray
        An HxWx3 uint8 image.
    """
    from ..data import prepare
    from ..models import network_size, predict

    b = prepare(batch, device, channels_last=channels_last)
    gen = torch.Generator(device=device).manual_seed(step_seed(seed, 0, purpose=1))
    n = b["X"].shape[0]
    hs, ws = network_size(G.config, b["X"].shape[-2], b["X"].shape[-1])
    noise = [torch.randn(shape, generator=gen, device=device) for shape in G.noise_shapes(n, hs, ws)]
    Y = predict(G, b["composite"], b["M"], noise=noise, prior=b.get("prior"))
    rows = []
    for i in range(n):
        x = to_uint8_image(b["composite"][i])
        outline = mask_outline(b["M"][i, 0].cpu().numpy() > 0.5)
        x[outline] = (255, 0, 0)
        rows.append([x, to_uint8_image(Y[i]), to_uint8_image(b.get("truth", b["I"])[i])])
    return grid_image(rows)
