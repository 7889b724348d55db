"""Building blocks of the generator: pixelwise normalisation, noise addition, conv blocks.

No batch or instance normalisation anywhere: the discriminator is trained as a WGAN-GP, whose
gradient penalty is per sample, and the generator normalises each pixel's feature vector
(paper eq. 4) instead.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["PixelNorm", "NoiseAdd", "conv_block", "UpBlock"]


class PixelNorm(nn.Module):
    """Pixelwise feature normalisation, paper eq. 4 (the "LRN" of ProGAN).

    ``y[b, i, h, w] = x[b, i, h, w] / sqrt(mean_c x[b, c, h, w] ** 2 + eps)``

    The mean of squares is computed in (at least) float32 even for half-precision inputs (``eps = 1e-8``
    underflows in float16); the result has the input's dtype.

    Parameters
    ----------
    eps : float
        Added under the square root; the paper uses ``1e-8``.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, x: Tensor) -> Tensor:
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        scale = torch.rsqrt(wide.square().mean(dim=1, keepdim=True) + self.eps)
        return x * scale.to(x.dtype)

    def extra_repr(self) -> str:
        return f"eps={self.eps:g}"


class NoiseAdd(nn.Module):
    """Adds a single-channel noise image to every channel, scaled per channel (StyleGAN style).

    ``y = x + weight[c] * noise`` with ``noise`` of shape ``[B, 1, H, W]`` broadcast over the
    channels. ``weight`` starts at zero, so a freshly built network ignores its noise.

    Parameters
    ----------
    channels : int
        Number of feature maps of the input.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(int(channels)))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        return x + self.weight.reshape(1, -1, 1, 1).to(x.dtype) * noise.to(x.dtype)

    def extra_repr(self) -> str:
        return f"channels={self.weight.numel()}"


def conv_block(
    in_channels: int,
    out_channels: int,
    *,
    stride: int = 1,
    dilation: int = 1,
    slope: float = 0.2,
    eps: float = 1e-8,
) -> nn.Sequential:
    """3x3 conv (padding keeps the size, or halves it with ``stride=2``) -> leaky ReLU -> PixelNorm.

    Parameters
    ----------
    in_channels, out_channels : int
        Widths.
    stride : int
        1 or 2.
    dilation : int
        Dilation of the kernel; the padding equals it.
    slope : float
        Negative slope of the leaky ReLU.
    eps : float
        ε of :class:`PixelNorm`.

    Returns
    -------
    torch.nn.Sequential
        ``(conv, act, norm)``.
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.LeakyReLU(slope),
        PixelNorm(eps),
    )


class UpBlock(nn.Module):
    """4x4 stride-2 transposed conv -> (noise addition) -> leaky ReLU -> PixelNorm; doubles H and W.

    Parameters
    ----------
    in_channels, out_channels : int
        Widths.
    noise : bool
        Whether a :class:`NoiseAdd` layer sits between the transposed conv and the nonlinearity.
    slope, eps : float
        Leaky ReLU slope and PixelNorm ε.
    """

    def __init__(self, in_channels: int, out_channels: int, *, noise: bool, slope: float, eps: float) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
        self.noise = NoiseAdd(out_channels) if noise else None
        self.act = nn.LeakyReLU(slope)
        self.norm = PixelNorm(eps)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        x = self.conv(x)
        if self.noise is not None:
            if noise is None:
                raise ValueError("UpBlock with noise needs a noise image")  # internal: Generator always passes one
            x = self.noise(x, noise)
        return self.norm(self.act(x))
