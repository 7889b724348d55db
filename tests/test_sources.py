"""Tests of pastegen.sources: defensive decoding, discovery, named datasets, scanning.

Every bad file is generated in ``tmp_path``; nothing needs the network. The one test that reads
the shared photo folder is marked ``data`` and skipped when the folder is missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps
from skimage import data as skdata

from pastegen import sources
from pastegen.errors import (
    DatasetNotFoundError,
    EmptyFileError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    NotAnImageError,
    PastegenError,
    SourceError,
    SpecError,
    TruncatedImageError,
    UnsupportedImageError,
)
from pastegen.sources import (
    DATASET_NAMES,
    IMAGE_EXTENSIONS,
    SkippedFile,
    SourceImage,
    SourceScan,
    dataset_paths,
    decode,
    decode_image,
    find_images,
    hash_file,
    read_image_size,
    resolve_data_root,
    sample_image_paths,
    scan_sources,
)

REPO = Path(__file__).resolve().parents[1]
ORIENTATION = 0x0112


# --- helpers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    """A small, non-square colour photo (40 x 64)."""
    return np.ascontiguousarray(skdata.astronaut()[::8, ::8][:40])


@pytest.fixture(scope="module")
def medium() -> np.ndarray:
    """A larger photo, so that half of its JPEG bytes cut into the scan data (128 x 128)."""
    return np.ascontiguousarray(skdata.astronaut()[::4, ::4])


def encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kwargs)
    return buf.getvalue()


def write(path: Path, payload: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    return path


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def insert_png_chunk(png: bytes, kind: bytes, payload: bytes, *, before: bytes) -> bytes:
    """Insert a chunk before the first chunk of type ``before``."""
    at = 8
    while True:
        length, name = struct.unpack(">I4s", png[at : at + 8])
        if name == before:
            return png[:at] + png_chunk(kind, payload) + png[at:]
        at += 12 + length


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


def huge_png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width x height`` RGB pixels (its data is far too short)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


# --- decode_image: good files -------------------------------------------------------------------


def test_png_roundtrip_is_exact_and_contiguous(tmp_path, small):
    path = write(tmp_path / "a.png", encode(small, "PNG"))
    out = decode_image(path)
    assert out.dtype == np.uint8 and out.shape == small.shape
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, small)
    assert read_image_size(path) == small.shape[:2]


def test_jpeg_decodes_close_to_original(tmp_path, small):
    path = write(tmp_path / "a.jpg", encode(small, "JPEG", quality=95))
    out = decode_image(str(path))
    assert out.shape == small.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - small.astype(int)).mean() < 6


def test_bytes_and_file_objects_are_accepted(tmp_path, small):
    payload = encode(small, "PNG")
    path = write(tmp_path / "a.png", payload)
    np.testing.assert_array_equal(decode_image(payload), small)
    np.testing.assert_array_equal(decode_image(io.BytesIO(payload)), small)
    with open(path, "rb") as fh:
        np.testing.assert_array_equal(decode_image(fh), small)
    assert read_image_size(payload) == small.shape[:2]
    assert read_image_size(io.BytesIO(payload)) == small.shape[:2]


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "WEBP", "GIF", "PPM"])
def test_other_formats(small, fmt):
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    payload = encode(small, fmt, **kwargs)
    out = decode_image(payload)
    assert out.shape == small.shape
    if fmt != "GIF":  # GIF quantises to a palette
        np.testing.assert_array_equal(out, small)


def test_grey_jpeg_becomes_three_equal_channels(small):
    grey = np.asarray(Image.fromarray(small).convert("L"))
    payload = encode(grey, "JPEG", quality=95)
    out = decode_image(payload)
    assert out.shape == small.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    np.testing.assert_array_equal(out[..., 0], np.asarray(Image.open(io.BytesIO(payload))))


def test_one_bit_image_is_black_and_white():
    bits = np.zeros((8, 10), dtype=bool)
    bits[2:5, 3:7] = True
    out = decode_image(encode(bits, "PNG"))
    np.testing.assert_array_equal(out[..., 1], np.where(bits, 255, 0))
    assert set(np.unique(out)) <= {0, 255}


def test_palette_png(small):
    pal = Image.fromarray(small).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    out = decode_image(buf.getvalue())
    np.testing.assert_array_equal(out, np.asarray(pal.convert("RGB")))


def test_palette_png_with_transparency_goes_over_white():
    pal = Image.new("P", (4, 3), 0)
    pal.putpalette([10, 20, 30] + [200, 100, 0] + [0, 0, 0] * 254)
    pal.putpixel((1, 1), 1)
    buf = io.BytesIO()
    pal.save(buf, "PNG", transparency=0)  # palette entry 0 fully transparent
    out = decode_image(buf.getvalue())
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[1, 1].tolist() == [200, 100, 0]


def test_rgba_is_composited_over_white_exactly():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, size=(16, 16, 4), dtype=np.uint8)
    rgba[0, 0] = [200, 100, 0, 128]
    rgba[0, 1] = [10, 20, 30, 0]
    rgba[0, 2] = [10, 20, 30, 255]
    out = decode_image(encode(rgba, "PNG"))
    c = rgba[..., :3].astype(np.float64)
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    expected = np.rint(c * a + 255.0 * (1.0 - a)).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0].tolist() == [227, 177, 127]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[0, 2].tolist() == [10, 20, 30]


def test_grey_alpha_is_composited_over_white():
    la = np.zeros((2, 3, 2), dtype=np.uint8)
    la[..., 0] = 40
    la[0, :, 1] = [0, 255, 51]
    out = decode_image(encode(la, "PNG"))
    assert out[0, :, 0].tolist() == [255, 40, round(40 * 0.2 + 255 * 0.8)]
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_cmyk_jpeg(small):
    cmyk = Image.fromarray(small).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, "JPEG", quality=95)
    out = decode_image(buf.getvalue())
    assert out.shape == small.shape
    assert np.abs(out.astype(int) - small.astype(int)).mean() < 8


# --- 16 bit and float ---------------------------------------------------------------------------


def test_sixteen_bit_scaling_rule_is_exact():
    k = np.arange(256, dtype=np.uint32)
    values = np.concatenate([257 * k, 257 * k[:-1] + 128, 257 * k[:-1] + 129, [0, 65535, 1, 127]])
    got = decode._scale16(values.astype(np.uint16))
    expected = np.floor(values.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got[:256], k)  # 257 * k -> k
    assert got[-4:].tolist() == [0, 255, 0, 0]
    # the exact quotient is never a tie, so round-half-to-even agrees everywhere
    every = np.arange(65536, dtype=np.uint32)
    np.testing.assert_array_equal(
        decode._scale16(every.astype(np.uint16)), np.rint(every * 255.0 / 65535.0).astype(np.uint8)
    )


def test_sixteen_bit_rgb_png_keeps_precision(tmp_path):
    # values where keeping the high byte (what Pillow 13 does) differs from rounding
    rgb = np.array(
        [
            [[65535, 0, 257 * 7], [500, 384, 257 * 100 + 129]],
            [[257 * 200 + 128, 1, 65534], [0, 0, 0]],
        ],
        dtype=np.uint16,
    )
    path = tmp_path / "rgb16.png"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])  # OpenCV writes BGR
    with Image.open(path) as im:
        assert im.mode == "RGB"  # Pillow 13 hands back 8 bits: the high byte, not rounded
        assert np.asarray(im)[0, 1].tolist() == [1, 1, 100]
    out = decode_image(path)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)
    assert out[0, 0].tolist() == [255, 0, 7]
    assert out[0, 1].tolist() == [2, 1, 101]  # 1.95 -> 2, 1.49 -> 1, 100.50 -> 101
    assert out[1, 0].tolist() == [200, 0, 255]
    np.testing.assert_array_equal(out, decode._scale16(rgb))


def test_sixteen_bit_rgb_tiff_keeps_precision(tmp_path):
    rgb = (np.arange(5 * 4 * 3).reshape(5, 4, 3) * 997 % 65536).astype(np.uint16)
    path = tmp_path / "rgb16.tif"
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    np.testing.assert_array_equal(decode_image(path), decode._scale16(rgb))


def test_sixteen_bit_rgba_png_composited_at_full_precision(tmp_path):
    rgba = np.array(
        [[[40000, 20000, 0, 65535], [1000, 2000, 3000, 0], [50000, 0, 65535, 30000]]],
        dtype=np.uint16,
    )
    path = tmp_path / "rgba16.png"
    assert cv2.imwrite(str(path), rgba[:, :, [2, 1, 0, 3]])
    out = decode_image(path)
    c = rgba[..., :3].astype(np.float64) / 65535.0
    a = rgba[..., 3:4].astype(np.float64) / 65535.0
    np.testing.assert_array_equal(out, np.rint((c * a + (1.0 - a)) * 255.0).astype(np.uint8))
    assert out[0, 0].tolist() == [156, 78, 0]
    assert out[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize("how", ["cv2-png", "pil-I;16-png", "pil-I;16B-tiff", "pil-I-tiff"])
def test_sixteen_bit_grey(tmp_path, how):
    grey = np.array([[0, 65535, 257 * 3, 500], [384, 257 * 128 + 129, 1, 65280]], dtype=np.uint16)
    path = tmp_path / ("g.png" if how.endswith("png") else "g.tif")
    if how == "cv2-png":
        assert cv2.imwrite(str(path), grey)
    elif how == "pil-I;16-png":
        Image.fromarray(grey).save(path)
    elif how == "pil-I;16B-tiff":
        Image.fromarray(grey.astype(">u2")).save(path)
    else:
        Image.fromarray(grey.astype(np.int32)).save(path)
    out = decode_image(path)
    expected = np.array([[0, 255, 3, 2], [1, 129, 0, 254]], dtype=np.uint8)
    np.testing.assert_array_equal(out, np.repeat(expected[..., None], 3, axis=2))


def test_float_tiff_is_clipped_from_unit_range(tmp_path):
    values = np.array([[-0.5, 0.0, 0.5, 1.0, 2.0, 0.2]], dtype=np.float32)
    path = tmp_path / "f.tif"
    Image.fromarray(values).save(path)
    out = decode_image(path)
    assert out[0, :, 0].tolist() == [0, 0, 128, 255, 255, 51]


def test_float_tiff_with_nan_is_unsupported(tmp_path):
    path = tmp_path / "nan.tif"
    Image.fromarray(np.array([[np.nan, 0.5]], dtype=np.float32)).save(path)
    with pytest.raises(UnsupportedImageError):
        decode_image(path)


def test_wide_integer_grey_is_unsupported(tmp_path):
    path = tmp_path / "i32.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(UnsupportedImageError, match="0..65535"):
        decode_image(path)


# --- EXIF orientation ---------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(small, orientation):
    payload = encode(small, "PNG", exif=exif_bytes(orientation))
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(payload))).convert("RGB"))
    out = decode_image(payload)
    np.testing.assert_array_equal(out, expected)
    assert out.flags.c_contiguous
    assert read_image_size(payload) == out.shape[:2]
    swapped = orientation >= 5
    assert out.shape[:2] == (small.shape[1], small.shape[0]) if swapped else small.shape[:2]


@pytest.mark.parametrize(("orientation", "k"), [(6, -1), (8, 1), (3, 2)])
def test_exif_rotated_jpeg(tmp_path, small, orientation, k):
    plain = write(tmp_path / "plain.jpg", encode(small, "JPEG", quality=90))
    tagged = encode(small, "JPEG", quality=90, exif=exif_bytes(orientation))
    rotated = write(tmp_path / "rot.jpg", tagged)
    upright = decode_image(plain)
    out = decode_image(rotated)
    np.testing.assert_array_equal(out, np.rot90(upright, k=k))
    assert read_image_size(rotated) == out.shape[:2]
    if orientation in (6, 8):
        assert out.shape[:2] == (small.shape[1], small.shape[0])


def test_sixteen_bit_png_with_exif_orientation(tmp_path):
    rgb = (np.arange(3 * 5 * 3).reshape(3, 5, 3) * 3001 % 65536).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", rgb[:, :, ::-1])
    assert ok
    payload = insert_png_chunk(encoded.tobytes(), b"eXIf", exif_bytes(6), before=b"IDAT")
    out = decode_image(payload)
    np.testing.assert_array_equal(out, np.rot90(decode._scale16(rgb), k=-1))
    assert read_image_size(payload) == (5, 3)


def test_read_image_size_finds_exif_after_the_pixel_data(small):
    plain = encode(small, "PNG")
    payload = insert_png_chunk(plain, b"eXIf", exif_bytes(8), before=b"IEND")
    out = decode_image(payload)
    assert out.shape[:2] == (small.shape[1], small.shape[0])
    assert read_image_size(payload) == out.shape[:2]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_corrupt_exif_is_ignored(small):
    payload = insert_png_chunk(encode(small, "PNG"), b"eXIf", b"MM\x00*garbage", before=b"IDAT")
    np.testing.assert_array_equal(decode_image(payload), small)
    assert read_image_size(payload) == small.shape[:2]


# --- decode_image: bad files --------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    path = write(tmp_path / "empty.png", b"")
    for call in (decode_image, read_image_size):
        with pytest.raises(EmptyFileError) as info:
            call(path)
        assert info.value.path == str(path)
        assert "\n" not in str(info.value)
    with pytest.raises(EmptyFileError):
        decode_image(b"")


def test_text_file_named_png(tmp_path):
    path = write(tmp_path / "notes.png", b"these are not the pixels you are looking for\n")
    for call in (decode_image, read_image_size):
        with pytest.raises(NotAnImageError):
            call(path)


def test_truncated_jpeg(tmp_path, medium):
    payload = encode(medium, "JPEG", quality=95)
    path = write(tmp_path / "half.jpg", payload[: len(payload) // 2])
    assert read_image_size(path) == medium.shape[:2]  # the header is intact
    with pytest.raises(TruncatedImageError, match="truncated"):
        decode_image(path)


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.95])
def test_png_cut_short(medium, fraction):
    payload = encode(medium, "PNG")
    with pytest.raises(TruncatedImageError):
        decode_image(payload[: int(len(payload) * fraction)])


def test_corrupt_png_checksum(medium):
    payload = bytearray(encode(medium, "PNG"))
    payload[len(payload) // 2] ^= 0xFF
    with pytest.raises(TruncatedImageError):
        decode_image(bytes(payload))


def test_truncation_is_detected_even_if_caller_relaxed_pillow(monkeypatch, medium):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    payload = encode(medium, "JPEG", quality=95)
    with pytest.raises(TruncatedImageError):
        decode_image(payload[: len(payload) // 2])
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored
    decode_image(payload)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_pillow_truncation_flag_untouched_by_default(medium):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    decode_image(encode(medium, "PNG"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_huge_header_is_refused_before_decoding(tmp_path):
    # 20000 x 20000 claimed: decoding it would need 1.2 GB and fail on the short data
    path = write(tmp_path / "huge.png", huge_png_header(20_000, 20_000))
    for call in (decode_image, read_image_size):
        with pytest.raises(ImageTooLargeError, match="400000000 pixels"):
            call(path)


def test_enormous_header_beyond_pillow_limit(tmp_path):
    limit_before = Image.MAX_IMAGE_PIXELS
    path = write(tmp_path / "bomb.png", huge_png_header(100_000, 100_000))
    for call in (decode_image, read_image_size):
        with pytest.raises(ImageTooLargeError):
            call(path, max_pixels=10**12)
    assert Image.MAX_IMAGE_PIXELS == limit_before


def test_max_pixels_on_a_real_image(small):
    payload = encode(small, "PNG")
    h, w = small.shape[:2]
    with pytest.raises(ImageTooLargeError):
        decode_image(payload, max_pixels=h * w - 1)
    with pytest.raises(ImageTooLargeError):
        read_image_size(payload, max_pixels=h * w - 1)
    assert decode_image(payload, max_pixels=h * w).shape == small.shape


def test_pillow_bomb_warning_is_silenced_and_error_converted(monkeypatch, small):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40 x 64 = 2560: Pillow error (> 2000)
    payload = encode(small, "PNG")
    with pytest.raises(ImageTooLargeError):
        decode_image(payload)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 2560 > 2000: Pillow only warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(decode_image(payload), small)
    assert Image.MAX_IMAGE_PIXELS == 2000


def test_missing_file_is_a_typed_error(tmp_path):
    with pytest.raises(ImageError, match="cannot read"):
        decode_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="cannot read"):
        read_image_size(tmp_path / "nope.png")


def test_errors_are_pastegen_errors_with_one_line_messages(tmp_path, medium):
    payload = encode(medium, "JPEG")
    half = payload[: len(payload) // 2]
    cases = [b"", b"hello", payload[:200], half, huge_png_header(50_000, 50_000)]
    for i, case in enumerate(cases):
        path = write(tmp_path / f"{i}.jpg", case)
        with pytest.raises(PastegenError) as info:
            decode_image(path)
        assert "\n" not in str(info.value)
        assert str(info.value).startswith(str(path))


# --- discovery ----------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path, small) -> Path:
    root = tmp_path / "photos"
    png = encode(small, "PNG")
    for rel in ["b.png", "a.JPG", "sub/c.jpeg", "sub/deeper/d.TIFF", "sub/e.webp", "z.bmp"]:
        write(root / rel, png)
    write(root / "notes.txt", b"hello")
    write(root / ".hidden.png", png)
    write(root / ".cache" / "f.png", png)
    write(root / "sub" / "README", b"x")
    return root


def test_image_extensions():
    assert set(IMAGE_EXTENSIONS) == {
        ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".ppm", ".pgm", ".pbm", ".pnm"
    }


def test_find_images_in_a_folder(tree):
    found = find_images(tree)
    rels = [os.path.relpath(p, tree) for p in found]
    assert rels == sorted(rels)
    expected = ["b.png", "a.JPG", "z.bmp"] + [
        os.path.join("sub", "c.jpeg"),
        os.path.join("sub", "deeper", "d.TIFF"),
        os.path.join("sub", "e.webp"),
    ]
    assert sorted(rels) == sorted(expected)
    assert all(os.path.isabs(p) for p in found)
    assert found == sorted(found)
    assert find_images(str(tree)) == found


def test_find_images_with_globs(tree):
    top = find_images(str(tree / "*"))
    assert [os.path.basename(p) for p in top] == ["a.JPG", "b.png", "z.bmp"]
    deep = find_images(str(tree / "**" / "*.*"))
    assert deep == find_images(tree)
    assert [os.path.basename(p) for p in find_images(str(tree / "sub" / "*.webp"))] == ["e.webp"]


def test_find_images_relative_glob(tree, monkeypatch):
    monkeypatch.chdir(tree)
    found = find_images("sub/**/*")
    assert [os.path.relpath(p, tree) for p in found] == [
        os.path.join("sub", "c.jpeg"),
        os.path.join("sub", "deeper", "d.TIFF"),
        os.path.join("sub", "e.webp"),
    ]
    assert all(os.path.isabs(p) for p in found)


def test_find_images_from_a_list_file(tree, tmp_path):
    listing = tmp_path / "lists" / "train.txt"
    absolute = tree / "z.bmp"
    listing.parent.mkdir()
    listing.write_text(
        "# training photos\n\n../photos/b.png\n  ../photos/sub/c.jpeg  \n"
        f"{absolute}\n# ../photos/a.JPG\n../photos/b.png\n",
        encoding="utf-8",
    )
    found = find_images(listing)
    assert found == sorted([str(tree / "b.png"), str(tree / "sub" / "c.jpeg"), str(absolute)])


def test_find_images_list_file_with_missing_entry(tree, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("photos/b.png\nphotos/missing.png\n")
    with pytest.raises(SourceError, match="line 2"):
        find_images(listing)


def test_find_images_single_image(tree):
    assert find_images(tree / "b.png") == [str(tree / "b.png")]


def test_find_images_errors(tmp_path):
    with pytest.raises(SourceError, match="not found") as info:
        find_images(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    write(empty / "notes.txt", b"x")
    with pytest.raises(SourceError, match="no images found in") as info:
        find_images(empty)
    assert str(empty) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SourceError, match="no images matched"):
        find_images(str(tmp_path / "*.png"))
    blank = write(tmp_path / "blank.txt", b"# nothing\n\n")
    with pytest.raises(SourceError, match="names no images"):
        find_images(blank)


# --- named datasets -----------------------------------------------------------------------------


@pytest.fixture
def data_root(tmp_path, small) -> Path:
    root = tmp_path / "data"
    png = encode(small, "PNG")
    for split, names in {"train": ["t2.png", "t1.jpg", "x/t3.png"], "test": ["s1.png"]}.items():
        for name in names:
            write(root / "faces" / split / name, png)
    write(root / "faces" / "landmarks.json", b"{}")
    for split, cities in {"train": ["aachen", "bremen"], "val": ["lindau"]}.items():
        for city in cities:
            city_dir = root / "cityscapes" / "leftImg8bit" / split / city
            for i in range(2):
                write(city_dir / f"{city}_{i:06d}_000019_leftImg8bit.png", png)
            write(city_dir / f"{city}_000000_gtFine_color.png", png)  # not an input image
    for split in ("train", "test"):
        write(root / "scenes" / split / "f1.jpg", png)
        write(root / "scenes" / split / "seq" / "f2.png", png)
    return root


def test_resolve_data_root(tmp_path, monkeypatch):
    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    with pytest.raises(DatasetNotFoundError, match="--data-root") as info:
        resolve_data_root(None)
    assert "PASTEGEN_DATA_ROOT" in str(info.value)
    assert resolve_data_root(tmp_path) == tmp_path
    monkeypatch.setenv("PASTEGEN_DATA_ROOT", str(tmp_path))
    assert resolve_data_root(None) == tmp_path
    assert isinstance(resolve_data_root(str(tmp_path)), Path)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        resolve_data_root(tmp_path / "missing")


def test_faces_with_splits(data_root):
    train = dataset_paths("faces", data_root=data_root)
    rels = [os.path.relpath(p, data_root / "faces" / "train") for p in train]
    assert rels == ["t1.jpg", "t2.png", os.path.join("x", "t3.png")]
    test = dataset_paths("faces", data_root=data_root, split="test")
    assert test == [str(data_root / "faces" / "test" / "s1.png")]
    assert dataset_paths("faces", data_root=str(data_root), split="all") == sorted(train + test)
    with pytest.raises(DatasetNotFoundError) as info:
        dataset_paths("faces", data_root=data_root, split="val")
    assert str(data_root / "faces" / "val") in str(info.value)


def test_faces_flat_folder(tmp_path, small):
    root = tmp_path / "root"
    for name in ["00000/1.png", "00000/2.png", "01000/3.png", "4.png"]:
        write(root / "faces" / name, encode(small, "PNG"))
    everything = dataset_paths("faces", data_root=root, split="all")
    assert len(everything) == 4 and everything == sorted(everything)
    assert dataset_paths("faces", data_root=root) == everything  # "train" = the whole flat folder
    for split in ("test", "val"):
        with pytest.raises(DatasetNotFoundError, match=f"no '{split}' split") as info:
            dataset_paths("faces", data_root=root, split=split)
        assert str(root / "faces") in str(info.value) and "\n" not in str(info.value)


def test_cityscapes_layout(data_root):
    train = dataset_paths("cityscapes", data_root=data_root)
    assert len(train) == 4 and train == sorted(train)
    assert all(p.endswith("_leftImg8bit.png") for p in train)
    assert {Path(p).parent.name for p in train} == {"aachen", "bremen"}
    assert len(dataset_paths("cityscapes", data_root=data_root, split="all")) == 6
    with pytest.raises(DatasetNotFoundError) as info:
        dataset_paths("cityscapes", data_root=data_root, split="test")
    message = str(info.value)
    looked = data_root / "cityscapes" / "leftImg8bit" / "test"
    assert f"{looked}/<city>/*_leftImg8bit.png" in message
    assert "leftImg8bit" in message and "--data-root" in message and "\n" not in message


def test_missing_dataset_messages_say_where_they_looked(tmp_path):
    root = tmp_path / "empty-root"
    root.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        dataset_paths("cityscapes", data_root=root)
    assert str(info.value) == (
        f"dataset 'cityscapes' not found: looked for {root}/cityscapes/leftImg8bit/train/<city>/"
        f"*_leftImg8bit.png; download Cityscapes leftImg8bit (leftImg8bit_trainvaltest.zip) and "
        f"place it under {root}/cityscapes, or pass --data-root"
    )
    for name, looked in [("faces", root / "faces"), ("scenes", root / "scenes" / "train")]:
        with pytest.raises(DatasetNotFoundError) as info:
            dataset_paths(name, data_root=root)
        assert str(looked) in str(info.value) and "\n" not in str(info.value)


def test_scenes(data_root):
    test = dataset_paths("scenes", data_root=data_root, split="test")
    rels = [os.path.relpath(p, data_root / "scenes" / "test") for p in test]
    assert rels == ["f1.jpg", os.path.join("seq", "f2.png")]
    assert len(dataset_paths("scenes", data_root=data_root, split="all")) == 4
    with pytest.raises(DatasetNotFoundError, match="scenes"):
        dataset_paths("scenes", data_root=data_root, split="val")


def test_dataset_paths_uses_the_environment(data_root, monkeypatch):
    monkeypatch.setenv("PASTEGEN_DATA_ROOT", str(data_root))
    assert dataset_paths("scenes") == dataset_paths("scenes", data_root=data_root)


def test_dataset_name_and_split_validation(data_root):
    assert DATASET_NAMES == ("faces", "cityscapes", "scenes", "sample", "faces-wild", "photos", "photos-extra")
    with pytest.raises(SourceError, match="unknown dataset"):
        dataset_paths("imagenet", data_root=data_root)
    with pytest.raises(SourceError, match="unknown split"):
        dataset_paths("faces", data_root=data_root, split="training")


def test_sample_dataset_ignores_the_data_root(monkeypatch):
    monkeypatch.delenv(sources.DATA_ROOT_ENV, raising=False)
    assert dataset_paths("sample") == sample_image_paths()
    ignored = dataset_paths("sample", data_root="/does/not/exist", split="test")
    assert ignored == sample_image_paths()


def test_sample_image_paths_are_colour_photos():
    paths = sample_image_paths()
    names = {os.path.basename(p) for p in paths}
    assert {"astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg"} <= names
    assert paths == sorted(paths) and len(set(paths)) == len(paths)
    for path in paths:
        assert os.path.isabs(path) and os.path.isfile(path)
        image = decode_image(path)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 256
        # a colour photograph: the channels differ noticeably
        spread = np.abs(image[..., 0].astype(int) - image[..., 2].astype(int)).mean()
        assert spread > 5, path


# --- scanning -----------------------------------------------------------------------------------


@pytest.fixture
def mixed(tmp_path, small, medium) -> tuple[list[str], dict[str, tuple]]:
    """Good and bad files in a known order, with what each should give."""
    folder = tmp_path / "mixed"
    jpeg = encode(medium, "JPEG", quality=90)
    files = {
        "01_good.png": (encode(small, "PNG"), ("ok", small.shape[:2])),
        "02_empty.png": (b"", ("skip", "EmptyFileError")),
        "03_good.jpg": (jpeg, ("ok", medium.shape[:2])),
        "04_half.jpg": (jpeg[: len(jpeg) // 2], ("skip", "TruncatedImageError")),
        "05_text.png": (b"not an image\n", ("skip", "NotAnImageError")),
        "06_rotated.jpg": (
            encode(small, "JPEG", exif=exif_bytes(6)),
            ("ok", (small.shape[1], small.shape[0])),
        ),
        "07_huge.png": (huge_png_header(30_000, 30_000), ("skip", "ImageTooLargeError")),
        "08_cut.png": (encode(medium, "PNG")[:500], ("skip", "TruncatedImageError")),
        "09_rgba.png": (
            encode(np.dstack([small, np.full(small.shape[:2], 90, np.uint8)]), "PNG"),
            ("ok", small.shape[:2]),
        ),
    }
    paths, expected = [], {}
    for name, (payload, outcome) in files.items():
        path = str(write(folder / name, payload))
        paths.append(path)
        expected[path] = (payload, outcome)
    return paths, expected


def test_scan_sources_keeps_good_and_skips_bad(mixed):
    paths, expected = mixed
    calls = []
    scan = scan_sources(paths, progress=calls.append)
    assert sum(calls) == len(paths)
    good = [p for p in paths if expected[p][1][0] == "ok"]
    bad = [p for p in paths if expected[p][1][0] == "skip"]
    assert [im.path for im in scan.images] == good
    assert scan.paths == tuple(good)
    for image in scan.images:
        payload, (_, size) = expected[image.path]
        assert image.sha256 == sha(payload) == hash_file(image.path)
        assert (image.height, image.width) == size
    assert [s.path for s in scan.skipped] == bad
    assert [s.error for s in scan.skipped] == [expected[p][1][1] for p in bad]
    assert all(s.reason and "\n" not in s.reason for s in scan.skipped)


def test_scan_sources_strict_raises_first_bad_file(mixed):
    paths, _ = mixed
    with pytest.raises(EmptyFileError) as info:
        scan_sources(paths, strict=True)
    assert info.value.path == paths[1]
    with pytest.raises(TruncatedImageError):
        scan_sources([paths[0], paths[3], paths[1]], strict=True)


def test_scan_sources_parallel_equals_serial(mixed):
    paths, _ = mixed
    calls = []
    serial = scan_sources(paths)
    parallel = scan_sources(paths, jobs=2, progress=calls.append)
    assert parallel == serial
    assert sum(calls) == len(paths)
    with pytest.raises(EmptyFileError) as info:
        scan_sources(paths, jobs=2, strict=True)
    assert info.value.path == paths[1]


def test_scan_sources_min_size(mixed, small, medium):
    paths, expected = mixed
    good = [p for p in paths if expected[p][1][0] == "ok"]
    scan = scan_sources(good, min_size=(50, 50))
    # small is 40 x 64 (too short); rotated small is 64 x 40 (too narrow); medium is 128 x 128
    assert [im.path for im in scan.images] == [good[1]]
    assert [s.path for s in scan.skipped] == [good[0], good[2], good[3]]
    assert {s.error for s in scan.skipped} == {"ImageTooSmallError"}
    assert "40x64" in scan.skipped[0].reason
    assert len(scan_sources(good).images) == len(good)  # no min_size: nothing skipped for size
    with pytest.raises(ImageTooSmallError):
        scan_sources(good, min_size=(50, 50), strict=True)


def test_scan_sources_validates_options(mixed):
    paths, _ = mixed
    with pytest.raises(SpecError):
        scan_sources(paths, min_size=(0, 10))
    with pytest.raises(SpecError):
        scan_sources(paths, jobs=0)
    assert scan_sources([]) == SourceScan(images=(), skipped=())


def test_scan_records_roundtrip_through_json(mixed):
    paths, _ = mixed
    scan = scan_sources(paths)
    text = json.dumps(scan.to_dict())
    again = SourceScan.from_dict(json.loads(text))
    assert again == scan
    images = [i.to_dict() for i in scan.images]
    assert SourceScan.from_dicts(images, [s.to_dict() for s in scan.skipped]) == scan
    assert SourceImage.from_dict(scan.images[0].to_dict()) == scan.images[0]
    skipped = scan.skipped[0]
    assert SkippedFile.from_dict(json.loads(json.dumps(skipped.to_dict()))) == skipped
    error = skipped.to_error()
    assert type(error).__name__ == skipped.error and error.path == skipped.path


def test_hash_file(tmp_path):
    payload = os.urandom(3 << 20)
    path = write(tmp_path / "blob.bin", payload)
    assert hash_file(path) == sha(payload)


# --- real photos --------------------------------------------------------------------------------


@pytest.mark.data
def test_real_photos_decode():
    root = Path(os.environ.get("PASTEGEN_DATA_ROOT", REPO.parent / "shared" / "data"))
    if not (root / "faces" / "train").is_dir() or not (root / "scenes" / "test").is_dir():
        pytest.skip(f"shared photo folder not found at {root}")
    faces = dataset_paths("faces", data_root=root)[:3]
    scenes = dataset_paths("scenes", data_root=root, split="test")[:3]
    scan = scan_sources(faces + scenes)
    assert not scan.skipped
    for image in scan.images:
        array = decode_image(image.path)
        assert array.dtype == np.uint8 and array.shape == (image.height, image.width, 3)
        assert read_image_size(image.path) == (image.height, image.width)
        assert min(array.shape[:2]) >= 256


def test_faces_wild_dataset(tmp_path):
    from pastegen.errors import DatasetNotFoundError
    from pastegen.sources import DATASET_PRESETS, dataset_paths

    with pytest.raises(DatasetNotFoundError, match="faces-wild"):
        dataset_paths("faces-wild", data_root=tmp_path)
    (tmp_path / "faces-wild" / "train").mkdir(parents=True)
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "faces-wild" / "train" / "a.png")
    assert [p.split("/")[-1] for p in dataset_paths("faces-wild", data_root=tmp_path)] == ["a.png"]
    assert DATASET_PRESETS["faces-wild"] == "faces"


@pytest.mark.parametrize("name", ["photos", "photos-extra"])
def test_general_photo_datasets_are_flat_folders(tmp_path, name):
    from PIL import Image

    from pastegen.errors import DatasetNotFoundError
    from pastegen.sources import DATASET_PRESETS, dataset_paths

    with pytest.raises(DatasetNotFoundError, match=name):
        dataset_paths(name, data_root=tmp_path)
    (tmp_path / name / "kodak").mkdir(parents=True)
    for rel in ("b.jpg", "kodak/a.png"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / name / rel)
    (tmp_path / name / ".hidden.png").write_bytes(b"")
    want = [str(tmp_path / name / "b.jpg"), str(tmp_path / name / "kodak" / "a.png")]
    assert sorted(dataset_paths(name, data_root=tmp_path)) == sorted(want) == sorted(dataset_paths(name, data_root=tmp_path, split="all"))
    with pytest.raises(DatasetNotFoundError, match="no 'test' split"):
        dataset_paths(name, data_root=tmp_path, split="test")
    assert DATASET_PRESETS.get(name, name) == "photos"


# --- hostile inputs: corrupt JPEG data, odd TIFFs, links, thin strips -----------------------------


def _scan_data_start(jpeg: bytes) -> int:
    """Where the first scan's compressed data starts (after the SOS segment)."""
    at = jpeg.index(b"\xff\xda")
    return at + 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")


def corrupt_jpegs(image: np.ndarray) -> dict[str, bytes]:
    """Three JPEGs that libjpeg decodes with only a warning (Pillow: no error at all)."""
    rng = np.random.default_rng(7)
    base = encode(image, "JPEG", quality=90)
    start = _scan_data_start(base)
    mid = (start + len(base)) // 2
    noise = rng.integers(0, 255, 80, dtype=np.uint8).tobytes().replace(b"\xff", b"\x00")
    garbage = base[:mid] + noise + base[mid + 80 :]
    small = encode(image[:64, :64], "JPEG", quality=90)
    sof = small.index(b"\xff\xc0")
    claims = small[: sof + 5] + struct.pack(">HH", 640, 640) + small[sof + 9 :]
    progressive = encode(image, "JPEG", quality=90, progressive=True)
    cut = progressive[: len(progressive) // 2] + b"\xff\xd9"
    return {"garbage-in-the-data": garbage, "header-claims-640x640": claims, "progressive-cut-in-half": cut}


@pytest.mark.parametrize("kind", ["garbage-in-the-data", "header-claims-640x640", "progressive-cut-in-half"])
def test_corrupt_jpeg_data_is_a_truncated_image(tmp_path, medium, kind):
    payload = corrupt_jpegs(medium)[kind]
    with Image.open(io.BytesIO(payload)) as im:
        im.load()  # libjpeg decodes it without an error: the premise of the check
    path = write(tmp_path / f"{kind}.jpg", payload)
    with pytest.raises(TruncatedImageError, match="corrupt JPEG data|premature end of JPEG file") as info:
        decode_image(path)
    assert "\n" not in str(info.value) and info.value.path == str(path)
    assert decode_image(path, check_jpeg=False).shape[2] == 3  # the check alone refuses it
    good = write(tmp_path / "good.jpg", encode(medium, "JPEG"))
    scan = scan_sources([str(good), str(path)])
    assert scan.paths == (str(good),)
    assert [(s.path, s.error) for s in scan.skipped] == [(str(path), "TruncatedImageError")]
    with pytest.raises(TruncatedImageError):
        scan_sources([str(good), str(path)], strict=True)
    assert scan_sources([str(good), str(path)], jobs=2) == scan


def test_sound_jpegs_pass_the_data_check(tmp_path, medium):
    from pastegen.sources._jpeg import jpeg_problem

    odd = np.ascontiguousarray(medium[:37, :53])
    cases = {
        "baseline": encode(medium, "JPEG", quality=75),
        "444": encode(odd, "JPEG", quality=95, subsampling=0),
        "422": encode(odd, "JPEG", quality=85, subsampling=1),
        "grey": encode(np.ascontiguousarray(medium[..., 0]), "JPEG"),
        "optimized": encode(medium, "JPEG", optimize=True),
        "progressive": encode(odd, "JPEG", progressive=True, quality=95),
        "progressive-grey": encode(np.ascontiguousarray(medium[..., 1]), "JPEG", progressive=True),
        "exif": encode(medium, "JPEG", exif=exif_bytes(3)),
        "cmyk": encode_cmyk(medium),
    }
    for name, params in {"restarts": [cv2.IMWRITE_JPEG_RST_INTERVAL, 3],
                         "progressive-restarts": [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2]}.items():
        ok, buf = cv2.imencode(".jpg", odd, params)
        cases[name] = buf.tobytes()
    for name, payload in cases.items():
        assert jpeg_problem(payload) is None, name
        decode_image(payload)
    # the standard Huffman tables are assumed when a file leaves them out (Motion-JPEG frames)
    base = cases["baseline"]
    at, stripped = 2, base[:2]
    while base[at + 1] != 0xDA:
        length = int.from_bytes(base[at + 2 : at + 4], "big")
        if base[at + 1] != 0xC4:
            stripped += base[at : at + 2 + length]
        at += 2 + length
    stripped += base[at:]
    assert stripped != base and jpeg_problem(stripped) is None


def encode_cmyk(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).convert("CMYK").save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow, on the damaged TIFF at the end
def test_float_rgba_tiff_is_unsupported_with_its_layout_named(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(0).random((12, 16, 4)).astype(np.float32)
    path = tmp_path / "float-rgba.tif"
    tifffile.imwrite(path, values, photometric="rgb", extrasamples=["unassalpha"])
    with pytest.raises(UnsupportedImageError, match="float32, 4 samples per pixel") as info:
        decode_image(path)
    assert "truncated" not in str(info.value) and "corrupt" not in str(info.value)
    with pytest.raises(UnsupportedImageError, match="float32"):
        read_image_size(path)
    scan = scan_sources([str(path)])
    assert scan.skipped[0].error == "UnsupportedImageError" and "float32" in scan.skipped[0].reason
    # a compression Pillow does not know is named as such
    tiff = bytearray(encode(np.zeros((8, 8, 3), np.uint8), "TIFF"))
    ifd = struct.unpack("<I", tiff[4:8])[0]
    for i in range(struct.unpack("<H", tiff[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", tiff[entry : entry + 2])[0] == 259:  # Compression
            tiff[entry + 8 : entry + 10] = struct.pack("<H", 34887)  # LERC
    with pytest.raises(UnsupportedImageError, match="unsupported TIFF compression 34887"):
        decode_image(bytes(tiff))
    # a damaged TIFF header is still "corrupt"
    cut = write(tmp_path / "cut.tif", b"II*\x00\xff\xff\xff\x7f")
    with pytest.raises(TruncatedImageError):
        decode_image(cut)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs symbolic links and FIFOs (POSIX)")
def test_unreadable_entries_are_found_and_listed_with_a_reason(tmp_path, small):
    root = tmp_path / "photos"
    write(root / "good.png", encode(small, "PNG"))
    write(root / "anim.gif", encode(small, "GIF"))
    write(root / "grey.pgm", encode(np.ascontiguousarray(small[..., 0]), "PPM"))
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    os.symlink(root / "loop-b.png", root / "loop-a.png")
    os.symlink(root / "loop-a.png", root / "loop-b.png")
    os.mkfifo(root / "pipe.png")
    found = find_images(root)
    names = [os.path.basename(p) for p in found]
    assert names == sorted(["good.png", "anim.gif", "grey.pgm", "dangling.jpg", "loop-a.png", "loop-b.png", "pipe.png"])
    assert find_images(str(root / "*")) == found
    assert find_images(root / "dangling.jpg") == [str(root / "dangling.jpg")]
    scan = scan_sources(found)  # the FIFO must not block
    assert sorted(os.path.basename(p) for p in scan.paths) == ["anim.gif", "good.png", "grey.pgm"]
    reasons = {os.path.basename(s.path): s.reason for s in scan.skipped}
    assert set(reasons) == {"dangling.jpg", "loop-a.png", "loop-b.png", "pipe.png"}
    assert "dangling symbolic link" in reasons["dangling.jpg"] and "nowhere.jpg" in reasons["dangling.jpg"]
    assert "symbolic link loop" in reasons["loop-a.png"] and "symbolic link loop" in reasons["loop-b.png"]
    assert "not a regular file (a FIFO)" in reasons["pipe.png"]
    assert all(s.error == "ImageError" for s in scan.skipped)


def test_size_check_refuses_a_thin_strip_enlarged_beyond_the_limit(tmp_path, small):
    import functools

    from pastegen.components import crop
    from pastegen.pipeline import TupleGenerator, TupleSpec

    strip = write(tmp_path / "strip.png", encode(np.full((2, 600, 3), 90, np.uint8), "PNG"))
    good = write(tmp_path / "good.png", encode(small, "PNG"))
    spec = TupleSpec(64, 64)
    check = functools.partial(crop.check_resized_pixels, spec.crop, spec.size, 100_000)
    paths = [str(strip), str(good)]
    # 2x600 covers 64x64 at scale 32: 64 x 19200 pixels, more than the limit (its own size is not)
    scan = scan_sources(paths, max_pixels=100_000, size_check=check)
    assert scan.paths == (str(good),)
    assert scan.skipped[0].error == "ImageTooLargeError" and "64x19200" in scan.skipped[0].reason
    assert scan_sources(paths, max_pixels=100_000, size_check=check, jobs=2) == scan
    with pytest.raises(ImageTooLargeError, match="resized"):
        scan_sources(paths, max_pixels=100_000, size_check=check, strict=True)
    assert len(scan_sources(paths, max_pixels=100_000).images) == 2  # no size_check: as before
    # the generator applies the same limit (before resizing anything)
    gen = TupleGenerator([np.full((2, 600, 3), 90, np.uint8)], spec, max_pixels=100_000)
    with pytest.raises(ImageTooLargeError, match="64x19200"):
        gen[0]
    # the window itself is always allowed, even with a limit below its size
    assert check("x", (64, 64)) == (64, 64)
    assert crop.check_resized_pixels(spec.crop, spec.size, 10, "x", (32, 32)) == (64, 64)
