"""Reading and writing user images: any channel layout, 8 or 16 bits, atomic writes.

Shared by paste (``pastenet paste``, :mod:`pastenet.paste`), ``pastenet demo``, the model zoo's
golden outputs and training's sample grids (:mod:`pastenet.train.rundir`)::

    from pastenet.imageio import read_image, write_image

    image = read_image("photo.png")            # RGB(A) or grey, uint8 or uint16, as stored
    write_image("out.tiff", image)             # 16 bits kept; written under a temporary name, then renamed

Errors are :class:`~pastenet.errors.PasteError` (one line, naming the file); a 16-bit image
written in an 8-bit format is scaled with a :class:`~pastenet.errors.PasteWarning`.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from pastegen.atomic import atomic_write_bytes

from .errors import ImageTooLargeError, PasteError, PasteWarning

__all__ = ["read_image", "decode_image_bytes", "encode_png", "write_image", "FORMATS_16_BIT"]


def _opencv_to_rgb(image: np.ndarray) -> np.ndarray:
    """OpenCV's BGR / BGRA channel order to RGB / RGBA; a single channel to ``(H, W)``."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return image


def read_image(path: str | os.PathLike, *, what: str = "image") -> np.ndarray:
    """Read an image file as stored: RGB(A) or grey, 8 or 16 bits (OpenCV, ``IMREAD_UNCHANGED``).

    Colour images come back as RGB / RGBA (OpenCV's BGR order is converted), grey ones as
    ``(H, W)``. EXIF orientation is not applied: pixels are used as stored, so a mask drawn on
    the stored pixels fits.

    Raises
    ------
    PasteError
        The file is missing, unreadable, or not an image OpenCV can decode.
    """
    import cv2

    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise PasteError(f"{what} file {p} does not exist") from None
    except IsADirectoryError:
        raise PasteError(f"{what} {p} is a directory, not an image file") from None
    except OSError as e:
        raise PasteError(f"cannot read {what} file {p}: {e.strerror or e}") from None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None:
        raise PasteError(f"{what} file {p} is not an image (or is damaged)")
    image = _opencv_to_rgb(image)
    return image


def decode_image_bytes(data: bytes, *, what: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file's bytes in memory: RGB(A) or grey, 8 or 16 bits, upright.

    The file is first checked by pastegen's defensive decoder
    (:func:`pastegen.sources.decode.decode_data`): empty, not an image, truncated or corrupt
    (JPEG included), or more than ``max_pixels`` pixels by its header (default: pastegen's
    :data:`~pastegen.sources.DEFAULT_MAX_PIXELS`, checked before any pixel is decoded) is a
    :class:`PasteError`. The pixels are then read as stored, as :func:`read_image` does (OpenCV,
    ``IMREAD_UNCHANGED``: 16 bits, alpha and grey kept), and turned upright by the EXIF
    orientation (unlike :func:`read_image`: the editor shows and masks the upright photo). A file
    OpenCV cannot decode (GIF, ...) gives pastegen's upright 8-bit RGB.
    """
    import cv2

    from pastegen.errors import ImageError
    from pastegen.errors import ImageTooLargeError as TooLarge
    from pastegen.sources import DEFAULT_MAX_PIXELS
    from pastegen.sources.decode import decode_data

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    try:
        rgb = decode_data(bytes(data), what, limit)
    except TooLarge as e:
        raise ImageTooLargeError(f"the {what} is too large: {e.reason}") from None
    except ImageError as e:
        raise PasteError(f"the {what} cannot be used: {e.reason}") from None
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype not in (np.uint8, np.uint16) or image.ndim not in (2, 3):
        return rgb
    image = _opencv_to_rgb(image)
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # the orientation is a nicety: pastegen's decoder accepted the file
        orientation = 1
    upright = np.ascontiguousarray(_upright(image, orientation))
    if upright.shape[:2] != rgb.shape[:2]:  # OpenCV and Pillow disagree (OpenCV may apply EXIF itself)
        if image.shape[:2] == rgb.shape[:2]:
            return np.ascontiguousarray(image)
        return rgb
    return upright


def _upright(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an ``(H, W, ...)`` array upright by its EXIF ``orientation``, as ``PIL.ImageOps.exif_transpose``."""
    if orientation == 2:
        return array[:, ::-1]
    if orientation == 3:
        return array[::-1, ::-1]
    if orientation == 4:
        return array[::-1]
    if orientation == 5:
        return array.swapaxes(0, 1)
    if orientation == 6:  # 90 degrees clockwise
        return np.rot90(array, k=-1)
    if orientation == 7:
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # 90 degrees counter-clockwise
        return np.rot90(array, k=1)
    return array


def encode_png(image: np.ndarray) -> bytes:
    """``image`` (RGB(A) or grey, uint8 or uint16) encoded as PNG bytes in memory (16 bits kept)."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3 and image.shape[2] == 2:
        image = np.dstack([image[:, :, 0], image[:, :, 0], image[:, :, 0], image[:, :, 1]])
    ok, encoded = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise PasteError(f"cannot encode an image of shape {image.shape} and dtype {image.dtype} as PNG")
    return encoded.tobytes()


#: Extensions whose OpenCV encoders keep 16 bits per channel; other formats get 8 bits.
FORMATS_16_BIT = (".png", ".tif", ".tiff", ".pgm", ".ppm", ".pnm")
#: Floating-point formats (OpenCV rescales or stores raw values): refused for pasted images.
_FLOAT_FORMATS = (".hdr", ".pic", ".pfm", ".exr")


def _to_8_bit(image: np.ndarray) -> np.ndarray:
    """A uint16 image scaled to uint8 with rounding: ``rint(value * 255 / 65535)``, i.e. ``rint(value / 257)``.

    Computed exactly in integers as ``(2 value + 257) // 514`` (``value / 257`` is never a tie).
    """
    return ((image.astype(np.uint32) * 2 + 257) // 514).astype(np.uint8)


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write ``image`` (RGB(A) or grey, uint8 or uint16) atomically and durably (:func:`pastegen.atomic.atomic_write_bytes`).

    The format follows the extension. PNG and TIFF (and PGM/PPM) keep 16 bits; a 16-bit image
    written in a format that holds 8 bits only (JPEG, BMP, WebP, ...) is scaled to 8 bits with
    rounding (``rint(value * 255 / 65535)``) and a :class:`PasteWarning` says so. Floating-point
    images in [0, 1] are written as 8 bits. A crash never leaves a half-written file at ``path``,
    and a failed write leaves no file at all.

    Raises
    ------
    PasteError
        Not an image array (shape, or a dtype other than uint8, uint16 and float), an extension
        OpenCV cannot write, a floating-point format (``.hdr``, ``.pfm``, ``.exr``), an image it
        cannot encode in that format, a missing output folder, or an I/O error (e.g. a folder
        that is not writable).

    Warns
    -----
    PasteWarning
        A 16-bit image was scaled to 8 bits for a format that cannot hold 16.
    """
    import cv2

    p = Path(path)
    ext = p.suffix.lower()
    if not ext:
        raise PasteError(f"output {p} has no extension; use e.g. .png")
    if not isinstance(image, np.ndarray):
        raise PasteError(f"the image to write must be a numpy array, got {type(image).__name__}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 2, 3, 4))) or 0 in image.shape:
        raise PasteError(f"cannot write an image of shape {image.shape}; expected (H, W) or (H, W, C) with C in 1..4")
    if image.dtype.kind == "f":
        image = np.clip(np.rint(np.nan_to_num(image) * 255.0), 0, 255).astype(np.uint8)
    elif image.dtype not in (np.uint8, np.uint16):
        raise PasteError(f"cannot write an image of dtype {image.dtype}; use uint8, uint16 or float in [0, 1]")
    if ext in _FLOAT_FORMATS:
        raise PasteError(f"{ext} is a floating-point format and would not hold the pixels as they are; use .png or .tiff")
    if image.dtype == np.uint16 and ext not in FORMATS_16_BIT:
        warnings.warn(
            f"{p.name}: {ext} holds 8 bits per channel: the 16-bit result was scaled to 8 bits; use .png or .tiff to keep 16 bits",
            PasteWarning,
            stacklevel=2,
        )
        image = _to_8_bit(image)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    elif image.ndim == 3 and image.shape[2] == 2:  # grey + alpha: written as BGRA
        image = np.dstack([image[:, :, 0], image[:, :, 0], image[:, :, 0], image[:, :, 1]])
    try:
        ok, encoded = cv2.imencode(ext, image)
    except cv2.error as e:
        msg = str(e).strip().splitlines()
        raise PasteError(f"cannot encode the result as {ext} ({msg[-1] if msg else 'OpenCV error'}); try .png") from None
    if not ok:
        raise PasteError(f"cannot encode the result as {ext}; try .png")
    directory = p.parent if str(p.parent) else Path(".")
    if not directory.is_dir():
        raise PasteError(f"output folder {directory} does not exist")
    try:  # an ordinary file's mode; on any failure (KeyboardInterrupt too) no temporary file is left behind
        atomic_write_bytes(p, encoded.tobytes())
    except OSError as e:
        raise PasteError(f"cannot write {p}: {e.strerror or e}") from None
    return p
