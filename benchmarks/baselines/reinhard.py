"""Reinhard et al. (2001) colour transfer inside the mask, against the target's context.

Per channel of CIE Lab (scikit-image's ``rgb2lab``, D65), the source's pixels inside the mask are
shifted and scaled so that their mean and standard deviation equal those of the **context**: the
target's pixels in a band outside the mask, within ``band`` pixels (Euclidean distance) of it.
The default width is a quarter of the radius of a disc with the mask's area, at least 4 pixels
(``max(4, round(0.25·sqrt(area/π)))``): local enough to follow the surroundings (skin around a
mouth rather than the whole photo's background), wide enough for stable statistics. When the band
holds no pixel (the mask covers the image) the statistics of every pixel outside the mask are
used; with none at all the source is pasted unchanged. A source channel with zero spread is only
shifted. Lab colours outside the sRGB gamut are clipped by ``lab2rgb``. Only target pixels
outside the mask are read.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import ndimage
from skimage.color import lab2rgb, rgb2lab

from ._checks import check_inputs, composite

__all__ = ["reinhard", "context_band"]


def context_band(mask: np.ndarray, band: float | None = None) -> np.ndarray:
    """The pixels outside ``mask`` within ``band`` pixels of it (bool HxW); default width above."""
    mask = np.asarray(mask) != 0
    if band is None:
        band = max(4.0, round(0.25 * math.sqrt(mask.sum() / math.pi)))
    if not mask.any():
        return np.zeros_like(mask)
    # distance of every outside pixel to the nearest mask pixel
    dist = ndimage.distance_transform_edt(~mask)
    return (~mask) & (dist <= band)


def _lab(pixels: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 RGB -> (N, 3) float64 Lab."""
    return rgb2lab(pixels.reshape(-1, 1, 3).astype(np.float64) / 255.0).reshape(-1, 3)


def reinhard(target: np.ndarray, source: np.ndarray, mask: np.ndarray, *, band: float | None = None) -> np.ndarray:
    """Match the Lab mean and standard deviation of the source inside the mask to the context's."""
    target, source, mask = check_inputs(target, source, mask)
    if not mask.any():
        return target.copy()
    context = context_band(mask, band)
    if not context.any():
        context = ~mask
    if not context.any():
        return composite(target, source, mask)
    src = _lab(source[mask])
    ctx = _lab(target[context])
    mu_s, sd_s = src.mean(0), src.std(0)
    mu_t, sd_t = ctx.mean(0), ctx.std(0)
    scale = np.where(sd_s > 1e-6, sd_t / np.maximum(sd_s, 1e-6), 1.0)
    lab = (src - mu_s) * scale + mu_t
    with warnings.catch_warnings():  # out-of-gamut colours are clipped, as documented
        warnings.simplefilter("ignore", UserWarning)
        rgb = lab2rgb(lab.reshape(-1, 1, 3)).reshape(-1, 3)
    out = np.array(target, copy=True)
    out[mask] = np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return out
