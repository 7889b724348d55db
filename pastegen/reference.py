"""Slow, obviously correct reference implementations of every component of T.

These follow the paper's equations literally, in float64, with scikit-image where it already
defines the operation (HSV conversion, projective warps, bilinear resize) and plain loops
elsewhere. They exist to be compared against: the components' ``apply`` functions and the fast
kernels must agree with them (float32 within 1e-5, uint8 within one level). Do not use them to
make data.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.color import hsv2rgb, rgb2hsv
from skimage.transform import ProjectiveTransform, resize, warp

from .components.color import ColorParams
from .components.crop import CropParams
from .components.crop import resize as crop_resize
from .components.geometric import GeometricParams, corners
from .components.mask import MaskParams
from .components.mix import MixParams

__all__ = [
    "color",
    "mix_field",
    "shading",
    "homography",
    "warp_image",
    "mask",
    "crop",
    "transform",
    "tuple_arrays",
]


def color(image: np.ndarray, params: ColorParams, region: np.ndarray | None = None) -> np.ndarray:
    """``T_s ∘ T_h ∘ T_c ∘ T_b`` on a float image in [0, 1], step by step (float64)."""
    x = np.asarray(image, dtype=np.float64).copy()
    # T_b: one bias on every channel.
    x = x + params.brightness
    # T_c: per channel, around the channel mean over the region (or the frame).
    sel = np.ones(x.shape[:2], bool) if region is None else np.asarray(region).astype(bool)
    for i in range(3):
        m_i = x[..., i][sel].mean()
        x[..., i] = (x[..., i] - m_i) * params.contrast[i] + m_i
    x = np.clip(x, 0, 1)
    # T_h: hue bias modulo one turn, with scikit-image's HSV.
    hsv = rgb2hsv(x)
    hsv[..., 0] = np.mod(hsv[..., 0] + params.hue, 1.0)
    x = hsv2rgb(hsv)
    # T_s: saturation scale, in a second HSV round trip as the paper writes it.
    hsv = rgb2hsv(x)
    hsv[..., 1] = np.clip(hsv[..., 1] * params.saturation, 0, 1)
    return hsv2rgb(hsv)


def mix_field(height: int, width: int, params: MixParams) -> np.ndarray:
    """``M_mix`` by scikit-image's bilinear resize with edge clamping (no anti-aliasing)."""
    return resize(params.grid.astype(np.float64), (height, width), order=1, mode="edge", anti_aliasing=False)


def shading(image: np.ndarray, a: ColorParams, b: ColorParams, m: MixParams, region: np.ndarray | None = None) -> np.ndarray:
    """Eq. 3: ``max(min(I1·M_mix + I2·(1 − M_mix), 1), 0)``."""
    i1 = color(image, a, region)
    i2 = color(image, b, region)
    f = mix_field(image.shape[0], image.shape[1], m)[..., None]
    return np.maximum(np.minimum(i1 * f + i2 * (1 - f), 1.0), 0.0)


def homography(height: int, width: int, params: GeometricParams) -> np.ndarray:
    """The homography mapping the corners to the offset corners, by scikit-image's estimator."""
    src = corners(height, width)
    if hasattr(ProjectiveTransform, "from_estimate"):  # scikit-image >= 0.26
        tform = ProjectiveTransform.from_estimate(src, src + params.offsets)
    else:  # pragma: no cover - older scikit-image
        tform = ProjectiveTransform()
        tform.estimate(src, src + params.offsets)
    return tform.params / tform.params[2, 2]


def warp_image(image: np.ndarray, params: GeometricParams, border: str = "reflect") -> np.ndarray:
    """``T_geometric``: ``out(q) = I(H⁻¹ q)``, bilinear, by :func:`skimage.transform.warp`."""
    h = homography(image.shape[0], image.shape[1], params)
    tform = ProjectiveTransform(matrix=h)
    return warp(
        np.asarray(image, dtype=np.float64),
        tform.inverse,
        order=1,
        mode="reflect" if border == "reflect" else "constant",
        cval=0.0,
        preserve_range=True,
    )


def mask(height: int, width: int, params: MaskParams) -> np.ndarray:
    """The rotated rectangle, pixel by pixel: is the pixel centre inside?"""
    out = np.zeros((height, width), np.uint8)
    theta = math.radians(params.angle)
    c, s = math.cos(theta), math.sin(theta)
    for y in range(height):
        for x in range(width):
            u = (x - params.cx) * c - (y - params.cy) * s
            v = (x - params.cx) * s + (y - params.cy) * c
            if abs(u) <= params.width / 2 + 1e-9 and abs(v) <= params.height / 2 + 1e-9:
                out[y, x] = 1
    return out


def crop(image: np.ndarray, params: CropParams, out: tuple[int, int]) -> np.ndarray:
    """Resize (the crop component's documented OpenCV rule) and slice the window."""
    resized = crop_resize(np.asarray(image), params.resized_height, params.resized_width)
    return resized[params.top : params.top + out[0], params.left : params.left + out[1]]


def transform(image_u8: np.ndarray, tuple_params, spec) -> np.ndarray:
    """``T(I) = T_shading(T_geometric(I))`` in float64 in [0, 1], statistics inside M."""
    m = mask(spec.height, spec.width, tuple_params.mask)
    warped = warp_image(np.asarray(image_u8, np.float64) / 255.0, tuple_params.geometric, spec.geometric.border)
    return shading(warped, tuple_params.color_a, tuple_params.color_b, tuple_params.mix, region=m)


def tuple_arrays(image_u8: np.ndarray, tuple_params, spec) -> dict[str, np.ndarray]:
    """``I``, ``I_T``, ``I_S`` and ``M`` of a tuple from its crop, uint8 (rounding half up)."""
    m = mask(spec.height, spec.width, tuple_params.mask)
    t = transform(image_u8, tuple_params, spec)
    t8 = np.floor(np.clip(t, 0, 1) * 255 + 0.5).astype(np.uint8)
    return {"I": image_u8, "I_T": image_u8 * (1 - m[..., None]), "I_S": t8 * m[..., None], "M": m}
