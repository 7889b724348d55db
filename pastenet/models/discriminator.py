"""The conditional global + local discriminator D (paper section 3.2, after FaceShop / Iizuka et al.).

Input: ``(image, composite, mask)`` concatenated to 7 channels, the paper's
``(Y, I(1-M) + T(I)M, M)`` with ``image`` either the real ``I`` or the generated ``Y``.

- Global branch: per entry of ``d_channels`` a 5x5 stride-2 conv (padding 2) and a leaky ReLU over
  the whole ``resolution x resolution`` input, flattened into a dense layer to ``d_features``.
- Local branch: the same with ``d_local_channels`` over a ``window x window`` crop of the
  7-channel input around the pasted region (see :func:`local_window_origin`).
- Head: the two ``d_features`` vectors are concatenated, passed through a leaky ReLU and mapped to
  one score per sample by a single dense layer. (The leaky ReLU keeps each branch's dense layer
  from collapsing with the head into one linear map; Iizuka et al. likewise apply their
  nonlinearity after each branch's fully connected layer.)

No normalisation layers: the WGAN-GP penalty is per sample.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from ..errors import ConfigError

__all__ = ["Discriminator", "local_window_origin", "crop_windows"]


def local_window_origin(mask: Tensor, window: int) -> Tensor:
    """Top-left corner of the local window around each sample's mask.

    The ``window x window`` square is centred on the centre of the bounding box of the pixels
    with ``mask > 0.5`` and moved inside the image where it would stick out; an empty mask gives
    the image centre.

    Parameters
    ----------
    mask : Tensor
        ``[B, 1, H, W]`` or ``[B, H, W]``.
    window : int
        Side of the window, at most ``min(H, W)``.

    Returns
    -------
    torch.LongTensor
        ``[B, 2]``: ``(top, left)`` on ``mask``'s device.

    Raises
    ------
    ConfigError
        A mask of the wrong rank, or a window larger than the image.
    """
    if mask.ndim == 4:
        if mask.shape[1] != 1:
            raise ConfigError(f"mask must have one channel, got shape {tuple(mask.shape)}")
        mask = mask[:, 0]
    if mask.ndim != 3:
        raise ConfigError(f"mask must be [B, 1, H, W] or [B, H, W], got shape {tuple(mask.shape)}")
    window = int(window)
    inside = mask > 0.5
    origin = []
    for dim in (1, 2):  # rows, then columns
        side = mask.shape[dim]
        if not 1 <= window <= side:
            raise ConfigError(f"local window {window} does not fit into an image side of {side}")
        hit = inside.any(dim=3 - dim)  # [B, side]
        idx = torch.arange(side, device=mask.device)
        first = torch.where(hit, idx, side).amin(dim=1)
        last = torch.where(hit, idx, -1).amax(dim=1)
        # Box [first, last + 1) centred at (first + last + 1) / 2; window starts half a window before.
        start = torch.div(first + last + 1 - window, 2, rounding_mode="floor")
        start = torch.where(hit.any(dim=1), start, torch.full_like(start, (side - window) // 2))
        origin.append(start.clamp(0, side - window))
    return torch.stack(origin, dim=1).long()


def crop_windows(x: Tensor, origin: Tensor, window: int) -> Tensor:
    """Per-sample ``window x window`` crops ``x[b, :, top:top+window, left:left+window]``.

    Built from two ``gather`` calls, so it is differentiable with respect to ``x`` (twice, as the
    gradient penalty needs). ``origin`` is clamped into the image.

    Parameters
    ----------
    x : Tensor
        ``[B, C, H, W]``.
    origin : Tensor
        ``[B, 2]`` integer ``(top, left)``.
    window : int
        Side of the crop.

    Returns
    -------
    Tensor
        ``[B, C, window, window]``.
    """
    b, c, h, w = x.shape
    if origin.shape != (b, 2):
        raise ConfigError(f"origin must have shape [{b}, 2], got {tuple(origin.shape)}")
    origin = origin.to(device=x.device, dtype=torch.long)
    offsets = torch.arange(window, device=x.device)
    rows = origin[:, 0:1].clamp(0, h - window) + offsets  # [B, window]
    cols = origin[:, 1:2].clamp(0, w - window) + offsets
    x = x.gather(2, rows[:, None, :, None].expand(b, c, window, w))
    return x.gather(3, cols[:, None, None, :].expand(b, c, window, window))


def _branch(widths: tuple[int, ...], side: int, features: int, slope: float) -> tuple[nn.Sequential, nn.Linear]:
    layers: list[nn.Module] = []
    previous = 7
    for width in widths:
        layers += [nn.Conv2d(previous, width, 5, stride=2, padding=2), nn.LeakyReLU(slope)]
        previous = width
    out_side = side >> len(widths)
    return nn.Sequential(*layers), nn.Linear(previous * out_side * out_side, features)


class Discriminator(nn.Module):
    """The conditional global + local critic D; one unbounded score per sample.

    Parameters
    ----------
    config : ModelConfig
        ``resolution``, ``d_channels``, ``d_local_channels``, ``d_features``, ``window`` and
        ``slope`` are used. The global dense layer fixes the input size to ``resolution``.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.resolution = config.resolution
        self.window = config.window
        features, slope = config.d_features, config.slope
        self.global_convs, self.global_dense = _branch(config.d_channels, config.resolution, features, slope)
        self.local_convs, self.local_dense = _branch(config.d_local_channels, config.window, features, slope)
        self.act = nn.LeakyReLU(config.slope)
        self.head = nn.Linear(2 * config.d_features, 1)

    def forward(self, image: Tensor, composite: Tensor, mask: Tensor, origin: Tensor | None = None) -> Tensor:
        """Scores of ``image`` given the copy-paste input ``(composite, mask)``.

        Parameters
        ----------
        image : Tensor
            ``[B, 3, R, R]`` with ``R = config.resolution``: the real ``I`` or the generated ``Y``.
        composite : Tensor
            ``[B, 3, R, R]``: ``I(1-M) + T(I)M``.
        mask : Tensor
            ``[B, 1, R, R]``: ``M``.
        origin : Tensor, optional
            ``[B, 2]`` long ``(top, left)`` of the local window; ``None``:
            ``local_window_origin(mask, config.window)``. Pass the same origin for the real and
            the fake batch (compute it once from ``M``).

        Returns
        -------
        Tensor
            ``[B]`` scores (higher: more real).

        Raises
        ------
        ConfigError
            Shapes that do not match each other or the configured resolution.
        """
        r = self.resolution
        if image.ndim != 4 or image.shape[1] != 3 or tuple(image.shape[-2:]) != (r, r):
            raise ConfigError(
                f"the discriminator is built for [B, 3, {r}, {r}] images, got {tuple(image.shape)}; "
                "set the model resolution to the training data's size"
            )
        b = image.shape[0]
        if tuple(composite.shape) != (b, 3, r, r) or tuple(mask.shape) != (b, 1, r, r):
            raise ConfigError(
                f"composite and mask must be [{b}, 3, {r}, {r}] and [{b}, 1, {r}, {r}], "
                f"got {tuple(composite.shape)} and {tuple(mask.shape)}"
            )
        if origin is None:
            origin = local_window_origin(mask, self.window)
        x = torch.cat([image, composite.to(image.dtype), mask.to(image.dtype)], dim=1)
        g = self.global_dense(self.global_convs(x).flatten(1))
        l = self.local_dense(self.local_convs(crop_windows(x, origin, self.window)).flatten(1))
        return self.head(self.act(torch.cat([g, l], dim=1)))[:, 0]
