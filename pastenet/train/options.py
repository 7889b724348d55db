"""Training options: one frozen dataclass with the paper's defaults, JSON in and out.

Every option of a run is recorded in the run folder (``options.json``); ``--resume`` reads it
back and refuses a change to anything that would make the continued run differ from an
uninterrupted one (:data:`RESUMABLE_CHANGES` lists what may change).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from ..config import PRESETS, PRIORS, ModelConfig, model_from_record, preset
from ..errors import ConfigError

__all__ = ["TrainOptions", "RESUMABLE_CHANGES", "TRUTHS", "options_from_record"]

#: ``truth`` choices: what the reconstruction loss compares ``Y`` with (see :mod:`pastenet.data`).
TRUTHS = ("image", "colours")

#: Options a resumed run may change; everything else must equal the recorded value.
RESUMABLE_CHANGES = frozenset(
    {"steps", "workers", "log_every", "sample_every", "checkpoint_every", "keep", "compile", "out", "progress"}
)


@dataclass(frozen=True)
class TrainOptions:
    """Everything that defines a training run (StyleGAN2-ADA style: explicit, documented values).

    The defaults are the paper's (section 3.3). ``model`` is resolved from ``preset`` and the
    data's resolution by :func:`pastenet.train.loop.train`.
    """

    # -- data --------------------------------------------------------------------------------
    data: str | None = None  # a tuple file made by `pastegen make` (None with stream=True)
    stream: bool = False  # render tuples on the fly with pastegen instead of reading a file
    dataset: str | None = None  # stream: pastegen dataset name (faces, scenes, sample, ...)
    images: str | None = None  # stream: a folder / glob / list of photos instead of a dataset
    data_root: str | None = None  # stream: folder of the named datasets (PASTEGEN_DATA_ROOT)
    split: str = "train"  # stream: dataset split (never 'test' for training)
    spec_preset: str | None = None  # stream: pastegen spec preset (default: the dataset's)
    sigma: float | None = None  # stream: corner offset range of T_geometric (pixels)
    data_seed: int = 0  # stream: pastegen root seed of the tuples
    color_mix: str | None = None  # stream, beyond the paper: per-tuple colour strengths "S:W,..." (pastegen --color-mix)
    geometric_mix: str | None = None  # stream, beyond the paper: per-tuple factors on sigma "S:W,..."
    # -- model -------------------------------------------------------------------------------
    preset: str = "paper-512"  # model preset (pastenet.config.PRESETS)
    resolution: int | None = None  # stream: tuple size (default: the preset's); a file's size must equal it
    model: Mapping[str, Any] | None = None  # resolved ModelConfig record (filled in by train)
    # -- optimisation (paper section 3.3) -----------------------------------------------------
    steps: int = 250_000  # total training iterations (one D and one G update each)
    batch: int = 5  # samples per step on each process
    lr_g: float = 2e-4  # Adam learning rate of G
    lr_d: float = 2e-4  # Adam learning rate of D
    beta1: float = 0.0  # Adam β1
    beta2: float = 0.9  # Adam β2
    alpha: float = 1e-4  # weight of the adversarial term in G's objective (eq. 7)
    gp_lambda: float = 10.0  # gradient penalty weight λ (eq. 5)
    drift_gamma: float = 1e-3  # weight γ of E[D(I)²] (eq. 7)
    recon: str = "image"  # reconstruction loss: "image" (eq. 6) or "mask" (beyond the paper: L1 per masked pixel)
    border_weight: float = 0.0  # beyond the paper: extra L1 weight within border_px inside the mask's border (recon "mask")
    border_px: int = 4  # width of that band in pixels
    prior: str = "none"  # beyond the paper: G's input inside the mask, "none" (the source) or "poisson" (the source Poisson-blended into the target; affine head)
    truth: str = "image"  # what Y is compared with: "image" (eq. 6: I) or "colours" (beyond the paper, stream: T_geometric(I) inside the mask)
    ema_kimg: float = 0.0  # beyond the paper: half-life, in thousands of samples, of a moving average of G's weights (G_ema, as StyleGAN2-ADA); 0: none
    seed: int = 0  # seed of the weights, the data order and the GAN's noise
    # -- machine -----------------------------------------------------------------------------
    device: str = "auto"  # auto (CUDA when present), cpu, cuda, cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA), bf16, off
    channels_last: str = "auto"  # auto (on CUDA), on, off
    compile: bool = False  # torch.compile the networks (CUDA)
    workers: int = 2  # data loader worker processes
    # -- output ------------------------------------------------------------------------------
    out: str = "runs"  # parent folder of the numbered run folders
    log_every: int = 10  # steps between stats.jsonl lines / TensorBoard points
    sample_every: int = 500  # steps between sample grids (and at the end)
    checkpoint_every: int = 1000  # steps between checkpoints (and at the end)
    keep: int = 3  # checkpoints kept
    grid_size: int = 8  # samples in each grid (fixed inputs)
    init_from: str | None = None  # fine-tune: start from these weights (a fresh run, step 0)
    progress: bool = True  # progress bar

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.stream:
            if self.data is not None:
                raise ConfigError("give a tuple file or --stream, not both")
            if (self.dataset is None) == (self.images is None):
                raise ConfigError("--stream needs exactly one of --dataset or --images")
            if self.split == "test":
                raise ConfigError("never train on the test split; use --split train")
        elif self.data is None:
            raise ConfigError("give a tuple file (made by `pastegen make`) or --stream --dataset NAME")
        positive = ("steps", "batch", "log_every", "sample_every", "checkpoint_every", "keep", "grid_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr_g", "lr_d"):
            if not float(getattr(self, name)) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("alpha", "gp_lambda", "drift_gamma"):
            if not float(getattr(self, name)) >= 0:
                raise ConfigError(f"{name} must be non-negative, got {getattr(self, name)}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("beta1 and beta2 must be in [0, 1)")
        if self.resolution is not None and int(self.resolution) < 16:
            raise ConfigError(f"resolution must be at least 16, got {self.resolution}")
        if self.workers < 0 or self.seed < 0 or self.data_seed < 0:
            raise ConfigError("workers, seed and data_seed must be non-negative")
        if self.recon not in ("image", "mask"):
            raise ConfigError(f"recon must be image or mask, got {self.recon!r}")
        if not float(self.ema_kimg) >= 0:
            raise ConfigError(f"ema_kimg must be non-negative, got {self.ema_kimg}")
        if not float(self.border_weight) >= 0 or int(self.border_px) < 1:
            raise ConfigError("border_weight must be non-negative and border_px at least 1")
        if self.border_weight and self.recon != "mask":
            raise ConfigError("border_weight needs recon 'mask'")
        if self.prior not in PRIORS:
            raise ConfigError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.prior != "none" and PRESETS[self.preset].output != "affine":
            raise ConfigError(f"prior {self.prior!r} needs a colour-map preset (colormap), not {self.preset!r}")
        if self.prior != "none" and not self.stream:
            raise ConfigError(f"prior {self.prior!r} renders T(I) around each mask beside the tuple: it needs --stream")
        if self.truth not in TRUTHS:
            raise ConfigError(f"truth must be one of {', '.join(TRUTHS)}, got {self.truth!r}")
        if self.truth == "colours" and not self.stream:
            raise ConfigError("truth 'colours' renders T_geometric(I) beside each tuple: it needs --stream")
        if (self.color_mix or self.geometric_mix) and not self.stream:
            raise ConfigError("color_mix and geometric_mix shape streamed tuples; for a file, pass them to `pastegen make`")
        if self.color_mix or self.geometric_mix:
            from pastegen.components.strength import strength_spec
            from pastegen.errors import SpecError

            try:
                strength_spec(self.color_mix, self.geometric_mix)
            except SpecError as e:
                raise ConfigError(str(e)) from None
        if self.amp not in ("auto", "bf16", "off"):
            raise ConfigError(f"amp must be auto, bf16 or off, got {self.amp!r}")
        if self.channels_last not in ("auto", "on", "off"):
            raise ConfigError(f"channels_last must be auto, on or off, got {self.channels_last!r}")

    def model_config(self, resolution: int | None = None) -> ModelConfig:
        """The model: the recorded one, else the preset at ``resolution`` (the data's)."""
        if self.model is not None:
            config = model_from_record(self.model)
            if resolution is not None and config.resolution != resolution:
                raise ConfigError(f"the model is built for {config.resolution}x{config.resolution} but the data is {resolution}x{resolution}")
            return config
        return preset(self.preset, **({} if resolution is None else {"resolution": int(resolution)}))

    def replace(self, **changes: Any) -> "TrainOptions":
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = dataclasses.asdict(self)
        if out["model"] is not None:
            out["model"] = dict(out["model"])
        return out


def options_from_record(record: Mapping[str, Any]) -> TrainOptions:
    """Inverse of :meth:`TrainOptions.to_record`; unknown keys are an error (a newer run folder)."""
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    unknown = set(record) - names
    if unknown:
        raise ConfigError(f"unknown training options {sorted(unknown)} (written by a newer pastenet?)")
    return TrainOptions(**dict(record))
