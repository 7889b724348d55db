"""The copy-paste network G (paper section 3.2): a U-Net with dilated middle layers that predicts
a residual over the transformed source.

Input ``X = (I(1-M) + T(I)M, M)``: the composite in [-1, 1] and the mask in {0, 1}, ``[B, 4, H, W]``.
Output: the residual ``R = G(X)``, ``[B, 3, H, W]``; :func:`compose` turns it into the image
``Y = (R + T(I))M + I(1-M) = composite + R * M``.

Layout for ``channels = (c0, c1, ..., cL)`` (every conv 3x3 unless said otherwise, every conv but
the last followed by leaky ReLU and PixelNorm)::

    stem        4 -> c0                                  full resolution       -> skip 0
    down[l]     c(l-1) -> cl stride 2, cl -> cl          1 / 2**l              -> skip l (l < L)
    middle      cL -> cL, one per dilation d (padding d) 1 / 2**L
    up[l]       4x4 stride-2 transposed conv c(l) -> c(l-1), NoiseAdd, lReLU, PixelNorm
    fuse[l]     concat(up, skip l-1): 2 c(l-1) -> c(l-1)
    to_rgb      c0 -> 3, linear
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import ConfigError
from .layers import UpBlock, conv_block

__all__ = ["Generator", "compose", "receptive_radius"]


def compose(residual: Tensor, composite: Tensor, mask: Tensor) -> Tensor:
    """The copy-paste result ``Y = composite + residual * mask``.

    Equals the paper's ``Y = (G(X) + T(I))M + I(1-M)`` because the composite is ``I`` outside the
    mask and ``T(I)`` inside it: pixels outside the mask are exactly the input's.

    Parameters
    ----------
    residual : Tensor
        ``[B, 3, H, W]``, G's output.
    composite : Tensor
        ``[B, 3, H, W]``, ``I(1-M) + T(I)M``.
    mask : Tensor
        ``[B, 1, H, W]`` (or broadcastable), values in {0, 1}.

    Returns
    -------
    Tensor
        ``[B, 3, H, W]``.
    """
    return composite + residual * mask


def _decoder_extent(config: ModelConfig, phase: int) -> tuple[int, int]:
    """Input pixels ``[lo, hi]`` (one axis) that output pixel ``phase`` depends on, ignoring borders.

    Exact interval arithmetic on integer positions: a 3x3 conv of dilation d widens an interval at
    its own level by d on each side; a stride-2 3x3 conv maps output ``[a, b]`` to input
    ``[2a-1, 2b+1]``; the 4x4 stride-2 padding-1 transposed conv maps output ``[a, b]`` to input
    ``[floor((a-1)/2), floor((b+1)/2)]``. Skip connections add intervals that the deeper path
    already contains, but they are joined anyway.
    """
    levels = len(config.channels) - 1

    def encoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        # e_level[lo..hi] -> input pixels
        lo, hi = lo - 1, hi + 1  # this level's non-strided conv (the stem at level 0)
        for _ in range(level):
            lo, hi = 2 * lo - 1, 2 * hi + 1  # stride-2 conv from the finer level
            lo, hi = lo - 1, hi + 1  # the finer level's non-strided conv (the stem at level 0)
        return lo, hi

    def decoder(level: int, lo: int, hi: int) -> tuple[int, int]:
        # h_level[lo..hi] (after fuse at `level`, or after the middle at `levels`) -> input pixels
        if level == levels:
            reach = sum(config.dilations)
            return encoder(levels, lo - reach, hi + reach)
        lo, hi = lo - 1, hi + 1  # fuse conv: depends on up[lo..hi] and skip[lo..hi]
        skip = encoder(level, lo, hi)
        deep = decoder(level + 1, (lo - 1) // 2, (hi + 1) // 2)
        return min(skip[0], deep[0]), max(skip[1], deep[1])

    return decoder(0, phase - 1, phase + 1)  # to_rgb conv


def receptive_radius(config: ModelConfig) -> int:
    """Half-width in input pixels of G's receptive field (exact, away from the image borders).

    Output pixel ``(y, x)`` depends only on input pixels ``(y', x')`` with ``|y - y'| <= r`` and
    ``|x - x'| <= r``; for some output positions (the field is slightly asymmetric and depends on
    the position modulo ``config.size_multiple``) an input pixel at distance exactly ``r`` matters.
    Pasting a region of interest with a margin of ``r`` pixels around it therefore gives the same
    result inside the region as pasting the whole image.

    Parameters
    ----------
    config : ModelConfig
        The architecture.

    Returns
    -------
    int
        ``r``.
    """
    radius = 0
    for phase in range(config.size_multiple):
        lo, hi = _decoder_extent(config, phase)
        radius = max(radius, phase - lo, hi - phase)
    return radius


class Generator(nn.Module):
    """The copy-paste network G; outputs the residual ``R`` (see :func:`compose`).

    Parameters
    ----------
    config : ModelConfig
        Widths (``channels``), ``dilations``, ``noise``, ``slope`` and ``eps`` are used.

    Notes
    -----
    Fully convolutional: runs on any ``H`` and ``W`` that are multiples of
    ``config.size_multiple``. Uses ``reshape``/``cat`` only, so it works on channels_last inputs.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels
        s, e = config.slope, config.eps
        self.stem = conv_block(config.in_channels, ch[0], slope=s, eps=e)
        self.down = nn.ModuleList(
            nn.Sequential(
                conv_block(ch[i - 1], ch[i], stride=2, slope=s, eps=e),
                conv_block(ch[i], ch[i], slope=s, eps=e),
            )
            for i in range(1, len(ch))
        )
        self.middle = nn.Sequential(*(conv_block(ch[-1], ch[-1], dilation=d, slope=s, eps=e) for d in config.dilations))
        # Decoder modules in forward order: deepest level first.
        self.up = nn.ModuleList(
            UpBlock(ch[i], ch[i - 1], noise=config.noise, slope=s, eps=e) for i in range(len(ch) - 1, 0, -1)
        )
        self.fuse = nn.ModuleList(
            conv_block(2 * ch[i - 1], ch[i - 1], slope=s, eps=e) for i in range(len(ch) - 1, 0, -1)
        )
        self.to_rgb = nn.Conv2d(ch[0], config.out_channels, 3, padding=1)
        if config.output == "affine":  # start at the identity colour map: Y = the naive paste
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)  # type: ignore[arg-type]  # Conv2d's bias (bias=True) is a tensor

    @property
    def receptive_radius(self) -> int:
        """Half-width in input pixels of the receptive field; see :func:`receptive_radius`."""
        return receptive_radius(self.config)

    def noise_shapes(self, batch: int, height: int, width: int) -> list[tuple[int, int, int, int]]:
        """Shapes of the noise images ``forward`` takes, one ``[B, 1, h, w]`` per NoiseAdd layer.

        In forward order (coarsest first); empty when ``config.noise`` is false.
        """
        if not self.config.noise:
            return []
        levels = len(self.config.channels) - 1
        return [(batch, 1, height >> (l - 1), width >> (l - 1)) for l in range(levels, 0, -1)]

    def _check_input(self, x: Tensor) -> None:
        c = self.config.in_channels
        if x.ndim != 4 or x.shape[1] != c:
            what = "composite RGB and mask" if c == 4 else "composite RGB, mask and Poisson prior RGB"
            raise ConfigError(f"the generator takes [B, {c}, H, W] ({what}), got shape {tuple(x.shape)}")
        m = self.config.size_multiple
        h, w = x.shape[-2:]
        if h < m or w < m or h % m or w % m:
            raise ConfigError(f"input size {h}x{w} must be positive multiples of {m}; pad or crop the image")

    def forward(
        self,
        x: Tensor,
        *,
        noise: Sequence[Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """The residual ``R = G(x)``.

        Parameters
        ----------
        x : Tensor
            ``[B, 4, H, W]``: composite RGB in [-1, 1] and mask in {0, 1}; ``[B, 7, H, W]`` with the
            Poisson prior's composite RGB after them for models with ``config.prior = "poisson"``.
        noise : sequence of Tensor, optional
            One tensor per shape of :meth:`noise_shapes` (in that order). If omitted and the
            model has noise layers, drawn with ``torch.randn(shape, generator=generator,
            device=x.device, dtype=x.dtype)`` in that order.
        generator : torch.Generator, optional
            Source of the drawn noise (must live on ``x``'s device); ``None``: the global RNG.

        Returns
        -------
        Tensor
            ``[B, 3, H, W]``, the residual (unbounded); ``[B, 12, H, W]`` for the affine head
            (see :mod:`pastenet.models.heads`).

        Raises
        ------
        ConfigError
            Wrong channel count, a size that is not a multiple of ``config.size_multiple``, or a
            noise list of the wrong length or shapes.
        """
        self._check_input(x)
        shapes = self.noise_shapes(x.shape[0], x.shape[2], x.shape[3])
        if noise is None:
            noise = [torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype) for shape in shapes]
        else:
            noise = list(noise)
            got = [tuple(n.shape) for n in noise]
            if got != shapes:
                raise ConfigError(f"noise must have the shapes {shapes}, got {got}")

        skips = []
        h = self.stem(x)
        for block in self.down:
            skips.append(h)
            h = block(h)
        h = self.middle(h)
        for i, (up, fuse) in enumerate(zip(self.up, self.fuse, strict=True)):
            h = up(h, noise[i] if noise else None)
            h = fuse(torch.cat([h, skips.pop()], dim=1))
        return self.to_rgb(h)
