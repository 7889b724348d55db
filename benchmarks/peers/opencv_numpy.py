"""Peer: the paper's T written with NumPy + OpenCV, as a careful user would write it.

Same parameters as pastegen (:class:`pastegen.pipeline.TupleParams`), same definition of T:

1. ``M``: the rotated rectangle, pixel centres inside the closed rectangle (pastegen's rule),
   evaluated with NumPy on the rectangle's bounding box only;
2. ``T_geometric``: ``cv2.getPerspectiveTransform`` of the four moved corners, then
   ``cv2.warpPerspective`` (bilinear, ``BORDER_REFLECT_101``) of the float32 image in [0, 1]
   (warping the uint8 image would round every pixel before the colour transforms amplify it);
3. two colour transforms ``T_s∘T_h∘T_c∘T_b``: brightness and the per-channel contrast around the
   means over ``M`` fused into one ``cv2.transform`` (a 3x4 affine colour matrix), clip, one
   ``cv2.cvtColor`` HSV round trip (OpenCV's float HSV: H in degrees, same definition as
   scikit-image's), hue shift and saturation scale with NumPy;
4. ``M_mix``: ``cv2.resize`` of the 10x10 grid with ``INTER_LINEAR`` (the same half-pixel
   convention as pastegen), NumPy blend and clip;
5. composite with ``cv2.bitwise_and`` under M and 1−M: ``I_T = I·(1−M)``,
   ``I_S = round_half_up(255·T)·M`` (uint8) or ``T·M`` (float32 in [0, 1]).

``roi=False`` computes T on the whole frame (what most code does); ``roi=True`` computes it only
on the bounding box of ``M`` (warping with the homography shifted to the box), the same saving the
fused kernels make. The uint8 output matches ``pastegen.render`` within one level.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["OpenCVNumpy", "mask_box", "rasterize_box"]


def mask_box(height: int, width: int, mp) -> tuple[int, int, int, int]:
    """Integer pixel box ``(y0, y1, x0, x1)`` (half-open) holding every pixel centre of the mask."""
    c, s = abs(math.cos(math.radians(mp.angle))), abs(math.sin(math.radians(mp.angle)))
    hx = 0.5 * (mp.width * c + mp.height * s) + 1e-6
    hy = 0.5 * (mp.width * s + mp.height * c) + 1e-6
    x0 = max(0, math.ceil(mp.cx - hx))
    x1 = min(width, math.floor(mp.cx + hx) + 1)
    y0 = max(0, math.ceil(mp.cy - hy))
    y1 = min(height, math.floor(mp.cy + hy) + 1)
    return y0, y1, x0, x1


def rasterize_box(box: tuple[int, int, int, int], mp) -> np.ndarray:
    """The mask on ``box`` (uint8 0/1), pastegen's pixel-centre rule."""
    y0, y1, x0, x1 = box
    theta = math.radians(mp.angle)
    c, s = math.cos(theta), math.sin(theta)
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] - mp.cx
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] - mp.cy
    u = dx * c - dy * s
    v = dx * s + dy * c
    eps = 1e-9
    return ((np.abs(u) <= mp.width / 2 + eps) & (np.abs(v) <= mp.height / 2 + eps)).view(np.uint8)


def _color(x: np.ndarray, cp, means: np.ndarray) -> np.ndarray:
    """One colour transform on float32 [0, 1] ``x`` (contrast means ``means`` of the warped image over M)."""
    lam = np.asarray(cp.contrast, dtype=np.float64)
    m = means + cp.brightness  # means of the image T_c receives (after T_b)
    # (x + b − m)·λ + m = λ·x + ((b − m)·λ + m), one affine colour matrix per channel
    mat = np.zeros((3, 4), np.float64)
    mat[[0, 1, 2], [0, 1, 2]] = lam
    mat[:, 3] = (cp.brightness - m) * lam + m
    y = cv2.transform(x, mat)
    np.clip(y, 0.0, 1.0, out=y)
    if cp.hue == 0.0 and cp.saturation == 1.0:
        return y
    hsv = cv2.cvtColor(y, cv2.COLOR_RGB2HSV)  # float: H in [0, 360), S and V in [0, 1]
    h, s, v = cv2.split(hsv)
    h += np.float32(360.0 * cp.hue)
    np.mod(h, np.float32(360.0), out=h)
    s *= np.float32(cp.saturation)
    np.minimum(s, np.float32(1.0), out=s)
    return cv2.cvtColor(cv2.merge((h, s, v)), cv2.COLOR_HSV2RGB)


class OpenCVNumpy:
    """Render tuples ``(I_T, I_S, M)`` with NumPy + OpenCV.

    Parameters
    ----------
    spec : TupleSpec
    dtype : numpy dtype
        ``uint8`` (``I_S`` rounded half up) or ``float32`` (``I_T`` and ``I_S`` in [0, 1]).
    roi : bool
        Compute T only on the bounding box of M.
    """

    def __init__(self, spec, *, dtype=np.uint8, roi: bool = False) -> None:
        self.h, self.w = spec.height, spec.width
        self.dtype = np.dtype(dtype)
        self.roi = bool(roi)
        self.reflect = spec.geometric.border == "reflect"
        self.I_T = np.empty((self.h, self.w, 3), self.dtype)
        self.I_S = np.empty((self.h, self.w, 3), self.dtype)
        self.M = np.empty((self.h, self.w), np.uint8)
        corners = np.array([[0, 0], [self.w - 1, 0], [self.w - 1, self.h - 1], [0, self.h - 1]], np.float64)
        self.corners = corners

    def __call__(self, image: np.ndarray, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.h, self.w
        mbox = mask_box(h, w, params.mask)
        M = self.M
        M.fill(0)
        M[mbox[0] : mbox[1], mbox[2] : mbox[3]] = rasterize_box(mbox, params.mask)
        y0, y1, x0, x1 = mbox if self.roi else (0, h, 0, w)
        m = M[y0:y1, x0:x1]

        # T_geometric on the box: dst(q') = I(H⁻¹(q' + (x0, y0))), reading only the part of I the
        # box maps to (the bounding box of the box's corners under H⁻¹, plus 2 px, clamped to I)
        dst = (self.corners + params.geometric.offsets).astype(np.float32)
        H = cv2.getPerspectiveTransform(self.corners.astype(np.float32), dst)
        sy0, sy1, sx0, sx1 = 0, h, 0, w
        if self.roi:
            q = np.array([[x0, y0, 1], [x1 - 1, y0, 1], [x1 - 1, y1 - 1, 1], [x0, y1 - 1, 1]], np.float64)
            p = q @ np.linalg.inv(H).T
            p = p[:, :2] / p[:, 2:]
            sx0, sy0 = (max(0, int(math.floor(v)) - 2) for v in p.min(axis=0))
            sx1, sy1 = min(w, int(math.ceil(p[:, 0].max())) + 3), min(h, int(math.ceil(p[:, 1].max())) + 3)
            H = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ H @ np.array(
                [[1, 0, sx0], [0, 1, sy0], [0, 0, 1]], np.float64
            )
        src = image[sy0:sy1, sx0:sx1].astype(np.float32)
        src *= np.float32(1 / 255)
        border = cv2.BORDER_REFLECT_101 if self.reflect else cv2.BORDER_CONSTANT
        warped = cv2.warpPerspective(src, H, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)
        means = np.array(cv2.mean(warped, mask=m)[:3], np.float64)

        # T_shading: two colour transforms mixed by the upsampled grid
        i1 = _color(warped, params.color_a, means)
        grid = params.mix.grid
        if not grid.all() and params.color_b != params.color_a:
            i2 = _color(warped, params.color_b, means)
            f = cv2.resize(grid.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1, None]
            t = i1 - i2
            t *= f
            t += i2
            np.clip(t, 0.0, 1.0, out=t)
        else:
            t = i1

        # composite (cv2.bitwise_and under a 0/1 mask is exact: x where the mask is 1, else 0)
        inv = 1 - M
        if self.dtype == np.uint8:
            t *= np.float32(255)
            t += np.float32(0.5)
            q = t.astype(np.uint8)  # floor(255·T + 0.5): pastegen's rounding, half up
        else:
            q = t
        self.I_S.fill(0)
        self.I_S[y0:y1, x0:x1] = cv2.bitwise_and(q, q, mask=m)
        if self.dtype == np.uint8:
            I_T = cv2.bitwise_and(image, image, mask=inv)
        else:
            src_full = image.astype(np.float32)
            src_full *= np.float32(1 / 255)
            I_T = cv2.bitwise_and(src_full, src_full, mask=inv)
        return I_T, self.I_S, M
