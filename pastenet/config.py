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
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["ModelConfig", "PRESETS", "OUTPUTS", "PRIORS", "preset", "model_from_record"]

#: G's output heads (see :mod:`pastenet.models.heads`).
OUTPUTS = ("residual", "affine")

#: What G's input holds inside the mask: the source, or its Poisson blend into the target.
PRIORS = ("none", "poisson")


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
            value = tuple(int(v) for v in getattr(self, name))
            if not value or any(v < 1 for v in value):
                raise ConfigError(f"{name} must be a non-empty sequence of positive integers, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if int(self.resolution) < 16:
            raise ConfigError(f"resolution must be at least 16, got {self.resolution}")
        object.__setattr__(self, "resolution", int(self.resolution))
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
        if self.d_features < 1 or not (0 <= self.slope < 1) or not (self.eps > 0):
            raise ConfigError("d_features must be positive, slope in [0, 1) and eps positive")

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

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists); ``prior`` is left out while it is ``"none"``, so the
        records of models without one are those older versions wrote."""
        record = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}
        if record["prior"] == "none":
            del record["prior"]
        return record


def model_from_record(record: Mapping[str, Any]) -> ModelConfig:
    """Inverse of :meth:`ModelConfig.to_record`; unknown keys are an error."""
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(record) - names
    if unknown:
        raise ConfigError(f"unknown model options {sorted(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in record.items()}
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
