"""Model presets and the network's options: a plain table of frozen dataclass values.

The training options live in :mod:`pastenet.train.options`; this module holds what defines the
networks, so a checkpoint can be rebuilt from its ``model`` record alone.

Presets
-------
======== ========== =========================== ===================================================
name     resolution generator widths            use
======== ========== =========================== ===================================================
paper-512 512       64-128-256-512 (≈25.5 M)    the paper (section 3.2); needs a large GPU
small-256 256       32-64-128-256 (≈6.4 M)      real runs on a single modest GPU
tiny      128       8-16-32-64 (≈0.3 M)         CPU tests and the README's main job
colormap  256       16-32-64-128 (≈0.45 M)      beyond the paper: the model zoo's (CPU-trainable)
======== ========== =========================== ===================================================

``colormap`` goes beyond the paper (see :mod:`pastenet.models.heads`): G runs on the input shrunk
by ``map_stride`` = 4 and predicts a per-pixel affine colour map (a 3x3 matrix and a bias), which is
upsampled and applied to the full-resolution source, so the source's detail is kept by
construction; paste then fixes the seam with a Poisson membrane (:mod:`pastenet.seam`).

The generator is fully convolutional and runs at any size that is a multiple of
``2 ** (len(channels) - 1)``. The discriminator's global branch ends in a dense layer, so it is
built for one resolution: the resolution of the training data (a tuple file's size), which may
differ from the preset's nominal one (used for streamed data and the speed benchmark).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["ModelConfig", "PRESETS", "OUTPUTS", "PRIORS", "LIMITS", "preset", "model_from_record"]

#: G's output heads (see :mod:`pastenet.models.heads`).
OUTPUTS = ("residual", "affine")

#: What G's input holds inside the mask: the source, or its Poisson blend into the target.
PRIORS = ("none", "poisson")

#: The paper's WGAN-GP weights (section 3.3): λ of the gradient penalty (eq. 5) and γ of the drift
#: term E[D(I)²] (eq. 7). The one place they are written: the training options and
#: :func:`pastenet.losses.discriminator_loss` take their defaults from here.
PAPER_GP_LAMBDA = 10.0
PAPER_DRIFT_GAMMA = 1e-3

#: Bounds on a model record, checked before any network is built, so a damaged or hostile record
#: (a checkpoint's, a model-zoo entry's) fails at once instead of allocating gigabytes: widths up
#: to 4x the paper's (512), side up to 16384 px, at most 16 entries per list, dilations up to 256,
#: and at most 500 M weights in G and D together (the paper's pair: about 84 M; 2 GB of float32).
LIMITS: Mapping[str, int] = {
    "width": 2048,
    "d_features": 4096,
    "resolution": 16384,
    "entries": 16,
    "dilation": 256,
    "parameters": 500_000_000,
}


def _integer(name: str, value: Any) -> int:
    """``value`` as an int (an integral float or NumPy number too), or :class:`ConfigError`, never ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    integer = int(value)  # type: ignore[call-overload]  # every Real converts; numbers.Real declares no __int__
    if integer != value:
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    return integer


def _integers(name: str, value: Any, *, top: int) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name} must be a non-empty sequence of positive integers, got {value!r}")
    items = list(value)
    if len(items) > LIMITS["entries"]:
        raise ConfigError(f"{name} has {len(items)} entries; at most {LIMITS['entries']} are supported (the record is damaged?)")
    out = tuple(_integer(f"{name}[{i}]", v) for i, v in enumerate(items))
    if not out or any(v < 1 for v in out):
        raise ConfigError(f"{name} must be a non-empty sequence of positive integers, got {value!r}")
    for i, v in enumerate(out):
        if v > top:
            raise ConfigError(f"{name}[{i}] = {v} exceeds the maximum of {top} (the record is damaged?)")
    return out


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the generator G and the discriminator D.

    Parameters
    ----------
    resolution : int
        Side of the square training images; D's global branch is built for it.
    channels : tuple of int
        G's widths: ``channels[0]`` at full resolution (one 3x3 conv on the 4-channel input), then
        per further entry one level of a stride-2 3x3 conv and a 3x3 conv; the decoder mirrors it.
    dilations : tuple of int
        Dilation rates of G's middle 3x3 convs at the lowest resolution (the paper: seven, up to 16).
    noise : bool
        Noise-addition layers after each transposed conv of the decoder.
    d_channels : tuple of int
        Widths of D's global branch: one 5x5 stride-2 conv each, over the whole image.
    d_local_channels : tuple of int
        Widths of D's local branch: one 5x5 stride-2 conv each, over the local window.
    d_features : int
        Width of each branch's dense output; the two are concatenated and mapped to a scalar.
    local_window : int or None
        Side of D's local window around the pasted region (pixels); ``None``: ``resolution // 2``.
    slope : float
        Negative slope of the leaky ReLUs.
    eps : float
        ε of the pixelwise feature normalisation (paper eq. 4).
    output : {"residual", "affine"}
        G's output head. ``"residual"`` (the paper): ``Y = X + G(X)·M``. ``"affine"`` (beyond the
        paper): G predicts 12 channels, a 3x3 colour matrix and a bias per pixel, applied to the
        source (see :mod:`pastenet.models.heads`).
    map_stride : int
        G runs on its input shrunk by this factor and its output is upsampled back (bilinear);
        1 (the paper) runs G at full resolution.
    work_side : int or None
        The shorter side, in pixels, of the photos the model was trained on (the data's pixel
        scale); paste can shrink larger photos to it before running G (``scale="auto"``).
        ``None``: unknown (older checkpoints).
    prior : {"none", "poisson"}
        ``"none"``: G sees the composite and the mask and its head maps the pasted source (the
        paper). ``"poisson"`` (beyond the paper): G also sees the composite with the source
        Poisson-blended into the target (Poisson image editing with the normal guidance field,
        :func:`pastenet.seam.poisson_seam`), and its head maps that blend, so a map that changes
        nothing gives Poisson editing's result; the raw composite still shows G how the source's
        colours differ from the target's. Training and paste prepare the input alike.
    """

    resolution: int = 512
    channels: tuple[int, ...] = (64, 128, 256, 512)
    dilations: tuple[int, ...] = (2, 4, 8, 16, 16, 16, 16)
    noise: bool = True
    d_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512)
    d_local_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512)
    d_features: int = 1024
    local_window: int | None = None
    slope: float = 0.2
    eps: float = 1e-8
    output: str = "residual"
    map_stride: int = 1
    work_side: int | None = None
    prior: str = "none"

    def __post_init__(self) -> None:
        for name in ("channels", "dilations", "d_channels", "d_local_channels"):
            top = LIMITS["dilation"] if name == "dilations" else LIMITS["width"]
            object.__setattr__(self, name, _integers(name, getattr(self, name), top=top))
        resolution = _integer("resolution", self.resolution)
        if not (16 <= resolution <= LIMITS["resolution"]):
            raise ConfigError(f"resolution must be between 16 and {LIMITS['resolution']}, got {self.resolution}")
        object.__setattr__(self, "resolution", resolution)
        if self.local_window is not None:
            object.__setattr__(self, "local_window", _integer("local_window", self.local_window))
        d_features = _integer("d_features", self.d_features)
        if not (1 <= d_features <= LIMITS["d_features"]):
            raise ConfigError(f"d_features must be between 1 and {LIMITS['d_features']}, got {self.d_features}")
        object.__setattr__(self, "d_features", d_features)
        if not (isinstance(self.noise, bool) or type(self.noise).__name__ == "bool_"):  # NumPy's too
            raise ConfigError(f"noise must be true or false, got {self.noise!r}")
        object.__setattr__(self, "noise", bool(self.noise))
        for name in ("slope", "eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
        factor = self.size_multiple
        if self.resolution % factor:
            raise ConfigError(f"resolution {self.resolution} must be a multiple of {factor} (2 ** (len(channels) - 1))")
        window = self.window
        if not (4 <= window <= self.resolution):
            raise ConfigError(f"local_window must be between 4 and the resolution ({self.resolution}), got {window}")
        for name, side in (("d_channels", self.resolution), ("d_local_channels", window)):
            n = len(getattr(self, name))
            if side >> n < 1 or side % (1 << n):
                raise ConfigError(f"{name} has {n} stride-2 layers, too many for a side of {side} px (needs a multiple of {1 << n})")
        if self.output not in OUTPUTS:
            raise ConfigError(f"output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if isinstance(self.map_stride, bool) or int(self.map_stride) != self.map_stride or not (1 <= int(self.map_stride) <= 64):
            raise ConfigError(f"map_stride must be an integer between 1 and 64, got {self.map_stride!r}")
        object.__setattr__(self, "map_stride", int(self.map_stride))
        if self.resolution % (self.map_stride * factor):
            raise ConfigError(f"resolution {self.resolution} must be a multiple of map_stride x {factor} = {self.map_stride * factor}")
        if self.work_side is not None:
            if isinstance(self.work_side, bool) or int(self.work_side) != self.work_side or not (8 <= int(self.work_side) <= 65536):
                raise ConfigError(f"work_side must be an integer between 8 and 65536 or None, got {self.work_side!r}")
            object.__setattr__(self, "work_side", int(self.work_side))
        if self.prior not in PRIORS:
            raise ConfigError(f"prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.prior != "none" and self.output != "affine":
            raise ConfigError("a Poisson prior needs the affine colour-map head (output='affine')")
        if not (0 <= self.slope < 1) or not (self.eps > 0):
            raise ConfigError("slope must be in [0, 1) and eps positive")
        if self.parameter_count > LIMITS["parameters"]:
            raise ConfigError(
                f"this model would have {self.parameter_count:,} weights (G and D), more than the {LIMITS['parameters']:,} "
                "supported: its widths, resolution or d_features are too large (the record is damaged?)"
            )

    @property
    def parameter_count(self) -> int:
        """The number of weights (parameters) of G and D together, computed from the record alone."""
        ch, c_out = self.channels, self.out_channels
        g = 9 * self.in_channels * ch[0] + ch[0]
        for a, b in zip(ch, ch[1:], strict=False):
            g += 9 * a * b + b + 9 * b * b + b  # down: stride-2 conv, conv
            g += 16 * b * a + a + (a if self.noise else 0) + 9 * 2 * a * a + a  # up: transposed conv, noise weights; fuse
        g += len(self.dilations) * (9 * ch[-1] * ch[-1] + ch[-1]) + 9 * ch[0] * c_out + c_out
        d = 2 * self.d_features + 1
        for widths, side in ((self.d_channels, self.resolution), (self.d_local_channels, self.window)):
            previous = 7
            for w in widths:
                d += 25 * previous * w + w
                previous = w
            d += previous * max(side >> len(widths), 1) ** 2 * self.d_features + self.d_features
        return g + d

    @property
    def size_multiple(self) -> int:
        """G's input sides must be multiples of this."""
        return 1 << (len(self.channels) - 1)

    @property
    def in_channels(self) -> int:
        """Channels of G's input: the composite and the mask (4), and the Poisson prior (3) when it has one."""
        return 4 if self.prior == "none" else 7

    @property
    def out_channels(self) -> int:
        """Channels of G's output: 3 (a residual) or 12 (an affine colour map)."""
        return 12 if self.output == "affine" else 3

    @property
    def window(self) -> int:
        """Side of D's local window in pixels."""
        return int(self.local_window) if self.local_window is not None else self.resolution // 2

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists); ``prior`` is left out while it is ``"none"``, so the
        records of models without one are those older versions wrote."""
        record = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        if record["prior"] == "none":
            del record["prior"]
        return record


def model_from_record(record: Mapping[str, Any]) -> ModelConfig:
    """Inverse of :meth:`ModelConfig.to_record`; unknown keys are an error.

    The record is validated before any network is built: values of the wrong type and sizes
    beyond :data:`LIMITS` (widths, resolution, list lengths, the total number of weights) are
    refused, so a damaged or hostile record fails at once.

    Raises
    ------
    ConfigError
        Not a mapping, unknown keys, values of the wrong type, or an invalid or oversized model.
    """
    if not isinstance(record, Mapping):
        raise ConfigError(f"a model record must be a JSON object, got {type(record).__name__}")
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(record) - names
    if unknown:
        raise ConfigError(f"unknown model options {sorted(unknown)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
    return ModelConfig(**values)


PRESETS: Mapping[str, ModelConfig] = {
    "paper-512": ModelConfig(),
    "small-256": ModelConfig(
        resolution=256,
        channels=(32, 64, 128, 256),
        d_channels=(32, 64, 128, 256, 256, 256),
        d_local_channels=(32, 64, 128, 256, 256),
        d_features=512,
    ),
    "tiny": ModelConfig(
        resolution=128,
        channels=(8, 16, 32, 64),
        dilations=(2, 4, 8, 8),
        d_channels=(8, 16, 32, 64, 64),
        d_local_channels=(8, 16, 32, 64),
        d_features=64,
    ),
    # Beyond the paper: the model zoo's preset, trainable on 2 CPU cores (see the module docstring).
    "colormap": ModelConfig(
        resolution=256,
        channels=(16, 32, 64, 128),
        dilations=(2, 4, 4),
        noise=False,
        d_channels=(8, 16, 32, 64, 64),
        d_local_channels=(8, 16, 32, 64),
        d_features=64,
        output="affine",
        map_stride=4,
    ),
}


def preset(name: str, **changes: Any) -> ModelConfig:
    """The preset ``name``, with optional changes (e.g. ``resolution=256``)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].replace(**changes) if changes else PRESETS[name]
