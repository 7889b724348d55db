"""Safe decoding of source images: upright 8-bit RGB arrays, or a typed error.

Everything that turns a photo file into a decoded RGB array lives here, so that every other part
of pastegen can assume a source image is an upright, C-contiguous ``uint8`` array of shape
``(height, width, 3)``.

Decoding policy
---------------
:func:`decode_image` is defensive: every file that cannot be used raises a typed
:class:`~pastegen.errors.ImageError` with a one-line reason, and every file that can be used is
converted to RGB by one documented rule.

Errors (all checked before any pixel data is decoded, except the checks of truncated or corrupt
data, which need the pixel data):

- a zero-byte file raises :class:`~pastegen.errors.EmptyFileError`;
- a file that is not an image in one of :data:`SUPPORTED_FORMATS` (a text file named ``.png``, a
  PDF, ...) raises :class:`~pastegen.errors.NotAnImageError`;
- a file whose first bytes carry an image signature but whose header or pixel data ends early or is
  corrupt (a JPEG cut in half, a PNG cut short, a bad PNG checksum) raises
  :class:`~pastegen.errors.TruncatedImageError`. This does not depend on Pillow's global
  ``ImageFile.LOAD_TRUNCATED_IMAGES``: if the caller has set it to ``True``, it is set to ``False``
  while pastegen loads pixel data and restored afterwards (see *Pillow's global state* below);
- an image whose header claims more than ``max_pixels`` pixels (default
  :data:`DEFAULT_MAX_PIXELS`, 100 million) raises :class:`~pastegen.errors.ImageTooLargeError`
  before its pixel data is read;
- a JPEG whose compressed data is damaged in a way libjpeg only warns about ("Corrupt JPEG data",
  "Premature end of JPEG file": garbage inside the data, a header claiming more pixels than the
  data holds, a file cut short with an end marker appended) raises
  :class:`~pastegen.errors.TruncatedImageError` too; see *Corrupt JPEG data* below;
- an image whose pixel layout cannot sensibly be made RGB, or that uses a sample format or a
  compression Pillow cannot decode (a float RGB or RGBA TIFF, a 64-bit float TIFF, ...; the message
  names the layout, e.g. ``unsupported TIFF sample format: float32, 4 samples per pixel (RGB +
  alpha)``), raises :class:`~pastegen.errors.UnsupportedImageError`;
- a path that is not a readable regular file (missing, a folder, a FIFO, a dangling symbolic link,
  a symbolic link loop, no permission) raises :class:`~pastegen.errors.ImageError`, whose reason
  says which.

Conversions (in this order):

1. **First frame.** Animated or multi-page files (GIF, APNG, WebP, multi-page TIFF, MPO) give their
   first frame.
2. **Bit depth.** 16-bit samples are scaled to 8 bits by ``round(v * 255 / 65535)``, computed
   exactly in integers as ``(v + 128) // 257``. Because ``65535 = 255 * 257`` with 257 odd, the
   exact quotient is never halfway between two integers, so "round half to even" and "add 0.5 and
   floor" give the same result; 0 maps to 0, 65535 to 255 and ``257 * k`` to ``k``. Pillow 13 reads
   16-bit *colour* PNG and TIFF files (48-bit RGB, 64-bit RGBA, 32-bit grey+alpha) as 8-bit by
   keeping the high byte (truncation, not rounding), so those files are validated with Pillow and
   their samples decoded by OpenCV (``cv2.imdecode(..., IMREAD_UNCHANGED)``, BGR(A) to RGB(A));
   16-bit grey (Pillow modes ``I;16``, ``I;16B``, ...) keeps full precision in Pillow. 32-bit
   integer grey (mode ``I``) is treated as 16-bit if every value lies in ``[0, 65535]`` and is
   otherwise unsupported. 32-bit float grey (mode ``F``, float TIFF) is taken to be in ``[0, 1]``:
   clipped to that range, multiplied by 255 and rounded half to even; NaN or infinite values make it
   unsupported.
3. **Colour.** Grey (``L``, 16-bit grey) is repeated into three channels; 1-bit images become
   0/255; palette images (``P``) are looked up in their palette; CMYK, YCbCr, LAB and HSV are
   converted by Pillow. ICC profiles are ignored: the stored values are used as they are.
4. **Alpha.** Images with an alpha channel (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa`` and
   ``La``, 16-bit RGBA) and images with colour-key transparency (a ``tRNS`` chunk on an 8-bit ``P``,
   ``L`` or ``RGB`` PNG, GIF transparency) are alpha-composited over a **white** background:
   ``out = round((c * a + 255 * (255 - a)) / 255)`` for 8-bit alpha, and
   ``out = round(255 * (c * a + 65535 * (65535 - a)) / 65535**2)`` at full precision for 16-bit
   alpha (neither quotient can be exactly halfway, so the rounding is unambiguous). Colour-key
   transparency of 16-bit files is ignored.
5. **Orientation.** The EXIF orientation tag (or an XMP ``tiff:Orientation``, as Pillow reads it) is
   applied last, exactly as :func:`PIL.ImageOps.exif_transpose` does, so the array is upright;
   orientations 5 to 8 swap height and width. Unreadable EXIF data counts as "no orientation".

:func:`read_image_size` gives the size :func:`decode_image` would return, from the header only.

Corrupt JPEG data
-----------------
libjpeg (behind both Pillow and OpenCV) decodes a damaged JPEG without an error in three common
cases, filling what it cannot decode with grey: garbage inside the compressed data, a header that
claims more pixels than the data holds, a file cut short with an end marker appended. It only
warns, and Pillow never shows the warning. After Pillow has decoded a JPEG (or MPO),
:func:`decode_image` therefore walks the file's markers and Huffman-decodes every scan again
(:mod:`pastegen.sources._jpeg`, a Numba kernel; no pixels) and raises
:class:`~pastegen.errors.TruncatedImageError` where libjpeg would have warned "Corrupt JPEG data"
or "Premature end of JPEG file" (a missing end-of-image marker included). The check costs about as
much as the decoding; ``check_jpeg=False`` skips it (``TupleGenerator`` does for photos that
:func:`scan_sources` has checked). Arithmetic-coded, lossless and 12-bit JPEGs are not checked.

Pillow's global state
---------------------
pastegen never leaves Pillow's global state changed. ``Image.MAX_IMAGE_PIXELS`` is not touched:
Pillow's ``DecompressionBombWarning`` is silenced (pastegen applies its own ``max_pixels`` limit
instead) inside a ``warnings.catch_warnings`` block, and Pillow's ``DecompressionBombError`` becomes
:class:`~pastegen.errors.ImageTooLargeError`. Pillow's error fires above ``2 *
Image.MAX_IMAGE_PIXELS`` (about 179 million pixels by default), so an image above that is reported
as too large even if ``max_pixels`` is higher; raise ``Image.MAX_IMAGE_PIXELS`` yourself if you
need such images. ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced to ``False`` while pastegen loads
pixel data and restored to the caller's value when the last concurrent pastegen load finishes (a
pastegen load in one thread can therefore briefly make other threads' Pillow loads strict).
"""

from __future__ import annotations

import errno
import io
import os
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, Union

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import (
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    SpecError,
    TruncatedImageError,
    UnsupportedImageError,
)

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "decode_image", "read_image_size"]

#: Default limit on the number of pixels (height * width) of a source image.
DEFAULT_MAX_PIXELS = 100_000_000

#: Pillow formats :func:`decode_image` accepts (JPEG includes multi-picture MPO files); anything
#: else is "not an image". Formats whose Pillow plugins shell out to other programs (EPS via
#: Ghostscript) or guess from weak signatures are deliberately left out.
SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF", "PPM")

ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

_ORIENTATION_TAG = 0x0112

_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"\xff\xd8\xff"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (0, b"BM"),
    (8, b"WEBP"),
)

# --- Pillow global state ------------------------------------------------------------------------

_PIL_LOCK = threading.Lock()
#: Held around every ``warnings.catch_warnings()`` of the decoders (and the scan's): it is not
#: thread-safe, so it must never nest across threads.
WARNINGS_LOCK = threading.Lock()
_strict_depth = 0
_saved_load_truncated = False


@contextmanager
def _strict_truncation() -> Iterator[None]:
    """Force ``ImageFile.LOAD_TRUNCATED_IMAGES = False`` while loading; then restore it."""
    global _strict_depth, _saved_load_truncated
    with _PIL_LOCK:
        if _strict_depth == 0:
            _saved_load_truncated = ImageFile.LOAD_TRUNCATED_IMAGES
        _strict_depth += 1
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        with _PIL_LOCK:
            _strict_depth -= 1
            if _strict_depth == 0 and ImageFile.LOAD_TRUNCATED_IMAGES != _saved_load_truncated:
                ImageFile.LOAD_TRUNCATED_IMAGES = _saved_load_truncated


def _has_signature(prefix: bytes) -> bool:
    return any(prefix[at : at + len(sig)] == sig for at, sig in _SIGNATURES)


def _open_image(fp: IO[bytes], name: str, max_pixels: int) -> ImageFile.ImageFile:
    """Identify an image from its header and check its pixel count; no pixel data is decoded."""
    if max_pixels < 1:
        raise SpecError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    fp.seek(0)
    prefix = fp.read(16)
    if not prefix:
        raise EmptyFileError(name, "the file is empty (0 bytes)")
    fp.seek(0)
    try:
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp, formats=SUPPORTED_FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(name, f"too many pixels for Pillow: {_one_line(exc)}") from None
    except UnidentifiedImageError:
        if _has_signature(prefix):
            layout = _tiff_layout(fp) if prefix[:4] in (b"II*\x00", b"MM\x00*") else None
            if layout is not None:
                raise UnsupportedImageError(name, layout) from None
            raise TruncatedImageError(name, "the image header is truncated or corrupt") from None
        formats = ", ".join(SUPPORTED_FORMATS)
        raise NotAnImageError(name, f"not an image in a supported format ({formats})") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError) as exc:
        raise TruncatedImageError(
            name, f"the image header is truncated or corrupt ({_one_line(exc)})"
        ) from None
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise ImageTooLargeError(
            name,
            f"{height}x{width} (HxW) is {width * height} pixels, more than the limit of "
            f"{max_pixels} pixels",
        )
    if width < 1 or height < 1:
        im.close()
        raise TruncatedImageError(name, f"the header gives an empty size {height}x{width} (HxW)")
    return im


_TIFF_SAMPLE_FORMATS = {1: "uint", 2: "int", 3: "float", 4: "void", 5: "complex int", 6: "complex float"}
_TIFF_PHOTOMETRIC = {0: "grey", 1: "grey", 2: "RGB", 3: "palette", 4: "mask", 5: "CMYK", 6: "YCbCr", 8: "CIELab"}


def _tiff_layout(fp: IO[bytes]) -> str | None:
    """Why Pillow cannot identify a TIFF, from its first directory: ``"unsupported TIFF sample
    format: float32, 4 samples per pixel (RGB + alpha); ..."`` or ``"unsupported TIFF compression
    34887 (...)"``; None when the directory is unreadable (a corrupt header)."""
    from PIL import TiffImagePlugin

    try:
        fp.seek(0)
        ifd = TiffImagePlugin.ImageFileDirectory_v2(fp.read(8))
        fp.seek(ifd.next)
        with WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about odd tags
            ifd.load(fp)
        if 256 not in ifd or 257 not in ifd or 258 not in ifd:
            return None  # no usable directory: the header is damaged
        bits = ifd.get(258, (1,))
        formats = ifd.get(339, (1,))
        samples = int(ifd.get(277, len(bits) if isinstance(bits, tuple) else 1))
        bits = tuple(bits) if isinstance(bits, tuple) else (bits,)
        formats = tuple(formats) if isinstance(formats, tuple) else (formats,)
        photometric = _TIFF_PHOTOMETRIC.get(ifd.get(262, -1), f"photometric {ifd.get(262)}")
        extra = ifd.get(338)
        compression = int(ifd.get(259, 1))
        kinds = sorted({f"{_TIFF_SAMPLE_FORMATS.get(int(f), f'format {f}')}{int(b)}" for f, b in zip(formats, bits, strict=False)})
        colour = photometric + (" + alpha" if extra and int(extra[0]) in (1, 2) else "")
    except Exception:  # noqa: BLE001 - a damaged directory: the caller reports a corrupt header
        return None
    layout = f"{'/'.join(kinds)}, {samples} sample{'s' if samples != 1 else ''} per pixel ({colour})"
    if compression not in TiffImagePlugin.COMPRESSION_INFO:
        return f"unsupported TIFF compression {compression} ({layout})"
    return f"unsupported TIFF sample format: {layout}; convert it to 8- or 16-bit integers"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.rstrip(".")


# --- inputs -------------------------------------------------------------------------------------


def _source_name(source: Any) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "name", None)
    return str(name) if isinstance(name, (str, os.PathLike)) else "<stream>"


def _unreadable(name: str, exc: OSError) -> ImageError:
    """The error for a path that cannot be read, naming symbolic-link problems as such."""
    if exc.errno == errno.ELOOP:
        return ImageError(name, "cannot read the file: a symbolic link loop")
    if exc.errno == errno.ENOENT and os.path.islink(name):
        try:
            target = os.readlink(name)
        except OSError:
            target = "?"
        return ImageError(name, f"cannot read the file: a dangling symbolic link (to {target}, which does not exist)")
    return ImageError(name, f"cannot read the file ({exc.strerror or _one_line(exc)})")


def _open_regular(path: str) -> IO[bytes]:
    """Open a regular file for reading; refuse FIFOs, devices and sockets without blocking."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"
            raise ImageError(path, f"cannot read the file: not a regular file ({kind})")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(source: ImageInput) -> tuple[bytes, str]:
    """The whole content of a path, bytes or binary file-like object, and a name for messages."""
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            with _open_regular(os.fspath(source)) as fh:
                data = fh.read()
        except OSError as exc:
            raise _unreadable(name, exc) from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("decode_image needs a binary file object (opened with 'rb')")
        data = bytes(data)
    else:
        raise TypeError(
            f"expected a path, bytes or a binary file object, got {type(source).__name__}"
        )
    if not data:
        raise EmptyFileError(name, "the file is empty (0 bytes)")
    return data, name


# --- orientation --------------------------------------------------------------------------------


def _orientation_of(exif: Mapping[int, Any]) -> int:
    try:
        value = int(exif.get(_ORIENTATION_TAG, 1))
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _loaded_orientation(im: Image.Image) -> int:
    """The EXIF orientation of a loaded image (1 when absent or unreadable)."""
    try:
        return _orientation_of(im.getexif())
    except Exception:  # noqa: BLE001 - corrupt EXIF must never make a photo unusable
        return 1


def _png_exif_after_header(fp: IO[bytes]) -> bytes | None:
    """The payload of a PNG ``eXIf`` chunk, found by walking chunk headers (no pixel decoding)."""
    fp.seek(8)
    while True:
        head = fp.read(8)
        if len(head) < 8:
            return None
        length, kind = struct.unpack(">I4s", head)
        if kind == b"eXIf":
            data = fp.read(length)
            return data if len(data) == length else None
        if kind == b"IEND":
            return None
        fp.seek(length + 4, io.SEEK_CUR)


def _header_orientation(im: Image.Image, fp: IO[bytes]) -> int:
    """The EXIF orientation known from the header, without decoding pixels."""
    try:
        # Image.getexif reads what the header gave (PngImageFile.getexif would load the pixels).
        orientation = _orientation_of(Image.Image.getexif(im))
        if orientation == 1 and im.format == "PNG" and "exif" not in im.info:
            payload = _png_exif_after_header(fp)
            if payload:
                exif = Image.Exif()
                if not payload.startswith(b"Exif\x00\x00"):
                    payload = b"Exif\x00\x00" + payload
                exif.load(payload)
                orientation = _orientation_of(exif)
        return orientation
    except Exception:  # noqa: BLE001 - corrupt EXIF counts as "no orientation"
        return 1


def _apply_orientation(array: np.ndarray, orientation: int) -> np.ndarray:
    """Transpose an (H, W, ...) array as ``ImageOps.exif_transpose`` does for ``orientation``."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        return array[:, ::-1]
    if orientation == 3:  # ROTATE_180
        return array[::-1, ::-1]
    if orientation == 4:  # FLIP_TOP_BOTTOM
        return array[::-1]
    if orientation == 5:  # TRANSPOSE
        return array.swapaxes(0, 1)
    if orientation == 6:  # ROTATE_270 (counter-clockwise) = 90 degrees clockwise
        return np.rot90(array, k=-1)
    if orientation == 7:  # TRANSVERSE
        return array[::-1, ::-1].swapaxes(0, 1)
    if orientation == 8:  # ROTATE_90 (counter-clockwise)
        return np.rot90(array, k=1)
    return array


# --- conversions --------------------------------------------------------------------------------


def _scale16(values: np.ndarray) -> np.ndarray:
    """16-bit samples to 8 bits: ``round(v * 255 / 65535)`` exactly, as ``(v + 128) // 257``."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _composite_white8(rgba: np.ndarray) -> np.ndarray:
    """8-bit RGBA over white: ``round((c * a + 255 * (255 - a)) / 255)``."""
    colour = rgba[..., :3].astype(np.uint32)
    alpha = rgba[..., 3:4].astype(np.uint32)
    numerator = colour * alpha + 255 * (255 - alpha)
    return ((numerator + 127) // 255).astype(np.uint8)


def _composite_white16(rgba: np.ndarray) -> np.ndarray:
    """16-bit RGBA over white, to 8 bits.

    ``round(255 * (c * a + 65535 * (65535 - a)) / 65535**2)``, exactly, in integers.
    """
    colour = rgba[..., :3].astype(np.uint64)
    alpha = rgba[..., 3:4].astype(np.uint64)
    numerator = np.uint64(255) * (colour * alpha + np.uint64(65535) * (np.uint64(65535) - alpha))
    denominator = np.uint64(65535 * 65535)
    return ((numerator + denominator // np.uint64(2)) // denominator).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def _is_high_depth_colour(im: ImageFile.ImageFile) -> bool:
    """True for 16-bit colour/alpha PNG and TIFF files, which Pillow 13 truncates to 8 bits."""
    if im.format not in ("PNG", "TIFF") or im.mode not in ("RGB", "RGBA", "LA"):
        return False
    for tile in im.tile:
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args if isinstance(args, str) else (args[0] if args else "")
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _decode_high_depth(data: bytes, name: str) -> np.ndarray:
    """Decode a 16-bit colour PNG/TIFF with OpenCV at full precision, to 8-bit RGB."""
    import cv2

    try:
        array = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise UnsupportedImageError(
            name, f"OpenCV cannot decode this 16-bit image ({_one_line(exc)})"
        ) from None
    if array is None:
        raise UnsupportedImageError(name, "OpenCV cannot decode this 16-bit image")
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    channels = array.shape[2]
    if array.dtype == np.uint16:
        if channels == 1:
            return _grey_to_rgb(_scale16(array[:, :, 0]))
        if channels == 3:
            return _scale16(array[:, :, ::-1])
        if channels == 4:
            return _composite_white16(array[:, :, [2, 1, 0, 3]])
    elif array.dtype == np.uint8:
        if channels == 1:
            return _grey_to_rgb(array[:, :, 0])
        if channels == 3:
            return array[:, :, ::-1]
        if channels == 4:
            return _composite_white8(array[:, :, [2, 1, 0, 3]])
    raise UnsupportedImageError(
        name, f"unsupported 16-bit layout: {channels} channels of {array.dtype}"
    )


def _to_rgb(im: Image.Image, name: str) -> np.ndarray:
    """Convert a loaded Pillow image to 8-bit RGB by the module's documented rules."""
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return np.asarray(im, dtype=np.uint8)
    if mode == "L" and "transparency" not in im.info:
        return _grey_to_rgb(np.asarray(im, dtype=np.uint8))
    if mode == "1":
        return _grey_to_rgb(np.asarray(im.convert("L"), dtype=np.uint8))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in im.info
    ):
        return _composite_white8(np.asarray(im.convert("RGBA"), dtype=np.uint8))
    if mode in ("P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    if mode.startswith("I;16") or mode == "I":
        values = np.asarray(im)
        if values.ndim != 2:
            raise UnsupportedImageError(name, f"unsupported pixel layout (mode {mode})")
        if values.size and (int(values.min()) < 0 or int(values.max()) > 65535):
            raise UnsupportedImageError(
                name, f"integer samples outside 0..65535 (mode {mode}) cannot be scaled to 8 bits"
            )
        return _grey_to_rgb(_scale16(values))
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if values.ndim != 2 or not np.isfinite(values).all():
            raise UnsupportedImageError(name, "float image with NaN or infinite values")
        return _grey_to_rgb(np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8))
    raise UnsupportedImageError(name, f"cannot convert Pillow mode {mode!r} to RGB")


def decode_data(data: bytes, name: str, max_pixels: int, check_jpeg: bool = True) -> np.ndarray:
    """:func:`decode_image` of a file's bytes already read (``name`` for messages)."""
    fp = io.BytesIO(data)
    im = _open_image(fp, name, max_pixels)
    with im:
        high_depth = _is_high_depth_colour(im)  # from the tile list, which load() empties
        try:
            with _strict_truncation():
                im.load()
        except (
            OSError,
            SyntaxError,
            ValueError,
            EOFError,
            struct.error,
            IndexError,
            TypeError,
            zlib.error,
        ) as exc:
            text = _one_line(exc)
            if isinstance(exc, OSError) and text.startswith("decoder ") and text.endswith("not available"):
                raise UnsupportedImageError(
                    name, f"unsupported compression ({text} in this Pillow)"
                ) from None
            raise TruncatedImageError(name, f"truncated or corrupt image data ({text})") from None
        if check_jpeg and im.format in ("JPEG", "MPO"):
            from ._jpeg import jpeg_problem

            problem = jpeg_problem(data)
            if problem is not None:
                raise TruncatedImageError(name, problem)
        orientation = _loaded_orientation(im)
        if high_depth:
            rgb = _decode_high_depth(data, name)
        else:
            try:
                rgb = _to_rgb(im, name)
            except (OSError, ValueError) as exc:
                raise UnsupportedImageError(
                    name, f"cannot convert mode {im.mode!r} to RGB ({_one_line(exc)})"
                ) from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != (im.size[1], im.size[0]):
        raise UnsupportedImageError(name, f"unexpected decoded shape {rgb.shape}")
    rgb = _apply_orientation(rgb, orientation)
    return np.require(rgb, dtype=np.uint8, requirements=["C_CONTIGUOUS", "WRITEABLE", "OWNDATA"])


def decode_image(
    source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS, check_jpeg: bool = True
) -> np.ndarray:
    """Decode an image file to an upright 8-bit RGB array, defensively.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image: a path (the main case), its bytes, or a file object opened in binary mode.
    max_pixels : int, optional
        Largest accepted ``height * width``, checked from the header before any pixel data is
        decoded. Default :data:`DEFAULT_MAX_PIXELS`.
    check_jpeg : bool, optional
        Check a JPEG's compressed data for the damage libjpeg decodes with only a warning (see
        *Corrupt JPEG data* in the module docstring); default True. False skips that check (it
        costs about as much as the decoding), e.g. for a file :func:`scan_sources` already checked.

    Returns
    -------
    numpy.ndarray
        A C-contiguous, writeable ``uint8`` array of shape ``(height, width, 3)``, after the
        conversions described in the module docstring (16-bit rounding, alpha over white, EXIF
        orientation).

    Raises
    ------
    EmptyFileError
        The file has zero bytes.
    NotAnImageError
        The file is not an image in one of :data:`SUPPORTED_FORMATS`.
    TruncatedImageError
        The header or pixel data ends early or is corrupt (including a JPEG whose compressed data
        libjpeg would only warn about).
    ImageTooLargeError
        The header claims more than ``max_pixels`` pixels.
    UnsupportedImageError
        The pixels cannot sensibly be converted to RGB, or the file uses a sample format or
        compression Pillow cannot decode (e.g. a float RGB TIFF).
    ImageError
        The file cannot be read (missing, a folder, a FIFO, no permission, a dangling symbolic link
        or a symbolic link loop).
    """
    data, name = read_bytes(source)
    return decode_data(data, name, max_pixels, check_jpeg)


def read_image_size(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """The ``(height, width)`` that :func:`decode_image` would return, from the header only.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The image.
    max_pixels : int, optional
        Largest accepted ``height * width``. Default :data:`DEFAULT_MAX_PIXELS`.

    Returns
    -------
    tuple of int
        ``(height, width)`` after EXIF orientation (orientations 5 to 8 swap them).

    Raises
    ------
    EmptyFileError, NotAnImageError, TruncatedImageError, ImageTooLargeError, ImageError
        As :func:`decode_image`, except that truncated pixel data is not detected (the pixel data
        is not read).
    """
    name = _source_name(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            fp: IO[bytes] = _open_regular(os.fspath(source))
        except OSError as exc:
            raise _unreadable(name, exc) from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        fp = source if hasattr(source, "seek") else io.BytesIO(source.read())
    else:
        raise TypeError(
            f"expected a path, bytes or a binary file object, got {type(source).__name__}"
        )
    try:
        with _open_image(fp, name, max_pixels) as im:
            width, height = im.size
            orientation = _header_orientation(im, fp)
    finally:
        if isinstance(source, (str, os.PathLike)):
            fp.close()
    return (width, height) if orientation >= 5 else (height, width)
