"""The run's model and networks: the resolved :class:`~pastenet.config.ModelConfig`, G, D, G_ema
and the update rule (:class:`~pastenet.train.step.GanStep`) with its settings from the options.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from ..config import ModelConfig
from ..errors import CheckpointError, ConfigError
from ..models import Discriminator, Generator
from .backend import Backend
from .distributed import World, broadcast_parameters
from .options import TrainOptions
from .step import GanStep, LearningRateSchedule, ema_beta

__all__ = ["Networks", "build_networks", "gan_step_kwargs", "resolve_model", "init_from"]


def resolve_model(options: TrainOptions, resolution: int, *, new_run: bool) -> ModelConfig:
    """The run's model: the recorded one, else the preset at the data's resolution.

    A new run's model also records how G's input is prepared (``prior``: paste does the same)
    and, unless given, the data's pixel scale (``work_side``): every pastegen crop mode brings the
    photos' shorter side to the tuple's side, so that side is ``resolution``.

    Parameters
    ----------
    options : TrainOptions
    resolution : int
        The data's tuple side.
    new_run : bool
        False for a resume (its recorded model is used as it is).

    Returns
    -------
    ModelConfig

    Raises
    ------
    ConfigError
        ``options.resolution`` or the recorded model's resolution differs from the data's.
    """
    if options.resolution is not None and resolution != options.resolution:
        raise ConfigError(f"--resolution {options.resolution}, but the tuples in {options.data} are {resolution}x{resolution}")
    config = options.model_config(resolution)
    if new_run:
        config = config.replace(prior=options.prior)
    if options.model is None and config.work_side is None:
        config = config.replace(work_side=int(resolution))
    return config


def gan_step_kwargs(options: TrainOptions, world: World) -> dict[str, Any]:
    """:class:`~pastenet.train.step.GanStep`'s optimiser, loss and noise settings from the options.

    Parameters
    ----------
    options : TrainOptions
    world : World
        The moving average's weight per step counts the samples of every process.

    Returns
    -------
    dict
        ``lr_g``, ``lr_d``, ``lr_schedule``, ``betas``, ``alpha``, ``gp_lambda``, ``drift_gamma``, ``recon``,
        ``border_weight``, ``border_px``, ``seed`` and ``ema_beta`` (None without an average).
    """
    return {
        "lr_g": options.lr_g,
        "lr_d": options.lr_d,
        "lr_schedule": LearningRateSchedule(options.steps, options.lr_rampdown),
        "betas": (options.beta1, options.beta2),
        "alpha": options.alpha,
        "gp_lambda": options.gp_lambda,
        "drift_gamma": options.drift_gamma,
        "recon": options.recon,
        "border_weight": options.border_weight,
        "border_px": options.border_px,
        "seed": options.seed,
        "ema_beta": ema_beta(options.ema_kimg, options.batch * world.size),
    }


@dataclass
class Networks:
    """G, D, the moving average of G (or None) and the step that updates them."""

    G: Generator
    D: Discriminator
    G_ema: Generator | None
    runner: GanStep

    @property
    def modules(self) -> dict[str, torch.nn.Module]:
        """The checkpoint's modules by name: ``G``, ``D`` and, with an average, ``G_ema``."""
        return {"G": self.G, "D": self.D, **({"G_ema": self.G_ema} if self.G_ema is not None else {})}

    @property
    def sampler(self) -> Generator:
        """The generator of the sample grids: G_ema when there is one (what paste and export use)."""
        return self.G_ema if self.G_ema is not None else self.G


def build_networks(options: TrainOptions, config: ModelConfig, backend: Backend, *, fine_tune: bool) -> Networks:
    """Build G and D from ``options.seed``, the same on every process, and their update rule.

    Parameters
    ----------
    options : TrainOptions
    config : ModelConfig
        The resolved model (:func:`resolve_model`).
    backend : Backend
    fine_tune : bool
        Load ``options.init_from``'s weights when given (a new run; a resume restores its own).

    Returns
    -------
    Networks
    """
    device, world = backend.device, backend.world
    torch.manual_seed(options.seed)
    # (Module.to takes memory_format, which torch's overloads of it leave out)
    G = Generator(config).to(device=device, memory_format=backend.memory_format)  # type: ignore[call-overload]
    D = Discriminator(config).to(device=device, memory_format=backend.memory_format)  # type: ignore[call-overload]
    if options.init_from and fine_tune:
        init_from(options.init_from, G, D, config, need_D=options.alpha > 0)
    broadcast_parameters(G, world)
    broadcast_parameters(D, world)
    # beyond the paper: a moving average of G's weights (StyleGAN2-ADA's G_ema), what paste and export use
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if options.ema_kimg > 0 else None
    # static shapes: training runs one batch shape; a new shape compiles another static graph, never a
    # dynamic-shape one (torch 2.11's Inductor failed an assertion on the colour-map G's, on CUDA)
    compiled = torch.compile(G, dynamic=False) if options.compile else None
    runner = GanStep(G, D, config, device, world, amp=backend.amp, compiled_G=compiled, G_ema=G_ema, **gan_step_kwargs(options, world))
    return Networks(G=G, D=D, G_ema=G_ema, runner=runner)


# the model fields that shape D alone (G's weights do not depend on them)
_D_FIELDS = ("resolution", "local_window", "d_channels", "d_local_channels", "d_features")


def init_from(path: str, G: torch.nn.Module, D_net: torch.nn.Module, config: ModelConfig, *, need_D: bool = True) -> None:
    """Load G and D weights from a checkpoint for fine-tuning (the optimisers start fresh).

    ``path`` is resolved as paste resolves it (:func:`pastenet.checkpoint.load_weights`): a run or
    checkpoint folder, or a ``.safetensors`` weights file of any name holding G and D. A
    checkpoint with a moving average of G (``G_ema``) gives G those averaged weights. Without
    ``need_D`` (a pure reconstruction run, ``--alpha 0``, which never runs D) a file holding G
    alone will do, such as an exported zoo model's weights.

    Parameters
    ----------
    path : str
    G, D_net : nn.Module
        The networks to load into.
    config : ModelConfig
        This run's model; the checkpoint's must equal it but for ``work_side`` and, when D is not
        needed, the resolution and D's widths (G's weights fit any resolution: a run at a low
        resolution can start one at a higher, whose D then starts afresh).
    need_D : bool
        Refuse weights without D, or whose D does not fit this run (another resolution or widths).

    Raises
    ------
    CheckpointError
        An unreadable record, another model, or no D where one is needed.
    """
    from ..checkpoint import load_weights, module_names, read_model_record
    from ..config import model_from_record

    try:
        record = model_from_record(read_model_record(path))
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    # G is fully convolutional: its weights fit any resolution; D's global dense layer fits one
    d_fields = {k: getattr(config, k) for k in _D_FIELDS}
    if record.replace(work_side=config.work_side, **d_fields) != config:
        raise CheckpointError(f"--init-from {path}: its model ({record}) differs from this run's ({config})")
    other_D = record.replace(work_side=config.work_side) != config
    if other_D and need_D:
        trained = (
            f"it was trained at resolution {record.resolution}, this run at {config.resolution}"
            if record.resolution != config.resolution
            else "its D has other widths than this run's"
        )
        raise CheckpointError(f"--init-from {path}: {trained}; only a run with --alpha 0, which needs no D, can start from its G")
    names = module_names(path)
    if "D" not in names and need_D:
        raise CheckpointError(f"--init-from {path}: it holds no D (an exported model); only a run with --alpha 0 can start from G alone")
    modules = {"G": G} if "D" not in names or other_D else {"G": G, "D": D_net}
    if "G_ema" in names:
        modules["G_ema"] = G  # the averaged weights, loaded after (and over) the raw ones
    load_weights(path, modules=modules, map_location=next(G.parameters()).device, skip=("D",) if other_D else ())
