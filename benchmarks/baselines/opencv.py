"""``cv2.seamlessClone`` (NORMAL_CLONE and MIXED_CLONE), guarded against its known failures.

OpenCV's cloning (a DST-based Poisson solve over the mask's bounding box) has these traps, each
handled here:

- **It writes into its mask argument** (OpenCV 5.0 zeroes parts of it): it gets a private copy.
- **OpenCV erodes the mask before it takes the source's gradients.** Its ``computeDerivatives``
  erodes the mask with a 3x3 square, :data:`OPENCV_ERODE` times, and uses the *destination's*
  gradients everywhere outside that eroded mask: a band of 3 pixels just inside the region would
  get the destination's gradients (the membrane, see below) instead of the source's, which blurs
  the region's rim (an identity paste, source = target, was off by 4 levels on average and up to
  88 inside the mask). The mask is dilated with the same square the same number of times before
  cloning, so the eroded mask is the region's closing and every region pixel takes the source's
  gradients.
- **Edges that enter the region from the left or from above.** OpenCV's gradients are forward
  differences, so the edge from an outside pixel ``q`` into a rim pixel ``p`` is taken from the
  destination, ``dst(p) − t(q)``, where Pérez et al. use the source's ``s(p) − s(q)``. The rim
  pixels of the destination are set to ``t(q) + s(p) − s(q)`` (:func:`_rim_guided`, after the
  padding so that rims on the image's border are set too), which makes those edges the source's.
  With both, an identity paste is exact up to one level of rounding (tested), and pixels outside
  the region are the target's.
- **Masks touching the image border** crash or clone a shifted region in some versions (the
  destination rectangle leaves the image). The images and the mask are padded by
  :data:`PAD` pixels before cloning and the result is cropped back. The padding of the target is
  the composite (source inside the mask, target outside) reflected across the border, so the
  boundary values beyond the image come from the pasted content itself: an approximation of the
  free (Neumann) border that :mod:`.poisson` uses exactly.
- **NORMAL_CLONE reads the destination under the mask.** OpenCV builds the guidance field from
  forward differences of the source inside the mask and of the destination outside it, so the
  destination's differences on edges that straddle the mask's border (one end under the mask)
  enter the result: a hole under the mask (the benchmark's ``I_T`` is zero there) leaks into it.
  Normal cloning should not depend on the target under the mask, so for NORMAL_CLONE the target
  under the mask is first replaced by the membrane interpolation of its boundary
  (:func:`.poisson.membrane_fill`, which reads only pixels outside the mask). MIXED_CLONE uses
  the target's content under the mask by definition and gets it as given.
- **Empty masks** raise inside OpenCV: the target is returned unchanged, with a warning.

The ``p`` argument (where the centre of the source's mask box lands in the destination) is
computed from the mask's bounding box as ``(x0 + w // 2, y0 + h // 2)``, which is OpenCV's own
rounding, so source and target stay aligned (tested). Pixels outside the mask are set back to the
target's exactly (OpenCV may round them differently inside its working box).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np

from ._checks import check_inputs, composite
from .poisson import membrane_fill

__all__ = ["seamless_clone", "cv2_normal", "cv2_mixed", "PAD", "OPENCV_ERODE", "clone_center"]

#: Times OpenCV's ``seamlessClone`` erodes the mask with a 3x3 square (its ``computeDerivatives``).
OPENCV_ERODE = 3
#: Padding (pixels) added on every side before cloning: room for the dilation and a zero frame.
PAD = OPENCV_ERODE + 3

_SQUARE = np.ones((3, 3), np.uint8)


def clone_center(mask: np.ndarray) -> tuple[int, int]:
    """``p = (x0 + w // 2, y0 + h // 2)`` of the mask's bounding box: the aligned placement."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
    return (x0 + w // 2, y0 + h // 2)


def _rim_guided(dst: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``dst`` with the region's left and top rim set so that OpenCV's straddling edges carry the source's gradient.

    OpenCV takes the gradient of an edge ``q -> q + 1`` (forward differences) from the destination
    when ``q`` lies outside the region. For an edge from an outside pixel ``q`` into a rim pixel
    ``p`` (``q`` left of or above ``p``) Pérez et al. want the source's ``s(p) − s(q)``; the
    destination gives it when ``dst(p) = t(q) + s(p) − s(q)`` (the mean over such neighbours when
    ``p`` has two, rounded and clipped to uint8), ``t`` being ``dst`` outside the region. Pixels
    deeper inside are never read as a destination (their gradients come from the source), so the
    membrane stays there.
    """
    out = dst.astype(np.float64)
    t = out
    s = source.astype(np.float64)
    total = np.zeros_like(out)
    count = np.zeros(mask.shape, np.int32)
    # left neighbours: q = (y, x - 1) outside, p = (y, x) inside
    edge = mask[:, 1:] & ~mask[:, :-1]
    total[:, 1:][edge] += t[:, :-1][edge] + s[:, 1:][edge] - s[:, :-1][edge]
    count[:, 1:][edge] += 1
    # top neighbours: q = (y - 1, x) outside, p = (y, x) inside
    edge = mask[1:, :] & ~mask[:-1, :]
    total[1:, :][edge] += t[:-1, :][edge] + s[1:, :][edge] - s[:-1, :][edge]
    count[1:, :][edge] += 1
    rim = count > 0
    out[rim] = total[rim] / count[rim][:, None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def seamless_clone(target: np.ndarray, source: np.ndarray, mask: np.ndarray, flags: int = cv2.NORMAL_CLONE) -> np.ndarray:
    """``cv2.seamlessClone(source, target, mask, p, flags)`` for aligned images, guarded.

    Parameters
    ----------
    target, source : ndarray, uint8 (H, W, 3)
        Aligned images of the same size.
    mask : ndarray (H, W)
        Non-zero inside.
    flags : int
        ``cv2.NORMAL_CLONE`` or ``cv2.MIXED_CLONE`` (``cv2.MONOCHROME_TRANSFER`` works too).
    """
    target, source, mask = check_inputs(target, source, mask)
    if not mask.any():
        warnings.warn("empty mask: cv2.seamlessClone skipped, returning the target", RuntimeWarning, stacklevel=2)
        return target.copy()
    if flags == cv2.NORMAL_CLONE:
        # OpenCV mixes the destination's gradients in on edges that straddle the mask: fill the
        # destination under the mask with the membrane so that normal cloning depends on the
        # target outside the mask only, as in Pérez et al. (see the module's docstring)
        target = membrane_fill(target, mask)
    filled = composite(target, source, mask)
    pad = ((PAD, PAD), (PAD, PAD), (0, 0))
    dst = np.pad(target, pad, mode="reflect")
    # beyond the image border: the composite reflected (see the module's docstring)
    padded_filled = np.pad(filled, pad, mode="reflect")
    frame = np.ones(dst.shape[:2], dtype=bool)
    frame[PAD:-PAD, PAD:-PAD] = False
    dst[frame] = padded_filled[frame]
    src = np.ascontiguousarray(np.pad(source, pad, mode="reflect"))
    if flags == cv2.NORMAL_CLONE:  # on the padded images, so that rims on the image's border are set too
        dst = _rim_guided(dst, src, np.pad(mask, PAD))
    m = np.pad(mask, PAD).astype(np.uint8) * 255
    m = cv2.dilate(m, _SQUARE, iterations=OPENCV_ERODE)
    m[:1, :] = 0
    m[-1:, :] = 0
    m[:, :1] = 0
    m[:, -1:] = 0
    out = cv2.seamlessClone(src, np.ascontiguousarray(dst), m.copy(), clone_center(m), flags)
    return composite(target, out[PAD:-PAD, PAD:-PAD], mask)


def cv2_normal(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``cv2.seamlessClone`` with ``NORMAL_CLONE`` (source gradients), guarded."""
    return seamless_clone(target, source, mask, cv2.NORMAL_CLONE)


def cv2_mixed(target: np.ndarray, source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``cv2.seamlessClone`` with ``MIXED_CLONE`` (mixed gradients), guarded."""
    return seamless_clone(target, source, mask, cv2.MIXED_CLONE)
