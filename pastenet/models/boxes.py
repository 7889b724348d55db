"""G's prediction on each mask's bounding box only: a training step without full-resolution work
outside the masks.

A model whose G runs at a reduced size (``map_stride``, :mod:`pastenet.models.heads`) spends a
large part of a training step at full resolution: upsampling its output, applying the head, the
loss and their backward passes, all over the whole image. When the loss only sees the mask (the
reconstruction loss ``recon="mask"`` without the adversarial term), no pixel outside a mask's
bounding box reaches it. :func:`predict_in_boxes` runs G as usual, then for each sample crops G's
output to the box grown by one of its pixels, upsamples only that crop by the integer stride and
crops it to the box.

Bilinear upsampling (``align_corners=False``) by an integer factor computes an output pixel from
the same two neighbours per axis with the same weights in the crop as in the whole map (the margin
keeps both neighbours inside the crop; at the map's edges the crop shares the edge), so the box's
pixels are those :func:`~pastenet.models.heads.predict` computes, up to float rounding: torch's
vectorised kernel can round the last bit differently for some crop widths (bit for bit at the zoo's
64 → 256 in the tests' cases, within 3e-7 at 24 → 96). On the faces command's batches at 256 px
this makes G's training step 1.18-1.34x faster (``benchmarks/box_step.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import ModelConfig
from ..errors import ConfigError
from .generator import Generator
from .heads import apply_head, network_output, network_size

__all__ = ["Box", "mask_boxes", "integer_stride", "predict_in_boxes"]

#: A bounding box ``(y0, y1, x0, x1)`` in pixels, ends exclusive.
Box = tuple[int, int, int, int]


def mask_boxes(mask: Tensor) -> list[Box]:
    """Each sample's bounding box of its mask's nonzero pixels.

    Parameters
    ----------
    mask : Tensor
        ``[B, 1, H, W]``.

    Returns
    -------
    list of Box
        One ``(y0, y1, x0, x1)`` per sample, ends exclusive; ``(0, 1, 0, 1)`` for an empty mask
        (a pixel whose weight in the loss is 0, so the sample adds nothing but keeps its place).
    """
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ConfigError(f"the mask must be [B, 1, H, W], got shape {tuple(mask.shape)}")
    rows = (mask > 0).any(dim=3)[:, 0]  # [B, H]
    cols = (mask > 0).any(dim=2)[:, 0]  # [B, W]
    h, w = rows.shape[1], cols.shape[1]
    # argmax returns the first maximal index: the first and (on the flipped rows) the last set one
    first_r, last_r = rows.byte().argmax(dim=1), h - 1 - rows.flip(1).byte().argmax(dim=1)
    first_c, last_c = cols.byte().argmax(dim=1), w - 1 - cols.flip(1).byte().argmax(dim=1)
    table = torch.stack([rows.any(dim=1).long(), first_r, last_r, first_c, last_c], dim=1).tolist()  # one sync
    return [(y0, y1 + 1, x0, x1 + 1) if any_ else (0, 1, 0, 1) for any_, y0, y1, x0, x1 in table]


def integer_stride(config: ModelConfig, height: int, width: int) -> int | None:
    """The factor between the input's sides and G's working sides, or None if it is not one integer.

    Parameters
    ----------
    config : ModelConfig
    height, width : int
        The input's size.

    Returns
    -------
    int or None
        ``s`` with ``height = s · h`` and ``width = s · w`` for G's sides ``(h, w)``
        (:func:`~pastenet.models.heads.network_size`); 1 for models that run at full size.
    """
    hs, ws = network_size(config, height, width)
    if height % hs or width % ws or height // hs != width // ws:
        return None
    return height // hs


def predict_in_boxes(
    G: Generator,
    composite: Tensor,
    mask: Tensor,
    *,
    noise: Sequence[Tensor] | None = None,
    generator: torch.Generator | None = None,
    run: Callable[..., Tensor] | None = None,
    prior: Tensor | None = None,
) -> tuple[list[Box], list[Tensor]]:
    """``Y`` on each mask's bounding box: :func:`~pastenet.models.heads.predict`'s values there.

    Parameters
    ----------
    G, composite, mask, noise, generator, run, prior
        As for :func:`~pastenet.models.heads.predict` (at scale 1).

    Returns
    -------
    boxes : list of Box
        :func:`mask_boxes` of ``mask``.
    parts : list of Tensor
        ``parts[i]``: ``[1, 3, y1 − y0, x1 − x0]`` float32, ``predict(...)[i:i+1, :, y0:y1, x0:x1]``
        for ``boxes[i] = (y0, y1, x0, x1)`` (up to float rounding; see the module docstring).

    Raises
    ------
    ConfigError
        The input's size is not an integer multiple of G's working size (see
        :func:`integer_stride`); use :func:`~pastenet.models.heads.predict`.
    """
    h, w = composite.shape[-2:]
    stride = integer_stride(G.config, h, w)
    if stride is None:
        raise ConfigError(f"input size {h}x{w} is not an integer multiple of the size G runs at {network_size(G.config, h, w)}")
    out = network_output(G, composite, mask, noise=noise, generator=generator, run=run, prior=prior, upsample=False)
    base = (composite if prior is None else prior).float()
    hs, ws = out.shape[-2:]
    boxes = mask_boxes(mask)
    parts = []
    for i, (y0, y1, x0, x1) in enumerate(boxes):
        part = out[i : i + 1]
        if stride > 1:
            # the box grown to whole map pixels plus one on each side, clipped to the map
            ly0, ly1 = max(0, y0 // stride - 1), min(hs, -(-y1 // stride) + 1)
            lx0, lx1 = max(0, x0 // stride - 1), min(ws, -(-x1 // stride) + 1)
            part = part[:, :, ly0:ly1, lx0:lx1]
            part = F.interpolate(part, size=((ly1 - ly0) * stride, (lx1 - lx0) * stride), mode="bilinear", align_corners=False)
            part = part[:, :, y0 - ly0 * stride : y1 - ly0 * stride, x0 - lx0 * stride : x1 - lx0 * stride]
        else:
            part = part[:, :, y0:y1, x0:x1]
        region = (slice(i, i + 1), slice(None), slice(y0, y1), slice(x0, x1))
        parts.append(apply_head(G.config, part, base[region], mask[region].float()))
    return boxes, parts
