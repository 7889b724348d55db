"""``T_shading`` (paper eq. 3): two colour transforms mixed by a smooth random field.

``T_shading(I) = clip(I1·M_mix + I2·(1 − M_mix), 0, 1)`` with ``I1 = T_color(I)`` and
``I2 = T_color(I)`` drawn independently, and ``M_mix`` the upsampled salt-and-pepper grid of
:mod:`pastegen.components.mix`.
"""

from __future__ import annotations

import numpy as np

from . import color, mix

__all__ = ["BLEND_CASES", "apply", "blend_case"]

#: The cases of :func:`blend_case`: eq. 3 reduces to the first transform, to the second, or mixes both.
BLEND_CASES = ("first", "second", "both")


def blend_case(color_a: color.ColorParams, color_b: color.ColorParams, mixing: mix.MixParams) -> str:
    """Which colour transforms eq. 3 needs: the exact shortcuts where it reduces to one image.

    ``"first"`` when both transforms are equal or the mixing grid is all ones (``I1`` alone),
    ``"second"`` when the grid is all zeros (``I2`` alone), else ``"both"`` (float blending would
    be off by an ulp where the result is a single transform). :func:`apply` and the fused kernels
    (:mod:`pastegen.kernels`) take the same shortcuts.
    """
    if color_b == color_a or mixing.grid.all():
        return "first"
    if not mixing.grid.any():
        return "second"
    return "both"


def apply(
    image: np.ndarray,
    color_a: color.ColorParams,
    color_b: color.ColorParams,
    mixing: mix.MixParams,
    *,
    region: np.ndarray | None = None,
) -> np.ndarray:
    """Apply ``T_shading``.

    Parameters
    ----------
    image : ndarray, (H, W, 3), uint8 or float in [0, 1]
    color_a, color_b : ColorParams
        Parameters of ``I1`` and ``I2``.
    mixing : MixParams
        The salt-and-pepper grid of ``M_mix``.
    region : ndarray, (H, W), optional
        Statistics region of the contrast means (see :mod:`pastegen.components.color`).

    Returns
    -------
    ndarray, (H, W, 3), float32 in [0, 1]
    """
    i1 = color.apply(image, color_a, region=region)
    case = blend_case(color_a, color_b, mixing)
    if case == "first":
        return i1
    i2 = color.apply(image, color_b, region=region)
    if case == "second":
        return i2
    m = mix.field_image(i1.shape[0], i1.shape[1], mixing)[..., None]
    return np.clip(i1 * m + i2 * (1 - m), 0.0, 1.0)
