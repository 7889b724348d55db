"""From G's output to the pasted image: the paper's residual and the affine colour map.

:func:`predict` is the one place where G's input is prepared and its output turned into ``Y``; the
trainer, the sample grids and paste all call it.

Heads
-----
``residual`` (the paper, section 3.2)
    ``Y = X + R·M`` with ``R = G(X)`` (:func:`pastenet.models.compose`).
``affine`` (beyond the paper; in the spirit of PCT-Net, Guerreiro et al., CVPR 2023)
    G predicts 12 channels per pixel: a 3x3 matrix ``ΔA`` (row-major) and a bias ``b``. With the
    source ``s = (X + 1) / 2`` in [0, 1], ``y = s + ΔA·s + b`` inside the mask and
    ``Y = 2y − 1``; outside the mask ``Y = X``. G's last layer starts at zero, so an untrained model
    is the naive paste. Because the map is predicted at low resolution (``map_stride``) and
    upsampled bilinearly, it is smooth: the source's fine detail passes through scaled by ``A``
    and is never re-synthesised (no blur, no invented structure).

Scale
-----
G runs on its input shrunk by ``map_stride / scale`` (bilinear with antialiasing), rounded to sides
that are multiples of ``config.size_multiple``; its output is upsampled back to the input's size
(bilinear) before the head is applied. With ``map_stride = 1`` and ``scale = 1`` (the paper's
models) nothing is resampled and :func:`predict` is exactly ``compose(G(X), X, M)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import ModelConfig
from ..errors import ConfigError
from .generator import Generator, compose

__all__ = ["network_size", "apply_head", "network_output", "predict"]


def network_size(config: ModelConfig, height: int, width: int, scale: float = 1.0) -> tuple[int, int]:
    """The sides G runs at for an input of ``height`` x ``width`` (see the module docstring).

    Parameters
    ----------
    config : ModelConfig
    height, width : int
        The input's size in pixels.
    scale : float
        Extra shrink factor in (0, 1] (paste's scale-aware mode); 1: none.

    Returns
    -------
    (int, int)
        Multiples of ``config.size_multiple``, at least one multiple each.
    """
    if not (0 < scale <= 1):
        raise ConfigError(f"scale must be in (0, 1], got {scale}")
    factor = config.map_stride / float(scale)
    m = config.size_multiple
    if factor == 1:
        return int(height), int(width)
    return max(m, int(round(height / factor / m)) * m), max(m, int(round(width / factor / m)) * m)


def apply_head(config: ModelConfig, out: Tensor, composite: Tensor, mask: Tensor) -> Tensor:
    """``Y`` from G's (full-resolution) output ``out``, the composite ``X`` and the mask ``M``.

    Parameters
    ----------
    config : ModelConfig
        ``config.output`` names the head.
    out : Tensor
        ``[B, config.out_channels, H, W]``.
    composite : Tensor
        ``[B, 3, H, W]`` in [-1, 1].
    mask : Tensor
        ``[B, 1, H, W]`` in {0, 1}.

    Returns
    -------
    Tensor
        ``[B, 3, H, W]``; equal to ``composite`` wherever ``mask`` is 0.
    """
    if config.output == "residual":
        return compose(out, composite, mask)
    with torch.autocast(device_type=out.device.type, enabled=False):  # the colour map in float32
        return _affine(out.float(), composite.float(), mask.float())


def _affine(out: Tensor, composite: Tensor, mask: Tensor) -> Tensor:
    b, _, h, w = out.shape
    s = (composite + 1.0) * 0.5
    # split, not two slices: the backward joins the two gradients (a cat) instead of writing each
    # into a zero-filled copy of ``out`` and adding them (the same values)
    a, offset = torch.split(out, [9, 3], dim=1)
    delta = a.reshape(b, 3, 3, h, w)
    # ΔA·s as a broadcast product summed over j (on a CPU ~3x faster than einsum's batched
    # matrix product with its layout copies, forward and backward).
    y = s + (delta * s.unsqueeze(1)).sum(dim=2) + offset
    return composite + (2.0 * y - 1.0 - composite) * mask


def network_output(
    G: Generator,
    composite: Tensor,
    mask: Tensor,
    *,
    noise: Sequence[Tensor] | None = None,
    generator: torch.Generator | None = None,
    scale: float = 1.0,
    run: Callable[..., Tensor] | None = None,
    prior: Tensor | None = None,
    upsample: bool = True,
) -> Tensor:
    """G's output at the input's resolution (resampled as the module docstring says), float32.

    The parameters are those of :func:`predict`; the head is not applied. With ``upsample`` false
    the output stays at the size G ran at (:func:`network_size`), e.g. for
    :func:`pastenet.models.boxes.predict_in_boxes`.
    """
    config: ModelConfig = G.config
    h, w = composite.shape[-2:]
    hs, ws = network_size(config, h, w, scale)
    if (prior is None) != (config.prior == "none"):
        raise ConfigError("this model takes the Poisson prior's composite (prior=...)" if prior is None else "this model has no prior; do not pass one")
    x = torch.cat([composite, mask] + ([prior] if prior is not None else []), dim=1)
    if (hs, ws) != (h, w):
        x = F.interpolate(x, size=(hs, ws), mode="bilinear", antialias=True, align_corners=False)
    out = (run if run is not None else G)(x, noise=noise, generator=generator).float()
    if upsample and (hs, ws) != (h, w):
        out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
    return out


def predict(
    G: Generator,
    composite: Tensor,
    mask: Tensor,
    *,
    noise: Sequence[Tensor] | None = None,
    generator: torch.Generator | None = None,
    scale: float = 1.0,
    run: Callable[..., Tensor] | None = None,
    prior: Tensor | None = None,
) -> Tensor:
    """The pasted image ``Y`` for the composite ``X`` and the mask ``M`` (any size).

    Parameters
    ----------
    G : Generator
        Its ``config`` says the head, ``map_stride`` and the size multiple.
    composite, mask : Tensor
        ``[B, 3, H, W]`` in [-1, 1] and ``[B, 1, H, W]`` in {0, 1}; ``H`` and ``W`` must be
        multiples of ``config.size_multiple`` when nothing is resampled.
    noise : sequence of Tensor, optional
        G's noise images for the size G runs at (:func:`network_size`); drawn when omitted.
    generator : torch.Generator, optional
        Source of drawn noise.
    scale : float
        Extra shrink factor in (0, 1] (see :func:`network_size`).
    run : callable, optional
        What to call instead of ``G`` (e.g. ``torch.compile(G)``).
    prior : Tensor, optional
        ``[B, 3, H, W]``: the composite with the source's Poisson blend inside the mask, for
        models with ``config.prior = "poisson"`` (and only those): G's extra input and the image
        the head maps.

    Returns
    -------
    Tensor
        ``[B, 3, H, W]`` float32.
    """
    out = network_output(G, composite, mask, noise=noise, generator=generator, scale=scale, run=run, prior=prior)
    return apply_head(G.config, out, (composite if prior is None else prior).float(), mask.float())
