"""Scale and rotate a pasted region before it is placed (the editor's handles, ``--region-scale``).

The region is turned about the centre of the mask's bounding box, so the offset keeps its
meaning: that centre stays at the same source coordinates and ``offset`` keeps placing it on the
same target pixel. When the transformed region does not fit in the source's frame the canvas
grows, and the returned ``shift`` (to add to the offset) accounts for the rows and columns added
above and to the left::

    src2, mask2, (sy, sx) = transform_region(src, mask, scale=1.5, angle=30)
    out = classic_paste(target, src2, mask2, offset=(dy + sy, dx + sx), method="naive")
"""

from __future__ import annotations

import math

import numpy as np

from .errors import MaskError, PasteError

MIN_SCALE = 0.1
MAX_SCALE = 10.0
MAX_ANGLE = 360.0


def check_transform(scale: object, angle: object) -> tuple[float, float]:
    """Validate a region scale and angle; return them as floats.

    Raises
    ------
    PasteError
        ``scale`` not a finite number in [0.1, 10], or ``angle`` not a finite number in [-360, 360].
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise PasteError(f"the region scale must be a number, got {scale!r}")
    if isinstance(angle, bool) or not isinstance(angle, (int, float, np.integer, np.floating)):
        raise PasteError(f"the region angle must be a number of degrees, got {angle!r}")
    s, a = float(scale), float(angle)
    if not (math.isfinite(s) and MIN_SCALE <= s <= MAX_SCALE):
        raise PasteError(f"the region scale must be in [{MIN_SCALE:g}, {MAX_SCALE:g}], got {scale!r}")
    if not (math.isfinite(a) and -MAX_ANGLE <= a <= MAX_ANGLE):
        raise PasteError(f"the region angle must be in [-{MAX_ANGLE:g}, {MAX_ANGLE:g}] degrees, got {angle!r}")
    return s, a


def transform_region(
    source: np.ndarray, mask: np.ndarray, *, scale: float = 1.0, angle: float = 0.0
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Scale and rotate the masked region of ``source`` about the centre of the mask's box.

    Parameters
    ----------
    source : numpy.ndarray
        The source image, ``(H, W)`` or ``(H, W, C)`` with ``C <= 4``; any dtype OpenCV warps
        (uint8, uint16, float32, float64).
    mask : numpy.ndarray
        The region, the source's height and width; any non-zero pixel is inside. Bool masks stay
        bool.
    scale : float
        Size factor in [0.1, 10].
    angle : float
        Rotation in degrees, counter-clockwise as seen on screen, in [-360, 360].

    Returns
    -------
    source2, mask2 : numpy.ndarray
        The warped source (linear interpolation, reflected border) and mask (nearest neighbour,
        zero outside), same dtypes and channels as the inputs. Their height and width are the
        source's when the transformed box fits in that frame, else grown to hold it.
    shift : tuple of int
        ``(sy, sx)`` to add to the paste offset: minus the rows and columns the canvas grew by at
        the top and left, ``(0, 0)`` when it did not grow. With it, the mask box's centre lands
        on the same target pixel as before the transform.

    Raises
    ------
    PasteError
        A scale or angle out of range, or a mask that does not match the source.
    MaskError
        An empty mask (only when a transform is asked for).

    Notes
    -----
    The identity (``scale == 1`` and ``angle == 0``) returns ``source`` and ``mask`` themselves
    and ``(0, 0)``: bit-exact, nothing copied.
    """
    import cv2

    s, a = check_transform(scale, angle)
    if s == 1.0 and a % 360.0 == 0.0:
        return source, mask, (0, 0)
    if mask.shape[:2] != source.shape[:2]:
        raise PasteError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the source is {source.shape[1]}x{source.shape[0]}")
    inside = mask != 0
    if inside.ndim == 3:
        inside = inside.any(axis=2)
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    if rows.size == 0:
        raise MaskError("the mask is empty: nothing to scale or rotate")
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    cy, cx = (y0 + y1 - 1) / 2.0, (x0 + x1 - 1) / 2.0  # pixel-centre coordinates
    m = cv2.getRotationMatrix2D((cx, cy), a, s)
    # The box's corners (pixel edges) after the transform: the canvas must hold them.
    corners = np.array([[x0 - 0.5, y0 - 0.5, 1], [x1 - 0.5, y0 - 0.5, 1], [x0 - 0.5, y1 - 0.5, 1], [x1 - 0.5, y1 - 0.5, 1]])
    moved = corners @ m.T
    h, w = source.shape[:2]
    top = max(0, math.ceil(-0.5 - float(moved[:, 1].min()) - 1e-9))
    left = max(0, math.ceil(-0.5 - float(moved[:, 0].min()) - 1e-9))
    bottom = max(0, math.ceil(float(moved[:, 1].max()) - (h - 0.5) - 1e-9))
    right = max(0, math.ceil(float(moved[:, 0].max()) - (w - 0.5) - 1e-9))
    m[0, 2] += left
    m[1, 2] += top
    size = (w + left + right, h + top + bottom)
    src2 = cv2.warpAffine(source, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if source.ndim == 3 and src2.ndim == 2:
        src2 = src2[:, :, None]
    msk = mask.view(np.uint8) if mask.dtype == np.bool_ else mask
    msk2 = cv2.warpAffine(msk, m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if mask.ndim == 3 and msk2.ndim == 2:
        msk2 = msk2[:, :, None]
    if mask.dtype == np.bool_:
        msk2 = msk2.astype(bool)
    return src2, msk2, (-top, -left)
