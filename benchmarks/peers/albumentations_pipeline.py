"""Peer: the full copy-paste tuple as an albumentations user would build it.

Per tuple, on the whole 512x512 frame:

1. ``M``: the same rotated rectangle as pastegen's parameters, drawn with ``cv2.boxPoints`` +
   ``cv2.fillPoly`` (OpenCV's own pixel rule, so edge pixels can differ from pastegen's);
2. ``A.Perspective`` (bilinear, ``BORDER_REFLECT_101``, ``keep_size=True``, one
   ``cv2.warpPerspective``) with ``scale`` matched to pastegen's corner offsets: pastegen draws
   ``U(−σ, σ)`` pixels per coordinate, standard deviation ``σ/√3``; albumentations draws
   ``|N(0, scale·size)|`` (corners move inwards only), so ``scale = σ/√3/size`` (0.0169 at σ = 15,
   512 px) gives the same RMS displacement;
3. two independent draws of ``A.Compose([A.RandomBrightnessContrast, A.ColorJitter])`` on the
   warped image: brightness ±0.5 and contrast ±0.5 (albumentations' contrast is one factor
   about the whole frame, not pastegen's per-channel factors about the mean over M), then
   ColorJitter with hue ±0.5 and saturation [0.5, 1.5] (brightness and contrast left at 1);
4. ``M_mix``: ``cv2.resize`` of pastegen's 10x10 grid (``INTER_LINEAR``), blended with
   ``cv2.blendLinear`` (per-pixel weights, in the image's dtype);
5. composite with ``cv2.bitwise_and`` under M and 1−M: ``I_T = I·(1−M)``, ``I_S = T·M`` (uint8, or
   float32 in [0, 1]).

By default (``composite="opencv"``) steps 4-5 use OpenCV's fused per-pixel calls: the peer should
be as fast as a careful albumentations user makes it. ``composite="numpy"`` writes them with
NumPy float32 broadcasting instead, as most code does (``t = i1·f + i2·(1 − f)``, ``I·(1 − M)``,
``round(t)·M``); on the 2-core machine that took ~8 ms of a ~19 ms uint8 tuple.

albumentations' uint8 colour path works on uint8 HSV (hue in 180 steps, lookup tables); its
float32 path on float HSV.

The random parameters of steps 2-3 are albumentations' own (seeded); the mask and the mixing grid
are pastegen's. The image is uint8 (``dtype=uint8``) or converted to float32 in [0, 1] first
(``dtype=float32``; albumentations then runs its float code paths).
"""

from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np

__all__ = ["AlbumentationsTuple", "perspective_scale"]


def perspective_scale(sigma: float, size: int) -> float:
    """albumentations' ``Perspective(scale=...)`` with the RMS corner displacement of ``U(−σ, σ)`` px."""
    return sigma / math.sqrt(3.0) / size


class AlbumentationsTuple:
    """Render tuples ``(I_T, I_S, M)`` with albumentations (see the module docstring)."""

    def __init__(self, spec, *, dtype=np.uint8, seed: int = 0, composite: str = "opencv") -> None:
        if composite not in ("opencv", "numpy"):
            raise ValueError(f"composite must be 'opencv' or 'numpy', got {composite!r}")
        self.h, self.w = spec.height, spec.width
        self.dtype = np.dtype(dtype)
        self.composite = composite
        scale = perspective_scale(spec.geometric.sigma, min(spec.height, spec.width))
        border = cv2.BORDER_REFLECT_101 if spec.geometric.border == "reflect" else cv2.BORDER_CONSTANT
        self.geometric = A.Compose(
            [
                A.Perspective(
                    scale=(scale, scale), keep_size=True, fit_output=False, border_mode=border, interpolation=cv2.INTER_LINEAR, p=1.0
                )
            ],
            seed=seed,
        )
        cs = spec.color
        self.color = A.Compose(
            [
                A.RandomBrightnessContrast(
                    brightness_limit=tuple(cs.brightness), contrast_limit=(cs.contrast[0] - 1.0, cs.contrast[1] - 1.0), p=1.0
                ),
                A.ColorJitter(brightness=(1.0, 1.0), contrast=(1.0, 1.0), saturation=tuple(cs.saturation), hue=tuple(cs.hue), p=1.0),
            ],
            seed=seed + 1,
        )

    def __call__(self, image: np.ndarray, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        h, w = self.h, self.w
        mp = params.mask
        box = cv2.boxPoints(((mp.cx, mp.cy), (mp.width, mp.height), -mp.angle))
        M = np.zeros((h, w), np.uint8)
        cv2.fillPoly(M, [np.round(box).astype(np.int32)], 1)

        x = image if self.dtype == np.uint8 else image.astype(np.float32) * np.float32(1 / 255)
        warped = self.geometric(image=x)["image"]
        i1 = self.color(image=warped)["image"]
        i2 = self.color(image=warped)["image"]
        f = cv2.resize(params.mix.grid.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        if self.composite == "numpy":  # the straightforward NumPy broadcasting most code has
            f3 = f[..., None]
            t = i1.astype(np.float32) * f3 + i2.astype(np.float32) * (1 - f3)
            m3 = M[..., None]
            if self.dtype == np.uint8:
                return image * (1 - m3), np.clip(t + 0.5, 0, 255).astype(np.uint8) * m3, M
            return x * (1 - m3), np.clip(t, 0.0, 1.0) * m3, M
        t = cv2.blendLinear(i1, i2, f, 1.0 - f)  # i1·f + i2·(1 − f), same dtype (uint8 rounds)
        inv = 1 - M
        I_T = cv2.bitwise_and(x, x, mask=inv)
        I_S = cv2.bitwise_and(t, t, mask=M)
        return I_T, I_S, M
