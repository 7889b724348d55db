"""Image-quality metrics of the copy-paste benchmark (uint8 images, 0-255 scale).

With ground truth (the synthetic set), following iHarmony4 (Cong et al. 2020, DoveNet's
evaluation code):

``mse``
    mean of ``(Y − I)²`` over **all** pixels and channels.
``fmse``
    the same over the **mask** pixels only: ``Σ_{p∈M,c} (Y − I)² / (3·|M|)``; iHarmony4 computes it
    as ``MSE(Y·M, I·M)·H·W/|M|``, which is the same number.
``psnr``
    ``10·log10(255² / mse)`` from the whole-image MSE (skimage's ``peak_signal_noise_ratio`` with
    ``data_range=255``); an MSE under 1e-10 is taken as 1e-10 (PSNR at most 148 dB) so that an
    exact result gives a finite number.
``ssim``
    scikit-image's ``structural_similarity`` (7x7 uniform window, ``data_range=255``, per channel)
    computed with ``full=True`` over the mask's bounding box grown by the window's radius (3 px),
    and its SSIM map averaged over the mask pixels and channels: a **masked** mean (context
    windows that straddle the border count at the mask pixels they are centred on).
``l1``
    mean ``|Y − I|`` over the mask pixels and channels.
``seam_mse``
    mean ``(Y − I)²`` over the **seam band**: the mask pixels within ``k`` pixels (chessboard
    distance, default 3) of a pixel outside the mask; the image border does not count as a seam.
    Outside the mask every method returns the target, so the outer side of the seam has no error.

Without ground truth (also reported on the real cases):

``outside_changed``
    the number of pixels outside the mask where ``Y`` differs from the target (any channel);
    must be 0.
``seam_jump``
    mean over the 4-neighbour edges that cross the mask's border of ``mean_c |Y_p − Y_q|``: how
    strong the pasted region's outline is (a visible seam is a large jump).
``seam_grad``
    mean over the band of pixels within ``k`` pixels of the mask's border **on both sides** of
    ``| |∇Y| − |∇T| |``, with ``|∇·|`` the magnitude of the forward differences of the luminance
    (Rec. 601) and ``T`` the target: how much the result's gradients around the seam depart from
    the target's own (for the real cases, whose target has content under the mask).
``detail_corr``, ``detail_amp`` (need the placed source ``S``)
    the high-pass of the luminance (Rec. 601), ``L − GaussianBlur_σ=3(L)`` (``scipy.ndimage.
    gaussian_filter``, reflected border), of the result and of the source, compared over the mask
    eroded by 4 px: Pearson correlation (1: every detail of the source kept, in place) and the ratio
    of their standard deviations (1: kept at full amplitude; below 1: blurred or veiled). NaN when
    the eroded mask has fewer than 16 pixels.
``ring_de`` (needs nothing more)
    CIE76 ΔE between the mean CIELAB colour (``skimage.color.rgb2lab``) of the result in the 6 px
    ring just inside the mask and the mean colour of the target in the 6 px ring just outside it: a
    colour cast or a halo along the border. NaN when either ring is empty.
``target (own border)`` (:func:`own_border_metrics`)
    the reference row of the real-case tables: the seam jump (and ring ΔE) of the target itself
    across the same border, what a paste of matching content would show.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage
from skimage.metrics import structural_similarity

__all__ = [
    "mse",
    "fmse",
    "psnr",
    "masked_ssim",
    "masked_l1",
    "seam_band",
    "boundary_band",
    "seam_mse",
    "outside_changed",
    "seam_jump",
    "seam_grad",
    "all_metrics",
    "no_reference_metrics",
    "detail_kept",
    "ring_de",
    "rings",
    "own_border_metrics",
    "METRICS",
    "NO_REFERENCE_METRICS",
]

MSE_FLOOR = 1e-10
SSIM_WINDOW = 7

#: Metric names in table order; ``higher`` says whether larger is better.
METRICS = {
    "psnr": {"higher": True, "label": "PSNR (dB)"},
    "mse": {"higher": False, "label": "MSE"},
    "fmse": {"higher": False, "label": "fMSE"},
    "ssim": {"higher": True, "label": "SSIM (mask)"},
    "l1": {"higher": False, "label": "L1 (mask)"},
    "seam_mse": {"higher": False, "label": "seam MSE"},
    "seam_jump": {"higher": False, "label": "seam jump"},
    "outside_changed": {"higher": False, "label": "outside changed (px)"},
}
NO_REFERENCE_METRICS = {
    "seam_jump": {"higher": False, "label": "seam jump"},
    "seam_grad": {"higher": False, "label": "seam gradient error"},
    "outside_changed": {"higher": False, "label": "outside changed (px)"},
    "detail_corr": {"higher": True, "label": "detail corr"},
    "detail_amp": {"higher": True, "label": "detail amplitude"},
    "ring_de": {"higher": False, "label": "ring ΔE"},
}
HIGHPASS_SIGMA = 3.0
DETAIL_ERODE = 4
RING = 6


def _f(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _mask(mask: np.ndarray) -> np.ndarray:
    return np.asarray(mask) != 0


def mse(y: np.ndarray, gt: np.ndarray) -> float:
    """Mean squared error over all pixels and channels (0-255 scale)."""
    return float(np.mean((_f(y) - _f(gt)) ** 2))


def fmse(y: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean squared error over the mask's pixels and channels (iHarmony4's fMSE)."""
    m = _mask(mask)
    if not m.any():
        return 0.0
    return float(np.mean((_f(y)[m] - _f(gt)[m]) ** 2))


def psnr(y: np.ndarray, gt: np.ndarray) -> float:
    """``10·log10(255² / MSE)`` over the whole image."""
    return 10.0 * math.log10(255.0**2 / max(mse(y, gt), MSE_FLOOR))


def masked_ssim(y: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """SSIM map over the mask's bounding box (grown by 3 px), averaged over the mask pixels."""
    m = _mask(mask)
    if not m.any():
        return 1.0
    ys, xs = np.nonzero(m)
    r = SSIM_WINDOW // 2
    h, w = m.shape
    y0, y1 = max(0, ys.min() - r), min(h, ys.max() + r + 1)
    x0, x1 = max(0, xs.min() - r), min(w, xs.max() + r + 1)
    # the window must fit: grow the box to at least 7x7 where the image allows
    while y1 - y0 < SSIM_WINDOW and (y0 > 0 or y1 < h):
        y0, y1 = max(0, y0 - 1), min(h, y1 + 1)
    while x1 - x0 < SSIM_WINDOW and (x0 > 0 or x1 < w):
        x0, x1 = max(0, x0 - 1), min(w, x1 + 1)
    a, b = _f(gt)[y0:y1, x0:x1], _f(y)[y0:y1, x0:x1]
    side = min(a.shape[:2])
    win = SSIM_WINDOW if side >= SSIM_WINDOW else (side if side % 2 else side - 1)
    if win < 3:
        return float(np.all(a == b))
    _, smap = structural_similarity(a, b, channel_axis=2, data_range=255.0, full=True, win_size=win)
    return float(smap[m[y0:y1, x0:x1]].mean())


def masked_l1(y: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute error over the mask's pixels and channels."""
    m = _mask(mask)
    if not m.any():
        return 0.0
    return float(np.mean(np.abs(_f(y)[m] - _f(gt)[m])))


def seam_band(mask: np.ndarray, k: int = 3) -> np.ndarray:
    """Mask pixels within ``k`` px (chessboard) of a pixel outside the mask; the image border is no seam."""
    m = _mask(mask)
    if k <= 0:
        return np.zeros_like(m)
    inner = ndimage.binary_erosion(m, structure=np.ones((3, 3), bool), iterations=k, border_value=1)
    return m & ~inner


def boundary_band(mask: np.ndarray, k: int = 3) -> np.ndarray:
    """Pixels within ``k`` px (chessboard) of the mask's border, on both sides."""
    m = _mask(mask)
    if k <= 0 or not m.any() or m.all():
        return np.zeros_like(m)
    s = np.ones((3, 3), bool)
    outer = ndimage.binary_dilation(m, structure=s, iterations=k) & ~m
    inner = ndimage.binary_erosion(m, structure=s, iterations=k, border_value=1)
    return outer | (m & ~inner)


def seam_mse(y: np.ndarray, gt: np.ndarray, mask: np.ndarray, k: int = 3) -> float:
    """Mean squared error over the seam band (:func:`seam_band`)."""
    band = seam_band(mask, k)
    if not band.any():
        return 0.0
    return float(np.mean((_f(y)[band] - _f(gt)[band]) ** 2))


def outside_changed(y: np.ndarray, target: np.ndarray, mask: np.ndarray) -> int:
    """Pixels outside the mask where ``y`` differs from ``target`` in any channel."""
    m = _mask(mask)
    diff = np.any(np.asarray(y) != np.asarray(target), axis=-1)
    return int(np.count_nonzero(diff & ~m))


def seam_jump(y: np.ndarray, mask: np.ndarray) -> float:
    """Mean over 4-neighbour edges crossing the mask's border of the channel-mean ``|Y_p − Y_q|``.

    Parameters
    ----------
    y : ndarray
        HxWx3 image (0-255).
    mask : ndarray
        HxW, non-zero inside.

    Returns
    -------
    float
        0-255 scale; 0 when no edge crosses the border (empty or full mask). Applied to the
        target itself it is the target's own jump across the same border (:func:`own_border_metrics`).
    """
    m = _mask(mask)
    yf = _f(y)
    total, count = 0.0, 0
    for axis in (0, 1):
        a = np.swapaxes(m, 0, axis)
        v = np.swapaxes(yf, 0, axis)
        cross = a[1:] != a[:-1]
        if cross.any():
            total += float(np.abs(v[1:] - v[:-1]).mean(-1)[cross].sum())
            count += int(cross.sum())
    return total / count if count else 0.0


def _grad_mag(img: np.ndarray) -> np.ndarray:
    lum = _f(img) @ np.array([0.299, 0.587, 0.114])
    gx = np.zeros_like(lum)
    gy = np.zeros_like(lum)
    gx[:, :-1] = lum[:, 1:] - lum[:, :-1]
    gy[:-1, :] = lum[1:, :] - lum[:-1, :]
    return np.hypot(gx, gy)


def seam_grad(y: np.ndarray, target: np.ndarray, mask: np.ndarray, k: int = 3) -> float:
    """Mean ``| |∇Y| − |∇T| |`` over the band of ``k`` px on both sides of the mask's border."""
    band = boundary_band(mask, k)
    if not band.any():
        return 0.0
    return float(np.abs(_grad_mag(y) - _grad_mag(target))[band].mean())


def all_metrics(y: np.ndarray, gt: np.ndarray, target: np.ndarray, mask: np.ndarray, *, k: int = 3) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one result ``y`` (ground truth ``gt``, the target given)."""
    return {
        "psnr": psnr(y, gt),
        "mse": mse(y, gt),
        "fmse": fmse(y, gt, mask),
        "ssim": masked_ssim(y, gt, mask),
        "l1": masked_l1(y, gt, mask),
        "seam_mse": seam_mse(y, gt, mask, k),
        "seam_jump": seam_jump(y, mask),
        "outside_changed": outside_changed(y, target, mask),
    }


def _highpass(img: np.ndarray) -> np.ndarray:
    """Luma (Rec. 601) minus its ``scipy.ndimage.gaussian_filter`` (σ = 3, reflected border)."""
    lum = _f(img) @ np.array([0.299, 0.587, 0.114])
    return lum - ndimage.gaussian_filter(lum, HIGHPASS_SIGMA, mode="reflect")


def detail_kept(y: np.ndarray, source: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """``(detail_corr, detail_amp)``: how much of the placed source's fine detail the result keeps.

    The high-pass ``L − G_σ=3 * L`` of the luma (Rec. 601; the blur is
    ``scipy.ndimage.gaussian_filter``, reflected border, the same on both images) of ``y`` and of
    ``source`` is compared over the mask eroded by ``DETAIL_ERODE`` = 4 px (4-connected erosion;
    the image border counts as outside).

    Parameters
    ----------
    y : ndarray
        The result, HxWx3 (0-255).
    source : ndarray
        The source placed where it is pasted (aligned with ``y``), HxWx3.
    mask : ndarray
        HxW, non-zero inside.

    Returns
    -------
    detail_corr : float
        Pearson correlation of the two high-passes (1: every detail kept, in place); 0 when the
        result's high-pass is flat there (no detail left).
    detail_amp : float
        Standard deviation of the result's high-pass over the source's (1: full amplitude; below
        1: blurred or veiled; above 1: sharpened or noisier).

    Notes
    -----
    Both are NaN when the eroded mask has fewer than 16 pixels (a tiny or thin mask: erosion
    leaves nothing to compare) or when the source's high-pass is flat there (nothing to keep).
    """
    inner = ndimage.binary_erosion(_mask(mask), iterations=DETAIL_ERODE, border_value=0)
    if inner.sum() < 16:
        return math.nan, math.nan
    a, b = _highpass(y)[inner], _highpass(source)[inner]
    sa, sb = a.std(), b.std()
    if sb == 0:
        return math.nan, math.nan
    corr = float(np.corrcoef(a, b)[0, 1]) if sa > 0 else 0.0
    return corr, float(sa / sb)


def rings(mask: np.ndarray, width: int = RING) -> tuple[np.ndarray, np.ndarray]:
    """``(inner, outer)``: the mask pixels within ``width`` px of its border, and the outside pixels within ``width`` px.

    Distances are 4-connected (city block): ``width`` iterations of the cross-shaped erosion
    (the image border does not count as a border) and dilation.
    """
    m = _mask(mask)
    inner = m & ~ndimage.binary_erosion(m, iterations=width, border_value=1)
    outer = ndimage.binary_dilation(m, iterations=width) & ~m
    return inner, outer


def ring_de(y: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """CIE76 ΔE between the result's mean Lab just inside the border and the target's just outside.

    Parameters
    ----------
    y : ndarray
        The result, uint8 HxWx3 (sRGB).
    target : ndarray
        The target, uint8 HxWx3.
    mask : ndarray
        HxW, non-zero inside.

    Returns
    -------
    float
        ``‖mean Lab(y | inner ring) − mean Lab(target | outer ring)‖₂`` with the 6 px rings of
        :func:`rings`, Lab from ``skimage.color.rgb2lab`` (D65) per pixel, then averaged. NaN
        when either ring is empty (an empty mask, or one that covers the whole image).
    """
    from skimage.color import rgb2lab

    inner, outer = rings(mask)
    if not inner.any() or not outer.any():
        return math.nan
    lab_in = rgb2lab(np.asarray(y)[inner][None].astype(np.uint8))[0].mean(0)
    lab_out = rgb2lab(np.asarray(target)[outer][None].astype(np.uint8))[0].mean(0)
    return float(np.linalg.norm(lab_in - lab_out))


def no_reference_metrics(y: np.ndarray, target: np.ndarray, mask: np.ndarray, *, k: int = 3, source: np.ndarray | None = None) -> dict[str, float]:
    """The metrics of :data:`NO_REFERENCE_METRICS` of one result (no ground truth needed).

    Parameters
    ----------
    y : ndarray
        The result, uint8 HxWx3.
    target : ndarray
        The target it was pasted into (aligned).
    mask : ndarray
        HxW, non-zero inside.
    k : int
        Band width of ``seam_grad``.
    source : ndarray, optional
        The placed source (aligned with the target).

    Returns
    -------
    dict
        ``seam_jump``, ``seam_grad``, ``outside_changed``, ``ring_de`` (it needs only the target,
        so it is always there) and, when ``source`` is given, ``detail_corr`` and ``detail_amp``.
        NaN marks a degenerate case (see :func:`detail_kept`, :func:`ring_de`).
    """
    out = {
        "seam_jump": seam_jump(y, mask),
        "seam_grad": seam_grad(y, target, mask, k),
        "outside_changed": outside_changed(y, target, mask),
        "ring_de": ring_de(y, target, mask),
    }
    if source is not None:
        out["detail_corr"], out["detail_amp"] = detail_kept(y, source, mask)
    return out


def own_border_metrics(target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The target's own figures across the mask's border: the reference row ``target (own border)``.

    Parameters
    ----------
    target : ndarray
        uint8 HxWx3.
    mask : ndarray
        HxW, non-zero inside.

    Returns
    -------
    dict
        ``seam_jump`` of the target itself (what a paste of content that matches the target
        would show across the same border) and ``ring_de`` of the target against itself (the
        natural colour change between the inner and outer 6 px rings). The other metrics are
        trivial for the target (``seam_grad`` 0, ``outside_changed`` 0) or meaningless (detail).
    """
    return {"seam_jump": seam_jump(target, mask), "ring_de": ring_de(target, target, mask)}
