"""Training options: one frozen dataclass with the paper's defaults, JSON in and out.

Each option is written once, here: its default, its help text, its bounds or choices, and how it
appears on the command line (:func:`option`). ``pastenet train``'s options are made from these
fields (:func:`cli_options`), and :class:`TrainOptions` checks the same bounds, so the command
line and the Python API cannot drift apart. Names that changed live in one table,
:data:`RENAMED`.

Every option of a run is recorded in the run folder (``options.json``); ``--resume`` reads it
back and refuses a change to anything that would make the continued run differ from an
uninterrupted one (:data:`RESUMABLE_CHANGES` lists what may change).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..config import PAPER_DRIFT_GAMMA, PAPER_GP_LAMBDA, PRESETS, PRIORS, ModelConfig, model_from_record, preset
from ..errors import ConfigError

__all__ = ["TrainOptions", "RESUMABLE_CHANGES", "TRUTHS", "RENAMED", "CliOption", "cli_options", "option", "options_from_record"]

#: ``truth`` choices: what the reconstruction loss compares ``Y`` with (see :mod:`pastenet.data`).
TRUTHS = ("image", "colours")

#: ``recon`` choices: the reconstruction loss (:func:`pastenet.losses.generator_loss`).
RECONS = ("image", "mask")

#: Options a resumed run may change; everything else must equal the recorded value.
RESUMABLE_CHANGES = frozenset(
    {"steps", "lr_rampdown", "workers", "threads", "log_every", "sample_every", "checkpoint_every", "keep", "compile", "out", "progress"}
)

#: Renamed options: the old name -> the field. The command line keeps the old name as its flag
#: (``--gamma``, the paper's γ, sets ``drift_gamma``) and a record with the old key still loads
#: (:func:`options_from_record`). The only table of renames.
RENAMED: Mapping[str, str] = {"gamma": "drift_gamma"}


def option(
    default: Any,
    help: str,
    *,
    cli: bool = True,
    min: float | None = None,
    max: float | None = None,
    min_open: bool = False,
    max_open: bool = False,
    choices: tuple[str, ...] | None = None,
    path: str | None = None,
    flags: tuple[str, ...] | None = None,
    negate: bool = False,
    envvar: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A :class:`TrainOptions` field: its default, help text, bounds and command-line form.

    Parameters
    ----------
    default : object
        The default (the paper's where the paper has one).
    help : str
        One line: the command line's help text and the field's documentation.
    cli : bool
        Whether ``pastenet train`` has a flag for it (False: the Python API only).
    min, max : float, optional
        Bounds of a number, checked by :class:`TrainOptions` and by the command line.
    min_open, max_open : bool
        Whether a bound is excluded.
    choices : tuple of str, optional
        The values allowed.
    path : {"dir", "any"}, optional
        The command line takes a path: a folder ("dir") or any path.
    flags : tuple of str, optional
        The command line's flags (default ``--field-name``, or ``--old-name`` from
        :data:`RENAMED`).
    negate : bool
        A boolean the flag turns off (``-q`` sets ``progress`` to False).
    envvar, metavar : str, optional
        The command line's environment variable and value placeholder.

    Returns
    -------
    dataclasses.Field
    """
    meta = {
        "help": help, "cli": cli, "min": min, "max": max, "min_open": min_open, "max_open": max_open, "choices": choices,
        "path": path, "flags": flags, "negate": negate, "envvar": envvar, "metavar": metavar,
    }  # fmt: skip
    return dataclasses.field(default=default, metadata=meta)


_AMP = ("auto", "bf16", "off")
_SWITCH = ("auto", "on", "off")


@dataclass(frozen=True)
class TrainOptions:
    """Everything that defines a training run (StyleGAN2-ADA style: explicit, documented values).

    The defaults are the paper's (section 3.3). ``model`` is resolved from ``preset`` and the
    data's resolution by :func:`pastenet.train.loop.train`. Each field's help text, bounds and
    flag are in its :func:`option`.
    """

    # -- data --------------------------------------------------------------------------------
    data: str | None = option(None, "A tuple file made by `pastegen make` (None with stream=True); the command's DATA.", cli=False)
    stream: bool = option(False, "Render tuples on the fly with pastegen instead of reading DATA.")
    dataset: str | None = option(None, "--stream: pastegen dataset (faces, faces-wild, scenes, cityscapes, photos, photos-extra, sample); "
                                       "several joined with commas, e.g. faces,faces-wild.")
    images: str | None = option(None, "--stream: a folder, glob or list of photos.")
    data_root: str | None = option(None, "--stream: folder of the named datasets.", path="dir", envvar="PASTEGEN_DATA_ROOT")
    split: str = option("train", "Stream: dataset split (never 'test' for training).", cli=False)
    spec_preset: str | None = option(None, "Stream: pastegen spec preset (default: the dataset's).", cli=False)
    sigma: float | None = option(None, "--stream: corner offset range σ of T_geometric (pixels).", min=0)
    data_seed: int = option(0, "--stream: pastegen seed of the tuples.", min=0)
    color_mix: str | None = option(None, "--stream, beyond the paper: draw each tuple's colour strength from these STRENGTH:WEIGHT pairs "
                                         "(0: identity, 1: the paper's ranges).", metavar="S:W,...")
    geometric_mix: str | None = option(None, "--stream, beyond the paper: draw each tuple's factor on σ from these STRENGTH:WEIGHT pairs.", metavar="S:W,...")
    tone: float = option(0.0, "--stream, beyond the paper: share of the tuples whose source gets a camera-like tone change (exposure, "
                              "white balance, gamma, offset) instead of the colour transforms.", min=0, max=1)
    # -- model -------------------------------------------------------------------------------
    preset: str = option("paper-512", "Model preset; the resolution is the data's.", choices=tuple(PRESETS))
    resolution: int | None = option(None, "--stream: tuple size (default: the preset's); with DATA it must equal the file's.", min=16)
    map_stride: int | None = option(None, "Beyond the paper, affine-output presets: G runs at 1/STRIDE of the tuple size and its colour map "
                                          "is upsampled from there (default: the preset's; colormap: 4).", min=1, max=64)
    model: Mapping[str, Any] | None = option(None, "The resolved ModelConfig record (filled in by train).", cli=False)
    # -- optimisation (paper section 3.3) -----------------------------------------------------
    steps: int = option(250_000, "Training iterations (one D and one G update each).", min=1)
    batch: int = option(5, "Samples per step on each process.", min=1)
    echo: int = option(1, "Beyond the paper: data echoing (Choi et al. 2019): each fresh tuple serves ECHO steps, 16 steps apart, mirrored "
                          "left to right on every other use; a step takes --batch/ECHO fresh tuples, so the data loader does ECHO times less "
                          "work (1: every tuple once, the paper's).", min=1)
    lr_g: float = option(2e-4, "Adam learning rate of G.", min=0, min_open=True)
    lr_d: float = option(2e-4, "Adam learning rate of D.", min=0, min_open=True)
    lr_rampdown: float = option(0.0, "Beyond the paper: over this last fraction of --steps both learning rates fall to 0 along a half cosine "
                                     "(0: constant rates, the paper's).", min=0, max=1)
    beta1: float = option(0.0, "Adam β1 (the paper: 0).", min=0, max=1, max_open=True)
    beta2: float = option(0.9, "Adam β2 (the paper: 0.9).", min=0, max=1, max_open=True)
    alpha: float = option(1e-4, "Weight of the adversarial term in G's loss (eq. 7).", min=0)
    gp_lambda: float = option(PAPER_GP_LAMBDA, "Gradient penalty weight (eq. 5).", min=0)
    drift_gamma: float = option(PAPER_DRIFT_GAMMA, "Weight of E[D(I)^2] (eq. 7).", min=0)
    recon: str = option("image", "Reconstruction loss: eq. 6 over the image, or (beyond the paper) L1 per masked pixel.", choices=RECONS)
    border_weight: float = option(0.0, "--recon mask: extra L1 weight within --border-px inside the mask's border.", min=0)
    border_px: int = option(4, "Width of that band in pixels.", min=1)
    prior: str = option("none", "Beyond the paper, colour-map presets: G sees the source Poisson-blended into the target inside the mask (poisson) "
                                "instead of the source itself.", choices=PRIORS)
    truth: str = option("image", "What Y is compared with: I (eq. 6), or (beyond the paper, --stream) the pasted content with its own colours, "
                                 "T_geometric(I), inside the mask: for colour-only heads.", choices=TRUTHS)
    ema_kimg: float = option(0.0, "Beyond the paper: keep a moving average of G's weights (G_ema, StyleGAN2-ADA) with this half-life in thousands of samples; "
                                  "paste and export use it. 0: none.", min=0)
    seed: int = option(0, "Seed of the weights, the data order and the GAN's noise.", min=0)
    # -- machine -----------------------------------------------------------------------------
    device: str = option("auto", "auto (CUDA when present), cpu, cuda or cuda:N.")
    amp: str = option("auto", "bf16 autocast (auto: on CUDA).", choices=_AMP)
    channels_last: str = option("auto", "channels_last memory format (auto: on CUDA).", choices=_SWITCH)
    compile: bool = option(False, "torch.compile the generator.")
    workers: int = option(2, "Data loader worker processes.", min=0)
    threads: int = option(0, "Torch threads of each training process on the CPU. 0 (auto): its share of the cores, less one per data loader "
                             "worker when the workers Poisson-blend each tuple (--prior poisson; one per ECHO workers with --echo), at least 1.", min=0)
    # -- output ------------------------------------------------------------------------------
    out: str = option("runs", "Parent folder of the numbered run folders.", path="dir")
    log_every: int = option(10, "Steps between stats lines.", min=1)
    sample_every: int = option(500, "Steps between sample grids.", min=1)
    checkpoint_every: int = option(1000, "Steps between checkpoints.", min=1)
    keep: int = option(3, "Checkpoints kept.", min=1)
    grid_size: int = option(8, "Samples in each grid (fixed inputs).", cli=False, min=1)
    init_from: str | None = option(None, "Fine-tune: start a new run from these weights (a checkpoint or run folder; with --alpha 0 "
                                         "also a file holding G alone, e.g. a zoo model's weights, or a run at another resolution).", path="any")
    progress: bool = option(True, "No progress bar.", flags=("-q", "--quiet"), negate=True)  # a progress bar; the help is -q's

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_field(f, getattr(self, f.name))
        if self.stream:
            if self.data is not None:
                raise ConfigError("give a tuple file or --stream, not both")
            if (self.dataset is None) == (self.images is None):
                raise ConfigError("--stream needs exactly one of --dataset or --images")
            if self.split == "test":
                raise ConfigError("never train on the test split; split must be 'train'")
        elif self.data is None:
            raise ConfigError("give a tuple file (made by `pastegen make`) or --stream --dataset NAME")
        if self.batch % self.echo:
            raise ConfigError(f"echo {self.echo} must divide the batch ({self.batch}): a step takes batch/echo fresh tuples")
        if self.border_weight and self.recon != "mask":
            raise ConfigError("border_weight needs recon 'mask'")
        if self.prior != "none" and PRESETS[self.preset].output != "affine":
            raise ConfigError(f"prior {self.prior!r} needs a colour-map preset (colormap), not {self.preset!r}")
        if self.prior != "none" and not self.stream:
            raise ConfigError(f"prior {self.prior!r} renders T(I) around each mask beside the tuple: it needs --stream")
        if self.truth == "colours" and not self.stream:
            raise ConfigError("truth 'colours' renders T_geometric(I) beside each tuple: it needs --stream")
        if self.tone and not self.stream:
            raise ConfigError("tone shapes streamed tuples; for a file, pass --tone to `pastegen make`")
        if (self.color_mix or self.geometric_mix) and not self.stream:
            raise ConfigError("color_mix and geometric_mix shape streamed tuples; for a file, pass them to `pastegen make`")
        if self.color_mix or self.geometric_mix:
            from pastegen.components.strength import strength_spec
            from pastegen.errors import SpecError

            try:
                strength_spec(self.color_mix, self.geometric_mix)
            except SpecError as e:
                raise ConfigError(str(e)) from None

    def model_config(self, resolution: int | None = None) -> ModelConfig:
        """The model: the recorded one, else the preset at ``resolution`` (the data's)."""
        if self.model is not None:
            config = model_from_record(self.model)
            if resolution is not None and config.resolution != resolution:
                raise ConfigError(f"the model is built for {config.resolution}x{config.resolution} but the data is {resolution}x{resolution}")
            return config
        changes: dict[str, Any] = {} if resolution is None else {"resolution": int(resolution)}
        if self.map_stride is not None:
            changes["map_stride"] = int(self.map_stride)
        return preset(self.preset, **changes)

    @property
    def fresh_batch(self) -> int:
        """Fresh tuples per step on each process: ``batch / echo`` (:mod:`pastenet.train.echo`)."""
        return self.batch // self.echo

    def replace(self, **changes: Any) -> TrainOptions:
        """A copy with ``changes`` (checked again)."""
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = dataclasses.asdict(self)
        if out["model"] is not None:
            out["model"] = dict(out["model"])
        return out


def options_from_record(record: Mapping[str, Any]) -> TrainOptions:
    """Inverse of :meth:`TrainOptions.to_record`.

    Keys of :data:`RENAMED` are read as their new names; unknown keys are an error (a run
    folder of a newer pastenet).

    Parameters
    ----------
    record : mapping
        A run's ``options.json``.

    Returns
    -------
    TrainOptions

    Raises
    ------
    ConfigError
        Unknown keys, an old and a new name both given, or invalid values.
    """
    values = dict(record)
    for old, new in RENAMED.items():
        if old in values:
            if new in values:
                raise ConfigError(f"training options give both {old!r} and its new name {new!r}")
            values[new] = values.pop(old)
    names = {f.name for f in dataclasses.fields(TrainOptions)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown training options {sorted(unknown)} (written by a newer pastenet?)")
    return TrainOptions(**values)


# -- checks and the command line, from the fields' options ---------------------------------------


def _bounds_text(meta: Mapping[str, Any]) -> str:
    """``at least 1``, ``positive``, ``non-negative``, ``in [0, 1)``: a field's bounds in words."""
    lo, hi = meta["min"], meta["max"]
    if lo is not None and hi is not None:
        return f"in {'(' if meta['min_open'] else '['}{lo:g}, {hi:g}{')' if meta['max_open'] else ']'}"
    if hi is not None:
        return f"{'below' if meta['max_open'] else 'at most'} {hi:g}"
    if lo == 0:
        return "positive" if meta["min_open"] else "non-negative"
    return f"{'above' if meta['min_open'] else 'at least'} {lo:g}"


def _check_field(f: dataclasses.Field, value: Any) -> None:
    """Refuse a value outside the field's :func:`option` bounds or choices (None passes)."""
    meta = f.metadata
    if value is None or not meta:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{f.name} must be one of {', '.join(choices)}, got {value!r}")
    lo, hi = meta.get("min"), meta.get("max")
    if lo is None and hi is None:
        return
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name} must be a number, got {value!r}") from None
    below = lo is not None and not (x > lo if meta["min_open"] else x >= lo)  # NaN is outside every bound
    above = hi is not None and not (x < hi if meta["max_open"] else x <= hi)
    if below or above:
        raise ConfigError(f"{f.name} must be {_bounds_text(meta)}, got {value}")


@dataclass(frozen=True)
class CliOption:
    """How one :class:`TrainOptions` field appears on the ``pastenet train`` command line.

    ``param`` is the command's parameter name: the field's name, except for a negated flag
    (``quiet`` for ``progress``). The rest is the field's :func:`option`.
    """

    field: str
    param: str
    flags: tuple[str, ...]
    kind: type  # int, float, str or bool
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False
    choices: tuple[str, ...] | None = None
    path: str | None = None
    negate: bool = False
    envvar: str | None = None
    metavar: str | None = None

    def to_field(self, value: Any) -> Any:
        """The field's value of the parameter's value (a negated flag's opposite)."""
        return (not value) if self.negate else value


def _kind(hint: Any) -> type:
    """int, float, str or bool: the type of a field's hint (``int | None`` -> int)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    kind = args[0]
    if kind not in (int, float, str, bool):
        raise TypeError(f"no command-line type for {hint!r}")
    return kind


def cli_options() -> list[CliOption]:
    """The ``pastenet train`` options: one per :class:`TrainOptions` field with a flag, in field order.

    Returns
    -------
    list of CliOption
        Defaults, help texts and bounds as the fields give them; the flags are ``--field-name``
        unless the field's :func:`option` names others or the field was renamed
        (:data:`RENAMED`: the old name).
    """
    hints = typing.get_type_hints(TrainOptions)
    old_names = {new: old for old, new in RENAMED.items()}
    out = []
    for f in dataclasses.fields(TrainOptions):
        meta = f.metadata
        if not meta.get("cli", False):
            continue
        flags = meta["flags"] or ("--" + old_names.get(f.name, f.name).replace("_", "-"),)
        param = flags[-1].lstrip("-").replace("-", "_") if meta["negate"] else f.name
        keys = ("min", "max", "min_open", "max_open", "choices", "path", "negate", "envvar", "metavar")
        out.append(CliOption(field=f.name, param=param, flags=tuple(flags), kind=_kind(hints[f.name]), default=f.default,
                             help=meta["help"], **{k: meta[k] for k in keys}))  # fmt: skip
    return out
