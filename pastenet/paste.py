"""The paste algorithm on arrays: any size and aspect, CPU or GPU; its inputs checked.

The Python API behind ``pastenet paste``. This module holds the algorithm and the validation of
its inputs (images, masks, offsets); loading a model is :mod:`pastenet.loading` and image files
are :mod:`pastenet.imageio` (both re-exported here)::

    from pastenet.paste import load_generator, paste, read_image, write_image

    model = load_generator("runs/00000-tiny-stream-faces")        # zoo name, run, checkpoint or weights file
    out = paste(model, read_image("target.png"), read_image("source.png"), read_image("mask.png"),
                offset=(40, -12), seed=0)
    write_image("out.png", out)

Contract
--------
Placement
    ``mask`` marks the pasted region in *source* coordinates (same height and width as the
    source); ``offset=(dy, dx)`` puts source pixel ``(y, x)`` at target pixel ``(y + dy, x + dx)``.
    ``(0, 0)`` with images of the same size is the aligned case. Parts of the placed region that
    fall outside the target are cut with a :class:`PasteWarning`; if nothing is left, a
    :class:`MaskError`.
Mask rule
    Any non-zero value counts as inside: soft masks (anti-aliased PNG edges, feathering) are
    binarised at ``> 0``. A mask with several channels (a colour PNG) counts a pixel as inside where
    any of its colour channels is non-zero; an alpha channel (the last of 2 or 4 channels) is
    ignored. When more than 1% of the mask's pixels lie strictly between 0 and the mask's maximum
    (compression noise: a JPEG mask), a :class:`PasteWarning` suggests thresholding the mask or
    saving it as PNG, since that noise counts as inside.
The result
    ``X = target·(1−M_t) + placed_source·M_t`` and the placed mask ``M_t`` go through G and the
    output is ``Y = X + G(X)·M_t`` clamped to the image range (the paper's residual head). The
    colour-map models (beyond the paper) apply G's affine colour map to the placed source instead,
    or, with a Poisson prior (``config.prior = "poisson"``), to Poisson normal's blend of it
    (computed here, as in training, and also given to G), then the ``seam``, ``detail``,
    ``scale`` and ``context`` options below apply; ``context`` lets G see the source's pixels
    around the region too (the source is read there, as Poisson editing reads it one pixel
    out), and ``min_change`` (opt-in) drops a correction too small to trust. Pixels outside
    ``M_t`` are the target's original pixels, bit for bit; the output has the target's shape
    and dtype.
Images
    ``(H, W)`` or ``(H, W, 1)`` grey, ``(H, W, 2)`` grey + alpha, ``(H, W, 3)`` RGB, ``(H, W, 4)``
    RGBA; ``uint8`` and ``uint16`` (scaled to [-1, 1] by the dtype's maximum) or floating point in
    [0, 1]. Alpha is kept unchanged (the colour channels are pasted; a source's alpha is dropped).
    A grey source pasted into a colour target is repeated over R, G and B; a colour source pasted
    into a grey target is converted to its luma (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B), the
    network runs on the grey image repeated over RGB and the result's luma is written back.
Padding
    G needs sides that are multiples of ``config.size_multiple``: the composite and the mask are
    padded at the bottom and right by reflection (``numpy.pad(mode="reflect")``: the border pixel
    is not repeated) and the result is cropped back. Padding only at the bottom and right keeps
    pixel ``(0, 0)`` at the origin of G's stride-2 sampling grid.
Region of interest
    By default only a window around ``M_t``'s bounding box is processed, with a margin of at least
    G's receptive radius (:func:`pastenet.models.receptive_radius`), its corners rounded outwards
    to multiples of ``size_multiple`` (so the window's stride-2 sampling grid is the full image's)
    and clipped to the padded image. Inside ``M_t`` the result then equals full-image processing
    (``roi=False``) up to float rounding: a small paste into a 1024x2048 photo costs about what a
    512x512 paste costs. A smaller ``margin`` is faster but no longer exact.
Noise
    G's noise images are drawn for the full padded image, on the CPU, from
    ``torch.Generator().manual_seed(seed)`` in the order of :meth:`Generator.noise_shapes`, and
    cropped to the window at each level: the result depends only on the seed and the inputs, not
    on the window, the device, or earlier calls.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import ModelConfig
from .devices import resolve_device
from .errors import MaskError, PasteError, PasteWarning
from .imageio import FORMATS_16_BIT, read_image, write_image
from .loading import PasteModel, load_generator
from .models import apply_head, network_output, network_size
from .recent import Recent, mask_key

__all__ = [
    "PasteError",
    "MaskError",
    "PasteWarning",
    "PasteModel",
    "PasteResult",
    "load_generator",
    "resolve_device",
    "paste",
    "paste_with_details",
    "roi_window",
    "context_mask",
    "prepare_paste",
    "CONTEXT_PX",
    "garrote_factor",
    "mirror_averaged",
    "binarise_mask",
    "read_image",
    "write_image",
    "FORMATS_16_BIT",
]

# ``PasteModel``, ``load_generator`` (:mod:`pastenet.loading`), ``read_image``, ``write_image``,
# ``FORMATS_16_BIT`` (:mod:`pastenet.imageio`) and ``resolve_device`` (:mod:`pastenet.devices`)
# live in those modules; they are re-exported here so ``from pastenet.paste import ...`` keeps
# working.

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# --- inputs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Image:
    """A validated image: the original array, its colour channels' layout, its value scale."""

    array: np.ndarray  # (H, W, C) view, C in 1..4
    colour: int  # 1 (grey) or 3 (RGB)
    alpha: bool
    scale: float  # dtype maximum (1.0 for floats)

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape[0], self.array.shape[1]


def _check_image(image: Any, what: str) -> _Image:
    if not isinstance(image, np.ndarray):
        raise PasteError(f"the {what} must be a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
        raise PasteError(
            f"the {what} has shape {image.shape}; expected (H, W) or (H, W, C) with C = 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise PasteError(f"the {what} is empty (shape {image.shape})")
    if image.dtype == np.uint8 or image.dtype == np.uint16:
        scale = float(np.iinfo(image.dtype).max)
    elif image.dtype.kind == "f":
        colour = image[..., : (1 if image.shape[2] <= 2 else 3)]
        if not np.isfinite(colour).all() or colour.min() < 0 or colour.max() > 1:
            raise PasteError(f"the {what} is floating point with values outside [0, 1] (or NaN); scale it to [0, 1] or use uint8/uint16")
        scale = 1.0
    else:
        raise PasteError(f"the {what} has dtype {image.dtype}; use uint8, uint16 or floating point in [0, 1]")
    c = image.shape[2]
    return _Image(array=image, colour=1 if c <= 2 else 3, alpha=c in (2, 4), scale=scale)


def binarise_mask(mask: Any, *, what: str = "mask") -> np.ndarray:
    """The boolean mask: any non-zero value counts as inside.

    Parameters
    ----------
    mask : ndarray
        ``(H, W)`` of any numeric or bool dtype, or ``(H, W, C)``: ``C = 1`` or ``3`` (any non-zero
        channel counts), ``2`` or ``4`` (the last channel is alpha and ignored).

    Raises
    ------
    MaskError
        Another shape, a non-numeric dtype, or NaN values.
    """
    if not isinstance(mask, np.ndarray):
        raise MaskError(f"the {what} must be a numpy array, got {type(mask).__name__}")
    if mask.dtype.kind not in "biuf":
        raise MaskError(f"the {what} has dtype {mask.dtype}; use bool, integers or floats")
    if mask.ndim == 3 and mask.shape[2] in (1, 2, 3, 4):
        mask = mask[:, :, : {1: 1, 2: 1, 3: 3, 4: 3}[mask.shape[2]]]
        if mask.dtype.kind == "f" and np.isnan(mask).any():
            raise MaskError(f"the {what} holds NaN values")
        return (mask != 0).any(axis=2)
    if mask.ndim != 2:
        raise MaskError(f"the {what} has shape {mask.shape}; expected (H, W) or (H, W, C) with C in 1..4")
    if mask.dtype.kind == "f" and np.isnan(mask).any():
        raise MaskError(f"the {what} holds NaN values")
    return mask != 0


#: Fraction of a mask's pixels with values strictly between 0 and the mask's maximum above which
#: :func:`paste` warns: compression noise (a JPEG mask) that the any-non-zero rule counts as inside.
NOISY_MASK_FRACTION = 0.01


def _mask_noise(mask: np.ndarray) -> tuple[float, float]:
    """``(fraction of pixels with a value strictly between 0 and the mask's maximum, that maximum)``.

    Only the channels :func:`binarise_mask` reads count; a pixel counts when any of them does.
    """
    if mask.dtype.kind == "b":
        return 0.0, 1.0
    if mask.ndim == 3:
        mask = mask[:, :, : {1: 1, 2: 1, 3: 3, 4: 3}[mask.shape[2]]]
    top = mask.max()
    if not top > 0:
        return 0.0, float(top)
    between = (mask > 0) & (mask < top)
    if between.ndim == 3:
        between = between.any(axis=2)
    return np.count_nonzero(between) / between.size, float(top)


def _parse_offset(offset: Any) -> tuple[int, int]:
    try:
        dy, dx = offset
        if isinstance(dy, bool) or isinstance(dx, bool) or int(dy) != dy or int(dx) != dx:
            raise TypeError
        return int(dy), int(dx)
    except (TypeError, ValueError):
        raise PasteError(f"offset must be two integers (dy, dx), got {offset!r}") from None


def _to_unit(pixels: np.ndarray, image: _Image, *, grey: bool) -> np.ndarray:
    """Gathered colour pixels (h, w, c) -> float32 (h, w, 3) in [-1, 1]; ``grey``: luma repeated."""
    x = pixels.astype(np.float32) * np.float32(2.0 / image.scale) - np.float32(1.0)
    if x.shape[2] == 3 and grey:
        x = (x @ _LUMA)[:, :, None]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return x


def _reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Indices into an axis of length ``n`` for positions past its end, as ``np.pad(mode="reflect")``."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    i = np.mod(index, period)
    return np.where(i >= n, period - i, i)


def roi_window(
    box: tuple[int, int, int, int], shape: tuple[int, int], *, multiple: int, margin: int
) -> tuple[int, int, int, int]:
    """The window ``(y0, y1, x0, x1)`` processed for a region with bounding box ``box``.

    ``box = (y0, y1, x0, x1)`` (half-open) grown by ``margin`` on every side, its corners rounded
    outwards to multiples of ``multiple`` and clipped to ``shape`` (whose sides are multiples of
    ``multiple``: the padded image).
    """
    y0, y1, x0, x1 = box
    H, W = shape
    m = int(multiple)
    return (
        max(0, (y0 - margin) // m * m),
        min(H, -(-(y1 + margin) // m) * m),
        max(0, (x0 - margin) // m * m),
        min(W, -(-(x1 + margin) // m) * m),
    )


@dataclass(frozen=True)
class PasteResult:
    """What :func:`paste_with_details` did.

    Attributes
    ----------
    image : ndarray
        The result, of the target's shape and dtype.
    mask : ndarray
        ``M_t``: the placed region in target coordinates, bool ``(H, W)``.
    box : tuple of int
        ``M_t``'s bounding box ``(y0, y1, x0, x1)``, half-open.
    padded_shape : tuple of int
        The target's size padded to multiples of ``size_multiple``.
    window : tuple of int
        The processed window ``(y0, y1, x0, x1)`` in padded coordinates (all of it with ``roi=False``).
    cut : bool
        Whether part of the placed region fell outside the target and was cut.
    """

    image: np.ndarray
    mask: np.ndarray
    box: tuple[int, int, int, int]
    padded_shape: tuple[int, int]
    window: tuple[int, int, int, int]
    cut: bool

    @property
    def window_shape(self) -> tuple[int, int]:
        y0, y1, x0, x1 = self.window
        return y1 - y0, x1 - x0


def _place_mask(mask: np.ndarray, target_shape: tuple[int, int], offset: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """``M_t`` (bool, target size) and whether part of the mask was cut."""
    H, W = target_shape
    h, w = mask.shape
    dy, dx = offset
    placed = np.zeros((H, W), dtype=bool)
    ty0, ty1 = max(0, dy), min(H, h + dy)
    tx0, tx1 = max(0, dx), min(W, w + dx)
    if ty0 < ty1 and tx0 < tx1:
        placed[ty0:ty1, tx0:tx1] = mask[ty0 - dy : ty1 - dy, tx0 - dx : tx1 - dx]
    kept = int(np.count_nonzero(placed))
    return placed, kept < int(np.count_nonzero(mask))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _from_unit(y: np.ndarray, dtype: np.dtype, scale: float) -> np.ndarray:
    """float32 in [-1, 1] -> the image dtype (rounded for integers, [0, 1] for floats)."""
    v = (y + np.float32(1.0)) * np.float32(0.5)
    if dtype.kind == "f":
        return np.clip(v, 0, 1).astype(dtype)
    return np.clip(np.rint(v * np.float32(scale)), 0, scale).astype(dtype)


# --- pasting ----------------------------------------------------------------------------------------

SEAMS = ("auto", "poisson", "none")


def _resolve_scale(scale: Any, config: ModelConfig, shape: tuple[int, int]) -> float:
    if isinstance(scale, str):
        if scale != "auto":
            raise PasteError(f"scale must be 'auto' or a number in (0, 1], got {scale!r}")
        if config.work_side is None:
            return 1.0
        return min(1.0, config.work_side / float(min(shape)))
    if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)) or not (0 < float(scale) <= 1):
        raise PasteError(f"scale must be 'auto' or a number in (0, 1], got {scale!r}")
    return float(scale)


def _resolve_choice(name: str, value: Any, choices: tuple[str, ...], config: ModelConfig, *, affine: str, other: str) -> str:
    """``value``, one of ``choices``, with ``"auto"`` read as ``affine`` for affine-head models, else ``other``."""
    if value not in choices:
        raise PasteError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    if value == "auto":
        return affine if config.output == "affine" else other
    return str(value)


def _resolve_seam(seam: Any, config: ModelConfig) -> str:
    return _resolve_choice("seam", seam, SEAMS, config, affine="poisson", other="none")


DETAILS = ("auto", "source", "map")


def _detail_sigma(detail: Any, config: ModelConfig, scale: float) -> float:
    """σ (full-resolution px) of the detail transfer, or 0 for none (see :func:`paste`)."""
    if detail not in DETAILS:
        raise PasteError(f"detail must be one of {', '.join(DETAILS)}, got {detail!r}")
    if config.output != "affine" or detail == "map" or (detail == "auto" and config.prior == "poisson"):
        return 0.0
    return config.map_stride / scale  # one cell of the network's grid


#: ``context="auto"``: pixels of the source read around the region, at the network's working
#: scale, for models with the Poisson prior (0 for the others).
CONTEXT_PX = 16


def _context_radius(context: Any, config: ModelConfig, scale: float, seam_mode: str) -> int:
    """The context ring's radius in full-resolution pixels (0: none; see :func:`paste`)."""
    if isinstance(context, str):
        if context != "auto":
            raise PasteError(f"context must be 'auto' or an integer >= 0, got {context!r}")
        context = CONTEXT_PX if config.prior == "poisson" and seam_mode == "poisson" else 0
    elif isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise PasteError(f"context must be 'auto' or an integer >= 0, got {context!r}")
    elif context and seam_mode != "poisson":
        raise PasteError("context needs seam='poisson': without the seam the grown region's border would show inside the target")
    return int(round(int(context) / scale))


def _min_change(min_change: Any) -> float:
    """The garrote's threshold in levels of 255, checked (0: G's correction as it is; see :func:`paste`)."""
    if isinstance(min_change, bool) or not isinstance(min_change, (int, float, np.integer, np.floating)) or not (0 <= float(min_change) < float("inf")):
        raise PasteError(f"min_change must be a number of levels >= 0, got {min_change!r}")
    return float(min_change)


ENSEMBLES = ("auto", "flip", "none")


def _resolve_ensemble(ensemble: Any, config: ModelConfig) -> str:
    """``"flip"`` or ``"none"`` for ``ensemble`` (see :func:`paste`)."""
    return _resolve_choice("ensemble", ensemble, ENSEMBLES, config, affine="flip", other="none")


def mirror_averaged(G: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """G's run for the flip self-ensemble: ``(G(x) + flip(G(flip(x)))) / 2``, noise images mirrored too.

    It runs where G does, at G's working resolution (before its output is upsampled), so the
    ensemble costs one more G pass and nothing at full resolution; the resampling around G is
    left-right symmetric, so this equals averaging the two upsampled outputs up to float rounding.
    """

    def run(x: torch.Tensor, *, noise: Sequence[torch.Tensor] | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        plain = G(x, noise=noise, generator=generator)
        mirrored = G(x.flip(-1), noise=None if noise is None else [n.flip(-1) for n in noise], generator=generator)
        return 0.5 * (plain + mirrored.flip(-1))

    return run


def garrote_factor(change: np.ndarray, region: np.ndarray, levels: float) -> float:
    """The factor on G's correction: ``max(0, 1 − (t / rms)²)``, the non-negative garrote.

    Parameters
    ----------
    change : ndarray, (H, W, C) float
        G's correction: its result minus the image it maps, in [-1, 1] units.
    region : ndarray, bool (H, W)
        Where the correction counts (the pasted region).
    levels : float
        ``t`` in levels of 255 (``2·t / 255`` in [-1, 1] units); 0 returns 1.

    Returns
    -------
    float
        0 when the correction's root mean square over the region (the Euclidean norm over the
        channels, averaged over the pixels) is at most ``t``; close to 1 when it is much larger
        (``1 − 1/9`` at ``3t``).
    """
    if levels <= 0 or not region.any():
        return 1.0
    d = change[region].astype(np.float64)
    rms2 = float((d * d).sum(axis=1).mean())
    t = 2.0 * float(levels) / 255.0
    return 0.0 if rms2 <= t * t else 1.0 - t * t / rms2


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` dilated by OpenCV's elliptic disc of ``radius`` (zero beyond its frame), bool."""
    import cv2

    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0) != 0


#: Dilations of the last regions (a region's box, padded by the radius), for :func:`context_mask`.
_DILATIONS = Recent(2)


def _dilated_region(box: np.ndarray, radius: int) -> np.ndarray:
    """:func:`_dilate` of ``box`` (a region's bounding box) padded by ``radius`` on every side; the last few are kept."""

    def grow() -> np.ndarray:
        grown = _dilate(np.pad(box, radius), radius)
        grown.setflags(write=False)
        return grown

    return _DILATIONS.get(mask_key(box, radius), grow)


def context_mask(placed: np.ndarray, source_shape: tuple[int, int], offset: tuple[int, int], radius: int) -> np.ndarray:
    """The placed region grown by ``radius`` pixels (a disc), kept where the placed source has pixels.

    Parameters
    ----------
    placed : ndarray, bool (H, W)
        ``M_t``, the region in target coordinates.
    source_shape : (int, int)
        The source's height and width.
    offset : (int, int)
        ``(dy, dx)``: where the source lies on the target.
    radius : int
        Pixels; 0 returns ``placed``.

    Returns
    -------
    ndarray, bool (H, W)
    """
    if radius <= 0:
        return placed
    if not placed.any():
        return placed
    H, W = placed.shape
    # dilated on the region's bounding box grown by the radius only (outside it the result is 0, as
    # on the whole frame: the same pixels for a fraction of the work on a large photo)
    r0, r1, c0, c1 = _bbox(placed)
    y0, y1, x0, x1 = max(0, r0 - radius), min(H, r1 + radius), max(0, c0 - radius), min(W, c1 + radius)
    grown = np.zeros((H, W), dtype=bool)
    if (y0, y1, x0, x1) == (r0 - radius, r1 + radius, c0 - radius, c1 + radius):
        # the grown box lies inside the frame: the result does not depend on where the region is
        # placed, so a region moved (or prepared ahead by prepare_paste) reuses its dilation
        grown[y0:y1, x0:x1] = _dilated_region(placed[r0:r1, c0:c1], radius)
    else:
        grown[y0:y1, x0:x1] = _dilate(placed[y0:y1, x0:x1], radius)
    dy, dx = offset
    covered = np.zeros((H, W), dtype=bool)
    covered[max(0, dy) : max(0, min(H, source_shape[0] + dy)), max(0, dx) : max(0, min(W, source_shape[1] + dx))] = True
    return (grown & covered) | placed


def prepare_paste(model: PasteModel, target_shape: tuple[int, int], mask: np.ndarray, *, scale: float | str = "auto", context: int | str = "auto") -> None:
    """Factorise, ahead of a paste, the Poisson systems that pasting the region ``mask`` will solve.

    :func:`pastenet.seam.prepare` for the region and, when ``context`` grows it (models with the
    Poisson prior), for the grown region too (the prior's solve); ``pastenet edit`` calls it while
    the user places the region. The result of the paste is the same as without.

    Parameters
    ----------
    model : PasteModel
    target_shape : (int, int)
        The target's height and width (the scale, and so the context's radius, depend on it).
    mask : ndarray
        The region in source coordinates (the source's height and width; any non-zero is inside).
    scale, context
        As for :func:`paste`.
    """
    from .seam import prepare

    m = binarise_mask(mask)
    prepare(m)
    if not m.any():
        return
    config = model.config
    radius = _context_radius(context, config, _resolve_scale(scale, config, (int(target_shape[0]), int(target_shape[1]))), _resolve_seam("auto", config))
    if radius:
        prepare(context_mask(m, m.shape, (0, 0), radius))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT_101)


def _factorise_in_background(m: np.ndarray) -> None:
    """Start factorising the seam's system of ``m`` (:func:`pastenet.seam.factorise`) on a thread of its own.

    The seam takes the factorisation from the cache, or waits for it; should the thread fail, the
    seam factorises itself (and reports any error), so the thread's own errors are dropped.
    """
    import threading

    from .seam import factorise

    def run() -> None:
        try:
            factorise(m)
        except Exception:  # noqa: BLE001 - the seam's own solve repeats it and raises
            pass

    threading.Thread(target=run, name="seam-factorisation", daemon=True).start()


def _poisson_seam_window(y: np.ndarray, composite: np.ndarray, m: np.ndarray) -> np.ndarray:
    """:func:`pastenet.seam.poisson_seam` on the mask's bounding box grown by one pixel.

    ``y`` is the head applied to the placed source everywhere (its values just outside the mask
    are the membrane's boundary data, as the source's are in Poisson editing); ``composite`` holds
    the target outside the mask.
    """
    from .seam import poisson_seam, window

    box = window(m)
    out = y.copy()
    out[box] = poisson_seam(y[box], composite[box], m[box])
    return out


def _checked_inputs(target: np.ndarray, source: np.ndarray | None, mask: np.ndarray) -> tuple[Any, Any, np.ndarray]:
    """``(target, source, binary mask)`` checked: images of the paste's rules, a non-empty mask of the source's size."""
    tgt = _check_image(target, "target")
    src = tgt if source is None else _check_image(source, "source")
    m = binarise_mask(mask)
    if m.shape != src.shape:
        raise MaskError(f"the mask is {m.shape[0]}x{m.shape[1]} but the source is {src.shape[0]}x{src.shape[1]}; they must have the same size")
    if not m.any():
        raise MaskError("the mask is empty: no pixel is non-zero")
    return tgt, src, m


def paste_with_details(
    model: PasteModel,
    target: np.ndarray,
    source: np.ndarray | None,
    mask: np.ndarray,
    *,
    offset: Sequence[int] = (0, 0),
    seed: int = 0,
    roi: bool = True,
    margin: int | None = None,
    scale: float | str = "auto",
    seam: str = "auto",
    detail: str = "auto",
    context: int | str = "auto",
    min_change: float = 0.0,
    ensemble: str = "auto",
) -> PasteResult:
    """:func:`paste`, also returning the placed mask, the processed window and whether it cut.

    See :func:`paste` for the parameters.
    """
    return _paste(
        model, target, source, mask, offset=offset, seed=seed, roi=roi, margin=margin, scale=scale, seam=seam, detail=detail, context=context,
        min_change=min_change, ensemble=ensemble, _stacklevel=3,
    )  # fmt: skip


def _paste(
    model: PasteModel,
    target: np.ndarray,
    source: np.ndarray | None,
    mask: np.ndarray,
    *,
    offset: Sequence[int],
    seed: int,
    roi: bool,
    margin: int | None,
    _stacklevel: int,
    scale: float | str = "auto",
    seam: str = "auto",
    detail: str = "auto",
    context: int | str = "auto",
    min_change: float = 0.0,
    ensemble: str = "auto",
) -> PasteResult:
    if not isinstance(model, PasteModel):
        raise PasteError(f"model must be a PasteModel (from load_generator), got {type(model).__name__}")
    tgt, src, m = _checked_inputs(target, source, mask)
    noisy, top = _mask_noise(mask)
    if noisy > NOISY_MASK_FRACTION:
        warnings.warn(
            f"{noisy:.1%} of the mask's pixels lie strictly between 0 and its maximum ({top:g}), e.g. JPEG compression noise; "
            "any non-zero value counts as inside, so the region may have grown: threshold the mask or save it as PNG",
            PasteWarning,
            stacklevel=_stacklevel,
        )
    dy, dx = _parse_offset(offset)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise PasteError(f"seed must be an integer >= 0, got {seed!r}")
    radius = model.receptive_radius
    if margin is None:
        margin = radius
    elif isinstance(margin, bool) or not isinstance(margin, (int, np.integer)) or margin < 0:
        raise PasteError(f"margin must be an integer >= 0, got {margin!r}")

    H, W = tgt.shape
    placed, cut = _place_mask(m, (H, W), (dy, dx))
    if not placed.any():
        raise MaskError(
            f"the masked region lands entirely outside the {H}x{W} target at offset ({dy}, {dx}); "
            f"the mask covers source rows {_bbox(m)[0]}..{_bbox(m)[1] - 1}, columns {_bbox(m)[2]}..{_bbox(m)[3] - 1}"
        )
    if cut:
        lost = int(np.count_nonzero(m)) - int(np.count_nonzero(placed))
        warnings.warn(
            f"{lost} of {int(np.count_nonzero(m))} masked pixels fall outside the {H}x{W} target at offset ({dy}, {dx}) and were cut",
            PasteWarning,
            stacklevel=_stacklevel,
        )
    box = _bbox(placed)

    s_factor = _resolve_scale(scale, model.config, (H, W))
    seam_mode = _resolve_seam(seam, model.config)
    config = model.config
    # G sees the region grown by the context ring (the source's own pixels around it); the seam
    # and the result keep to the placed region
    seen = context_mask(placed, src.shape, (dy, dx), _context_radius(context, config, s_factor, seam_mode))
    gate = _min_change(min_change)
    flip = _resolve_ensemble(ensemble, config) == "flip"
    exact_roi = config.map_stride == 1 and s_factor == 1.0  # G at full resolution: the ROI is exact
    mult = model.size_multiple
    Hp, Wp = -(-H // mult) * mult, -(-W // mult) * mult
    window = roi_window(_bbox(seen), (Hp, Wp), multiple=mult, margin=int(margin)) if roi and exact_roi else (0, Hp, 0, Wp)
    wy0, wy1, wx0, wx1 = window

    # The window of the padded composite, gathered through reflected indices (no full-size copy).
    iy = _reflect_index(np.arange(wy0, wy1), H)
    ix = _reflect_index(np.arange(wx0, wx1), W)
    grey = tgt.colour == 1
    t_pix = tgt.array[np.ix_(iy, ix)][:, :, : tgt.colour]
    m_win = placed[np.ix_(iy, ix)]
    seen_win = m_win if seen is placed else seen[np.ix_(iy, ix)]
    sy = np.clip(iy - dy, 0, src.shape[0] - 1)
    sx = np.clip(ix - dx, 0, src.shape[1] - 1)
    s_pix = src.array[np.ix_(sy, sx)][:, :, : src.colour]
    placed_source = _to_unit(s_pix, src, grey=grey)
    t_unit = _to_unit(t_pix, tgt, grey=grey)
    composite = np.where(m_win[:, :, None], placed_source, t_unit)  # what the seam meets
    if seam_mode == "poisson":  # its factorisation runs beside the prior's and G (the result is the same)
        _factorise_in_background(m_win)
    seen_composite = composite if seen_win is m_win else np.where(seen_win[:, :, None], placed_source, t_unit)  # what G sees
    prior = None
    if config.prior == "poisson":
        # G's extra input and the map's argument: Poisson normal's blend of the source (as in
        # training), the target itself outside the mask (so the seam below only fixes what the map
        # changes)
        blend = np.clip(_poisson_seam_window(placed_source, seen_composite, seen_win), -1.0, 1.0)  # the range training's uint8 holds
        prior = np.where(seen_win[:, :, None], blend, seen_composite)

    # Noise (CPU generator: the same on every device). At full resolution it is drawn for the
    # whole padded image and cropped per level, so the result does not depend on the window.
    G = model.generator
    gen = torch.Generator().manual_seed(int(seed))
    noise = []
    if exact_roi:
        for shape in G.noise_shapes(1, Hp, Wp):
            full = torch.randn(shape, generator=gen)
            f = Hp // shape[2]
            noise.append(full[:, :, wy0 // f : wy1 // f, wx0 // f : wx1 // f].to(model.device))
    else:
        hs, ws = network_size(config, Hp, Wp, s_factor)
        noise = [torch.randn(shape, generator=gen).to(model.device) for shape in G.noise_shapes(1, hs, ws)]

    x = np.concatenate([seen_composite, seen_win[:, :, None].astype(np.float32)] + ([prior] if prior is not None else []), axis=2)
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(model.device)
    mapped = placed_source if prior is None else prior  # what the head maps
    with torch.inference_mode():
        out = network_output(G, xt[:, :3], xt[:, 3:4], noise=noise, scale=s_factor, prior=None if prior is None else xt[:, 4:7],
                             run=mirror_averaged(G) if flip else None)  # fmt: skip
        detail_sigma = _detail_sigma(detail, config, s_factor)
        if seam_mode == "poisson" or detail_sigma:
            # the head on the placed source everywhere: its values around the mask set the membrane
            st = torch.from_numpy(np.ascontiguousarray(mapped.transpose(2, 0, 1)))[None].to(model.device)
            yt = apply_head(config, out, st, torch.ones_like(xt[:, 3:4]))
        else:
            inner = xt[:, :3] if prior is None else xt[:, 4:7]
            yt = apply_head(config, out, inner, xt[:, 3:4]).clamp_(-1.0, 1.0)
    y = yt[0].permute(1, 2, 0).float().cpu().numpy()
    if gate:  # a correction of a few levels over the region is not made; a larger one nearly whole
        base = mapped if seam_mode == "poisson" or detail_sigma else (seen_composite if prior is None else prior)
        change = y - base
        f = garrote_factor(change, m_win, gate)
        if f != 1.0:
            y = base + np.float32(f) * change
    if detail_sigma:  # the map's colours at coarse scales, the source's own detail at fine ones
        y = _blur(y, detail_sigma) + mapped - _blur(mapped, detail_sigma)
    if seam_mode == "poisson":
        y = np.clip(_poisson_seam_window(y, composite, m_win), -1.0, 1.0)
    elif detail_sigma:
        y = np.where(m_win[:, :, None], np.clip(y, -1.0, 1.0), composite)

    # Back to the target: only pixels of M_t change (inside the unpadded part of the window).
    oy1, ox1 = min(wy1, H), min(wx1, W)
    inside = placed[wy0:oy1, wx0:ox1]
    values = y[: oy1 - wy0, : ox1 - wx0][inside]  # (n, 3)
    if grey:
        values = (values @ _LUMA)[:, None]
    out = tgt.array.copy()
    region = out[wy0:oy1, wx0:ox1]
    region[inside, : tgt.colour] = _from_unit(values, out.dtype, tgt.scale)
    out = out.reshape(target.shape)
    return PasteResult(image=out, mask=placed, box=box, padded_shape=(Hp, Wp), window=window, cut=cut)


def paste(
    model: PasteModel,
    target: np.ndarray,
    source: np.ndarray | None,
    mask: np.ndarray,
    *,
    offset: Sequence[int] = (0, 0),
    seed: int = 0,
    roi: bool = True,
    margin: int | None = None,
    scale: float | str = "auto",
    seam: str = "auto",
    detail: str = "auto",
    context: int | str = "auto",
    min_change: float = 0.0,
    ensemble: str = "auto",
) -> np.ndarray:
    """Paste the masked region of ``source`` into ``target`` and let G harmonise it.

    Parameters
    ----------
    model : PasteModel
        From :func:`load_generator`; G runs on ``model.device``.
    target : ndarray
        The photo pasted into: ``(H, W)``, ``(H, W, C)`` with C in 1..4; uint8, uint16 or float in
        [0, 1]. Never modified.
    source : ndarray or None
        The photo the region comes from (any size, same rules as ``target``); ``None``: the target
        itself (moving a region within one photo with ``offset``).
    mask : ndarray
        The region, in source coordinates: the source's height and width; any non-zero value is
        inside (see the module docstring for several channels).
    offset : (int, int)
        ``(dy, dx)``: source pixel ``(y, x)`` lands on target pixel ``(y + dy, x + dx)``.
    seed : int
        Seed of G's noise images; the result is a deterministic function of it.
    roi : bool
        Process only a window around the placed region (see the module docstring); ``False``: the
        whole image.
    margin : int, optional
        The window's margin in pixels; ``None``: G's receptive radius (the result then equals
        full-image processing up to float rounding).
    scale : "auto" or float
        Scale-aware paste: G runs on the image shrunk by this factor in (0, 1] and its output is
        upsampled and applied at full resolution (see :mod:`pastenet.models.heads`). ``"auto"``:
        ``work_side / min(H, W)`` when the model records the pixel scale it was trained at
        (``work_side``) and the target is larger, else 1. The ROI only applies at scale 1 with a
        ``map_stride`` of 1 (else the whole image runs, at low resolution).
    seam : {"auto", "poisson", "none"}
        ``"poisson"``: add the Poisson membrane that makes the region meet the target along its
        border (:mod:`pastenet.seam`). ``"auto"``: ``"poisson"`` for affine-head models, ``"none"``
        for the paper's residual head.
    detail : {"auto", "source", "map"}
        Affine-head models only. ``"source"``: the colour map's result is kept at coarse scales
        (a Gaussian of σ = one cell of G's grid, ``map_stride / scale`` px) and the source's own
        detail is added back above that scale, so fine detail passes at full amplitude;
        ``"map"``: the map applied to every frequency, as in training. ``"auto"``: ``"map"`` for
        models with the Poisson prior (their map starts from Poisson editing and was trained at
        every frequency towards the photo's own colours, so it also undoes a contrast change of
        the fine detail: +0.28 dB at σ = 15 on synthetic faces, the same figures on the 78 real
        cases, ``benchmarks/README.md``), ``"source"`` for the others.
    context : "auto" or int
        Pixels of the source around the region that G also sees, at its working scale (so
        ``context / scale`` at full resolution): G harmonises the region grown by a disc of that
        radius (kept where the placed source has pixels), which shows it how the source's
        surroundings differ from the target's, and the seam and the result keep to the region
        itself. ``"auto"``: :data:`CONTEXT_PX` (16) for models with the Poisson prior pasted with
        the Poisson seam, 0 otherwise; 0: G sees the region alone. A positive value needs
        ``seam="poisson"``. With the Poisson seam, growing the region changes
        nothing but G's input (the membrane of the grown region is harmonic inside the region:
        the seam over the region absorbs it; except where that blend leaves the colour range,
        which G's input clips as training did). On the synthetic faces at σ = 15 and the same-photo
        mild-change test, 16 scores better than 0 on both (``benchmarks/README.md``).
    min_change : float
        Levels of 255 below which G's correction is not made (a conservative paste; beyond the
        paper): with ``t`` this value and ``rms`` the root mean square over the region of G's
        colour change (its result minus the image it maps, the Euclidean norm over the
        channels), the change is scaled by :func:`garrote_factor` ``max(0, 1 − (t / rms)²)`` (the
        non-negative garrote): a correction of at most ``t`` is not made, a larger one is kept
        nearly whole (8/9 of it at ``3t``). 0 (the default): G's correction as it is. Measured
        with the faces model (``benchmarks/README.md``, "A threshold on the correction"): 6 (about
        one just-noticeable colour difference) takes the same-photo mild-change L1 from 1.29 to
        1.16 (Poisson normal 1.16) for −0.01 dB on the synthetic faces, but also drops visible
        corrections of small features (light lips pasted into a dark face keep Poisson editing's
        crimson) and the real cases' ring ΔE rises from 1.20 to 1.21 (Poisson normal's), so it
        is off by default.
    ensemble : {"auto", "flip", "none"}
        ``"flip"``: a self-ensemble (beyond the paper; EDSR's geometric self-ensemble, Lim et al.
        2017): G also runs on the left-right mirror image of its input (noise mirrored too) and
        its output, mirrored back, is averaged with the plain one before the head, so the colour
        map cannot depend on which side of the region a feature lies. One more G pass at its
        working scale; the Poisson solves, which dominate a paste's time, are not repeated.
        ``"auto"``: ``"flip"`` for affine-head models (a smooth colour map, which averaging does
        not blur), ``"none"`` for the paper's residual head (whose noise-driven detail it
        would). Measured with the zoo models in ``benchmarks/README.md`` ("A horizontal-flip
        self-ensemble at paste time").

    Returns
    -------
    ndarray
        The result: the target's shape and dtype; pixels outside the placed region, and any alpha
        channel, are the target's own.

    Raises
    ------
    PasteError
        An image of another shape or dtype, float values outside [0, 1], a bad offset, seed,
        margin, scale, seam, detail, context, min_change or ensemble.
    MaskError
        A mask whose size differs from the source's, an empty mask, or one placed entirely
        outside the target.

    Warns
    -----
    PasteWarning
        Part of the placed region falls outside the target and is cut; or more than 1% of the
        mask's pixels lie strictly between 0 and its maximum (a noisy, e.g. JPEG, mask).
    """
    return _paste(
        model, target, source, mask, offset=offset, seed=seed, roi=roi, margin=margin, scale=scale, seam=seam, detail=detail, context=context,
        min_change=min_change, ensemble=ensemble, _stacklevel=3,
    ).image  # fmt: skip
