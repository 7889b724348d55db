"""The crop: resize a source photo by its preset's policy, then cut a random window.

Policies (``CropSpec.mode``), for a working size H x W and a source of h x w pixels:

``resize``
    The whole image is resized to H x W (aspect not kept); nothing is random. Used for aligned
    faces, where the photo already is the crop.
``scale-crop``
    The image is resized by ``scale`` (cityscapes: 0.5, 1024x2048 -> 512x1024), then a random
    H x W window is cut.
``cover-crop``
    The image is resized so that it just covers H x W (the shorter side matched), then a random
    window is cut along the longer side. The default for arbitrary photos.

Images smaller than the crop (``small``): ``"upscale"`` (default) enlarges them just enough to
cover the window; ``"skip"`` leaves them out of the run, reported as skipped. Resizing uses
OpenCV: ``INTER_AREA`` when shrinking, ``INTER_LINEAR`` when enlarging; the resized size is
``round(h·s)`` x ``round(w·s)``, never below the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import ImageTooLargeError, SpecError

__all__ = [
    "CropSpec", "CropParams", "FIELDS", "MODES", "SMALL_POLICIES", "resized_shape", "check_resized_pixels", "sample", "identity", "apply", "resize",
    "min_source_size",
]

MODES = ("resize", "scale-crop", "cover-crop")
SMALL_POLICIES = ("upscale", "skip")


@dataclass(frozen=True)
class CropSpec:
    """Resize policy and crop mode (see the module docstring)."""

    mode: str = "cover-crop"
    scale: float = 1.0
    small: str = "upscale"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise SpecError(f"crop.mode must be one of {MODES}, got {self.mode!r}")
        if self.small not in SMALL_POLICIES:
            raise SpecError(f"crop.small must be one of {SMALL_POLICIES}, got {self.small!r}")
        scale = float(self.scale)
        if not (0 < scale <= 16):
            raise SpecError(f"crop.scale must lie in (0, 16], got {self.scale}")
        object.__setattr__(self, "scale", scale)


@dataclass(frozen=True)
class CropParams:
    """Resized size of the source and the window's top-left corner in it."""

    resized_height: int
    resized_width: int
    top: int
    left: int

    def __post_init__(self) -> None:
        for name in ("resized_height", "resized_width", "top", "left"):
            object.__setattr__(self, name, int(getattr(self, name)))

    def to_record(self) -> dict[str, np.ndarray]:
        return {"resized": np.array([self.resized_height, self.resized_width]), "offset": np.array([self.top, self.left])}

    @classmethod
    def from_record(cls, record: dict) -> CropParams:
        rh, rw = (int(v) for v in record["resized"])
        top, left = (int(v) for v in record["offset"])
        return cls(resized_height=rh, resized_width=rw, top=top, left=left)


FIELDS = {"resized": ((2,), "int64"), "offset": ((2,), "int64")}


def _scale_for(spec: CropSpec, source: tuple[int, int], out: tuple[int, int]) -> float:
    h, w = source
    cover = max(out[0] / h, out[1] / w)
    if spec.mode == "cover-crop":
        return cover
    if spec.mode == "scale-crop":
        return max(spec.scale, cover) if spec.small == "upscale" else spec.scale
    raise AssertionError(spec.mode)


def min_source_size(spec: CropSpec, out: tuple[int, int]) -> tuple[int, int] | None:
    """Smallest (h, w) source that needs no upscaling, or None when every size is accepted."""
    if spec.small == "upscale" or spec.mode == "resize":
        return None
    if spec.mode == "scale-crop":
        return (math.ceil(out[0] / spec.scale - 1e-9), math.ceil(out[1] / spec.scale - 1e-9))
    return out


def resized_shape(spec: CropSpec, source: tuple[int, int], out: tuple[int, int]) -> tuple[int, int]:
    """Size the source is resized to before cropping (deterministic, at least ``out``)."""
    h, w = (int(v) for v in source)
    if h < 1 or w < 1:
        raise SpecError(f"source image must be at least 1x1, got {h}x{w}")
    if spec.mode == "resize":
        return out
    s = _scale_for(spec, (h, w), out)
    rh, rw = max(out[0], round(h * s)), max(out[1], round(w * s))
    if spec.small == "skip" and (round(h * s) < out[0] or round(w * s) < out[1]):
        raise SpecError(f"a {h}x{w} source is smaller than the {out[0]}x{out[1]} crop (policy 'skip')")
    return rh, rw


def check_resized_pixels(spec: CropSpec, out: tuple[int, int], max_pixels: int, name: str, source: tuple[int, int]) -> tuple[int, int]:
    """:func:`resized_shape`, refusing a size above the pixel limit before anything is allocated.

    An image is resized before the crop; a thin strip (1 x 20000 pixels, a few kilobytes as a PNG)
    enlarged to cover a 512 x 512 window would take billions of pixels. The limit applies to the
    resized size as to the decoded one, except that the window itself (``out``) is always allowed.

    Parameters
    ----------
    spec : CropSpec
    out : (int, int)
        The crop window, (height, width).
    max_pixels : int
        The pixel limit (``max_pixels`` of :func:`pastegen.sources.decode_image`).
    name : str
        The image, for the message.
    source : (int, int)
        The decoded (height, width).

    Returns
    -------
    (int, int)
        The resized (height, width).

    Raises
    ------
    ImageTooLargeError
        The resized image would have more than ``max(max_pixels, out[0] * out[1])`` pixels.
    """
    rh, rw = resized_shape(spec, source, out)
    if rh * rw > max(int(max_pixels), out[0] * out[1]):
        h, w = source
        raise ImageTooLargeError(
            name,
            f"{h}x{w} (HxW) would be resized to {rh}x{rw} to cover the {out[0]}x{out[1]} crop: "
            f"{rh * rw} pixels, more than the limit of {max_pixels} pixels",
        )
    return rh, rw


def identity(out: tuple[int, int]) -> CropParams:
    """The window of a photo already at the working size ``out`` (height, width): no resize, no offset."""
    return CropParams(resized_height=out[0], resized_width=out[1], top=0, left=0)


def sample(rng: np.random.Generator, spec: CropSpec, source: tuple[int, int], out: tuple[int, int]) -> CropParams:
    """Draw the window position (top, then left) uniformly among integer offsets."""
    rh, rw = resized_shape(spec, source, out)
    top = int(rng.integers(0, rh - out[0] + 1))
    left = int(rng.integers(0, rw - out[1] + 1))
    return CropParams(resized_height=rh, resized_width=rw, top=top, left=left)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize with ``INTER_AREA`` when shrinking and ``INTER_LINEAR`` when enlarging."""
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    shrinking = height * width < h * w
    interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=interp)


def apply(image: np.ndarray, params: CropParams, out: tuple[int, int], *, dst: np.ndarray | None = None) -> np.ndarray:
    """Resize ``image`` to the params' size and cut the ``out``-sized window (a new C array).

    ``dst``: a C-contiguous uint8 ``(*out, 3)`` array to write the window into instead (reused
    buffers: no fresh allocation per tuple); the pixels are the same. Returns ``dst`` then.
    """
    rh, rw = params.resized_height, params.resized_width
    if params.top < 0 or params.left < 0 or params.top + out[0] > rh or params.left + out[1] > rw:
        raise SpecError(f"crop window {params} does not fit a {rh}x{rw} resized image")
    image = np.asarray(image)
    if dst is not None:
        if dst.shape != (out[0], out[1], 3) or dst.dtype != np.uint8 or not dst.flags.c_contiguous or image.shape[2:] != (3,):
            raise SpecError(f"dst must be a C-contiguous uint8 array of shape {(out[0], out[1], 3)}, got {dst.dtype} {dst.shape}")
        h, w = image.shape[:2]
        if (rh, rw) == tuple(out) and (h, w) != (rh, rw):  # resize straight into dst (same pixels)
            interp = cv2.INTER_AREA if rh * rw < h * w else cv2.INTER_LINEAR
            cv2.resize(image, (rw, rh), dst=dst, interpolation=interp)
            return dst
        resized = resize(image, rh, rw)
        np.copyto(dst, resized[params.top : params.top + out[0], params.left : params.left + out[1]])
        return dst
    resized = resize(image, rh, rw)
    return np.ascontiguousarray(resized[params.top : params.top + out[0], params.left : params.left + out[1]])
