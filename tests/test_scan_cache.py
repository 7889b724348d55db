"""Tests of the persistent scan cache (pastegen.sources.scancache) and scan_sources(cache=...).

A second scan of unchanged files decodes nothing and returns what a fresh scan returns; a changed
file is scanned again; other settings never reuse entries; a cache that cannot be used never fails
a scan; ``pastegen make`` writes the same file with and without the cache. Every file is generated
in ``tmp_path``, and every test points ``PASTEGEN_CACHE_DIR`` at a folder of its own.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import sqlite3
import time
import warnings
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (Blosc filters for reading the files directly)
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from skimage import data as skdata

import pastegen.sources.scan as scan_module
from pastegen.cli import main
from pastegen.components import crop
from pastegen.errors import ImageError, ImageTooLargeError, ImageTooSmallError, ScanCacheWarning, SpecError, TruncatedImageError
from pastegen.pipeline import TupleSpec
from pastegen.sources import SkippedFile, SourceImage, scan_sources, scancache
from pastegen.sources.scancache import CACHE_DIR_ENV, CACHE_FILE_NAME, default_cache_path, describe_callable, settings_key

HOUR_NS = 3600 * 10**9

# --- helpers ------------------------------------------------------------------------------------


def encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, fmt, **kwargs)
    return buf.getvalue()


def age(path: Path | str, hours: float = 1.0) -> None:
    """Set a file's modification time ``hours`` back, out of the cache's racy window."""
    t = time.time_ns() - int(hours * HOUR_NS)
    os.utime(path, ns=(t, t))


def write(path: Path, payload: bytes, hours: float = 1.0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload)
    age(path, hours)
    return str(path)


@pytest.fixture
def cache_file(tmp_path, monkeypatch) -> Path:
    """The default cache file of this test (``$PASTEGEN_CACHE_DIR`` in ``tmp_path``)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder / CACHE_FILE_NAME


@pytest.fixture
def folder(tmp_path) -> tuple[list[str], dict[str, bytes]]:
    """Good and bad files, written an hour ago: ``(paths, {name: payload})``."""
    small = np.ascontiguousarray(skdata.astronaut()[::8, ::8][:40])
    medium = np.ascontiguousarray(skdata.astronaut()[::4, ::4])
    jpeg = encode(medium, "JPEG", quality=90)
    files = {
        "01_good.png": encode(small, "PNG"),
        "02_empty.png": b"",
        "03_good.jpg": jpeg,
        "04_half.jpg": jpeg[: len(jpeg) // 2],
        "05_text.png": b"not an image\n",
        "06_good.jpg": encode(small[:, ::-1].copy(), "JPEG", quality=95),
    }
    paths = [write(tmp_path / "photos" / name, payload) for name, payload in files.items()]
    return paths, files


@pytest.fixture
def count_decodes(monkeypatch):
    """Count the decodes of scans in this process: ``calls[0]`` after each scan."""
    calls = [0]
    original = scan_module.decode_data

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(scan_module, "decode_data", counting)
    return calls


def rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT count(*) FROM {scancache._TABLE}").fetchone()[0]


def cache_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, ScanCacheWarning)]


# --- hits and misses ----------------------------------------------------------------------------


def test_second_scan_returns_the_same_without_decoding(folder, cache_file, count_decodes, monkeypatch):
    paths, _ = folder
    first = scan_sources(paths)
    assert count_decodes[0] == 6 - 1  # the empty file fails before decoding
    assert cache_file.is_file() and rows(cache_file) == 6
    assert first == scan_sources(paths, cache=False)
    assert [s.error for s in first.skipped] == ["EmptyFileError", "TruncatedImageError", "NotAnImageError"]

    count_decodes[0] = 0
    scanned = []
    monkeypatch.setattr(scan_module, "_scan_one", lambda *a, **k: scanned.append(a) or pytest.fail("scanned"))
    progress: list[int] = []
    second = scan_sources(paths, progress=progress.append)
    assert second == first and count_decodes[0] == 0 and not scanned
    assert sum(progress) == len(paths)
    assert scan_sources(paths, jobs=2) == first  # all from the cache: no worker is started
    reordered = scan_sources(paths[::-1])
    assert reordered.images == first.images[::-1] and reordered.skipped == first.skipped[::-1]


def test_misses_are_scanned_in_input_order_also_in_parallel(folder, cache_file, tmp_path):
    paths, files = folder
    scan_sources(paths[::2])  # half of them cached
    calls: list[int] = []
    mixed = scan_sources(paths, jobs=2, progress=calls.append)
    assert mixed == scan_sources(paths, cache=False) and sum(calls) == len(paths)
    assert rows(cache_file) == len(paths)


def test_cached_image_carries_the_path_as_given(folder, cache_file, tmp_path, monkeypatch, count_decodes):
    paths, _ = folder
    first = scan_sources(paths[:1])
    link = tmp_path / "link.png"
    link.symlink_to(paths[0])
    monkeypatch.chdir(Path(paths[0]).parent)
    count_decodes[0] = 0
    for given in (Path(paths[0]).name, str(link)):
        again = scan_sources([given])
        assert again.images == (SourceImage(given, first.images[0].sha256, first.images[0].height, first.images[0].width),)
    assert count_decodes[0] == 0  # same real path, same file: answered by the cache
    truncated = scan_sources([paths[3]]).skipped[0]
    given = Path(paths[3]).name
    assert scan_sources([given]).skipped == (SkippedFile(given, truncated.reason, truncated.error),)
    with pytest.raises(TruncatedImageError) as info:
        scan_sources([given], strict=True)
    assert info.value.path == given and count_decodes[0] == 1


def test_modified_file_is_scanned_again(tmp_path, cache_file, count_decodes):
    a = np.full((32, 48, 3), 40, np.uint8)
    b = a.copy()
    b[0, 0] = 41
    pa, pb = encode(a, "BMP"), encode(b, "BMP")
    assert len(pa) == len(pb) and pa != pb
    path = write(tmp_path / "x.bmp", pa, hours=2)
    first = scan_sources([path])
    Path(path).write_bytes(pb)  # same size, same inode
    age(path, hours=3)  # another modification time
    count_decodes[0] = 0
    second = scan_sources([path])
    assert count_decodes[0] == 1
    assert second.images[0].sha256 != first.images[0].sha256
    assert second == scan_sources([path], cache=False)


def test_file_replaced_by_a_corrupt_one_is_skipped(folder, cache_file):
    paths, files = folder
    good = paths[2]
    assert scan_sources([good]).images
    replacement = Path(good).with_suffix(".new")
    write(replacement, files["03_good.jpg"][:400])
    os.replace(replacement, good)
    scan = scan_sources([good])
    assert not scan.images and scan.skipped[0].error == "TruncatedImageError"
    with pytest.raises(TruncatedImageError):
        scan_sources([good], strict=True)


def test_cached_bad_file_stays_skipped_and_strict_raises_the_same_error(folder, cache_file, count_decodes):
    paths, _ = folder
    subset = [paths[0], paths[3], paths[4]]  # good, truncated, not an image
    first = scan_sources(subset)
    with pytest.raises(TruncatedImageError) as fresh:
        scan_sources(subset, strict=True, cache=False)
    count_decodes[0] = 0
    assert scan_sources(subset) == first
    with pytest.raises(TruncatedImageError) as cached:
        scan_sources(subset, strict=True)
    assert count_decodes[0] == 0
    assert isinstance(cached.value, ImageError) and type(cached.value) is type(fresh.value)
    assert (cached.value.path, cached.value.reason, str(cached.value)) == (fresh.value.path, fresh.value.reason, str(fresh.value))


def test_strict_raises_the_first_bad_file_in_input_order_across_hits_and_misses(folder, cache_file):
    paths, _ = folder
    scan_sources([paths[3]])  # the truncated JPEG is cached as bad; the empty file is not cached
    with pytest.raises(ImageError) as info:
        scan_sources(paths, strict=True)
    assert info.value.path == paths[1] and type(info.value).__name__ == "EmptyFileError"


def test_other_settings_do_not_reuse_entries(folder, cache_file, count_decodes):
    paths, _ = folder
    good = [paths[0], paths[2], paths[5]]  # 40x64, 128x128, 40x64
    base = scan_sources(good)
    assert len(base.images) == 3
    count_decodes[0] = 0
    limited = scan_sources(good, max_pixels=5000)
    assert count_decodes[0] == 3  # (the 128x128 one is refused from its header)
    assert [s.error for s in limited.skipped] == ["ImageTooLargeError"]
    sized = scan_sources(good, min_size=(100, 100))
    assert count_decodes[0] == 6
    assert [s.error for s in sized.skipped] == ["ImageTooSmallError", "ImageTooSmallError"]
    # each setting is cached on its own
    assert scan_sources(good, max_pixels=5000) == limited
    assert scan_sources(good, min_size=(100, 100)) == sized
    assert scan_sources(good) == base
    assert count_decodes[0] == 6
    assert rows(cache_file) == 9
    with pytest.raises(ImageTooSmallError):
        scan_sources(good, min_size=(100, 100), strict=True)


def test_a_partial_size_check_is_cached_and_a_lambda_is_not(tmp_path, cache_file, count_decodes):
    strip = write(tmp_path / "strip.png", encode(np.full((2, 600, 3), 90, np.uint8), "PNG"))
    spec = TupleSpec(64, 64)
    check = functools.partial(crop.check_resized_pixels, spec.crop, spec.size, 100_000)
    first = scan_sources([strip], max_pixels=100_000, size_check=check)
    assert first.skipped[0].error == "ImageTooLargeError"
    other = functools.partial(crop.check_resized_pixels, spec.crop, (8, 8), 100_000)  # a smaller window: 8x2400 pixels
    assert scan_sources([strip], max_pixels=100_000, size_check=other).images
    assert count_decodes[0] == 2
    assert scan_sources([strip], max_pixels=100_000, size_check=check) == first
    assert count_decodes[0] == 2
    with pytest.raises(ImageTooLargeError, match="resized"):
        scan_sources([strip], max_pixels=100_000, size_check=check, strict=True)

    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: the cache is just not used
        for _ in range(2):
            scan_sources([strip], max_pixels=100_000, size_check=lambda name, size: seen.append(size))
    assert seen == [(2, 600), (2, 600)] and count_decodes[0] == 4


def test_describe_callable():
    spec = TupleSpec(64, 64)
    a = describe_callable(functools.partial(crop.check_resized_pixels, spec.crop, spec.size, 100))
    assert a == describe_callable(functools.partial(crop.check_resized_pixels, spec.crop, spec.size, 100))
    assert a != describe_callable(functools.partial(crop.check_resized_pixels, spec.crop, spec.size, 101))
    assert "pastegen.components.crop:check_resized_pixels" in a and "CropSpec" in a
    assert describe_callable(None) == "null"
    assert describe_callable(crop.check_resized_pixels) is not None

    def local(name, size):
        return None

    class Check:
        def method(self, name, size):
            return None

    for undescribable in (lambda n, s: None, local, Check().method, functools.partial(crop.check_resized_pixels, object())):
        assert describe_callable(undescribable) is None
    assert settings_key(max_pixels=10, min_size=None, size_check=local) is None
    keys = {settings_key(max_pixels=m, min_size=s, size_check=None) for m in (10, 11) for s in (None, (1, 2), (2, 1))}
    assert len(keys) == 6 and all(k and len(k) == 64 for k in keys)


# --- what is not stored -------------------------------------------------------------------------


def test_recently_modified_and_unreadable_outcomes_are_not_stored(tmp_path, cache_file, count_decodes, monkeypatch):
    fresh = tmp_path / "fresh.png"
    fresh.write_bytes(encode(np.zeros((8, 8, 3), np.uint8), "PNG"))  # modified just now
    scan_sources([str(fresh)])
    scan_sources([str(fresh)])
    assert count_decodes[0] == 2

    path = write(tmp_path / "flaky.png", encode(np.zeros((8, 8, 3), np.uint8), "PNG"))
    original = scan_module._scan_one
    monkeypatch.setattr(scan_module, "_scan_one", lambda p, *a: ImageError(p, "cannot read the file (Input/output error)"))
    assert scan_sources([path]).skipped[0].error == "ImageError"
    monkeypatch.setattr(scan_module, "_scan_one", original)
    assert scan_sources([path]).images  # the read error was not remembered


def test_a_file_changed_while_it_is_read_is_not_stored(tmp_path, cache_file, count_decodes, monkeypatch):
    path = write(tmp_path / "a.png", encode(np.zeros((8, 8, 3), np.uint8), "PNG"))
    original = scan_module.decode_data

    def touching(*args, **kwargs):
        age(path, hours=5)  # someone writes the file while it is scanned
        return original(*args, **kwargs)

    monkeypatch.setattr(scan_module, "decode_data", touching)
    scan_sources([path])
    monkeypatch.setattr(scan_module, "decode_data", original)
    assert rows(cache_file) == 0


def test_old_entries_are_not_used_and_rows_are_capped(folder, cache_file, count_decodes, monkeypatch):
    paths, _ = folder
    scan_sources(paths)
    with sqlite3.connect(cache_file) as db:
        db.execute(f"UPDATE {scancache._TABLE} SET stored = stored - ?", ((scancache.MAX_AGE_DAYS + 1) * 86_400,))
    count_decodes[0] = 0
    scan_sources(paths[:2])
    assert count_decodes[0] == 1  # too old: scanned again (the empty file needs no decoding)
    assert rows(cache_file) == 2  # and the old entries were pruned by that write
    monkeypatch.setattr(scancache, "MAX_ROWS", 3)
    scan_sources(paths)
    assert rows(cache_file) == 3


# --- options and locations ----------------------------------------------------------------------


def test_cache_false_never_creates_the_file(folder, cache_file):
    paths, _ = folder
    scan_sources(paths, cache=False)
    scan_sources(paths, jobs=2, cache=False)
    assert not cache_file.parent.exists()


def test_a_path_selects_another_cache_file(folder, cache_file, tmp_path, count_decodes):
    paths, _ = folder
    other = tmp_path / "elsewhere" / "mine.db"
    first = scan_sources(paths, cache=other)
    assert other.is_file() and not cache_file.exists()
    count_decodes[0] = 0
    assert scan_sources(paths, cache=str(other)) == first and count_decodes[0] == 0
    for bad in (None, 1, b"x.db", ""):
        with pytest.raises(SpecError, match="cache"):
            scan_sources(paths, cache=bad)


def test_default_location(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_path() == tmp_path / "a" / "scan-cache.sqlite3"
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert default_cache_path() == tmp_path / "x" / "pastegen" / "scan-cache.sqlite3"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG specification says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_path() == tmp_path / "home" / ".cache" / "pastegen" / "scan-cache.sqlite3"


# --- a cache that cannot be used ----------------------------------------------------------------


def test_garbage_cache_file_falls_back_with_one_warning(folder, cache_file):
    paths, _ = folder
    expected = scan_sources(paths, cache=False)
    cache_file.parent.mkdir()
    cache_file.write_bytes(b"this is not a database, " * 200)
    with pytest.warns(ScanCacheWarning) as record:
        assert scan_sources(paths) == expected
    assert len(cache_warnings(record)) == 1 and str(cache_file) in cache_warnings(record)[0]
    with pytest.warns(ScanCacheWarning):
        assert scan_sources(paths, jobs=2) == expected
    with pytest.warns(ScanCacheWarning), pytest.raises(ImageError):
        scan_sources(paths, strict=True)


def test_uncreatable_cache_falls_back_with_one_warning(folder, tmp_path, monkeypatch):
    paths, _ = folder
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker / "cache"))
    with pytest.warns(ScanCacheWarning) as record:
        assert scan_sources(paths) == scan_sources(paths, cache=False)
    assert len(cache_warnings(record)) == 1


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_cache_answers_lookups_and_warns_once_when_it_cannot_store(folder, cache_file, count_decodes):
    paths, _ = folder
    expected = scan_sources(paths[:3])
    for p in (cache_file, cache_file.parent):
        p.chmod(0o555 if p.is_dir() else 0o444)
    try:
        count_decodes[0] = 0
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert scan_sources(paths[:3]) == expected  # all hits: nothing to write, no warning
        assert count_decodes[0] == 0
        with pytest.warns(ScanCacheWarning) as record:
            assert scan_sources(paths) == scan_sources(paths, cache=False)
        assert len(cache_warnings(record)) == 1
    finally:
        cache_file.parent.chmod(0o755)
        cache_file.chmod(0o644)


def test_cache_opened_read_only_answers_lookups_and_warns_once_when_it_cannot_store(folder, cache_file, count_decodes, monkeypatch):
    """The same as the test above, for root too: every connection opens the file read-only."""
    paths, _ = folder
    expected = scan_sources(paths[:3])
    connect = sqlite3.connect
    monkeypatch.setattr(scancache.sqlite3, "connect", lambda path, **kw: connect(f"file:{path}?mode=ro", uri=True, **kw))
    count_decodes[0] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scan_sources(paths[:3]) == expected
    assert count_decodes[0] == 0
    with pytest.warns(ScanCacheWarning) as record:
        assert scan_sources(paths) == scan_sources(paths, cache=False)
    assert len(cache_warnings(record)) == 1 and "readonly" in cache_warnings(record)[0]


def test_locked_cache_falls_back_with_one_warning(folder, cache_file, monkeypatch):
    paths, _ = folder
    scan_sources(paths[:1])  # creates the file
    monkeypatch.setattr(scancache, "BUSY_TIMEOUT_S", 0.2)
    holder = sqlite3.connect(cache_file, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, for longer than the timeout
        with pytest.warns(ScanCacheWarning) as record:
            assert scan_sources(paths) == scan_sources(paths, cache=False)
        assert len(cache_warnings(record)) == 1 and "locked" in cache_warnings(record)[0]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scan_sources(paths)
    assert rows(cache_file) == len(paths)


# --- several processes ---------------------------------------------------------------------------


def _scan_in_child(args: tuple[list[str], str, int]) -> tuple[list[dict], list[str]]:
    paths, cache_dir, rounds = args
    os.environ[CACHE_DIR_ENV] = cache_dir
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = [scan_sources(paths).to_dict() for _ in range(rounds)]
    return results, [str(w.message) for w in caught]


def test_processes_scanning_at_once_all_succeed(tmp_path, cache_file):
    rng = np.random.default_rng(0)
    paths = []
    for k in range(24):
        image = rng.integers(0, 256, size=(24 + k, 32, 3), dtype=np.uint8)
        payload = encode(image, "JPEG" if k % 2 else "PNG")
        paths.append(write(tmp_path / "many" / f"{k:02d}.{'jpg' if k % 2 else 'png'}", payload if k % 5 else payload[:60]))
    expected = scan_sources(paths, cache=False).to_dict()
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        outcomes = pool.map(_scan_in_child, [(paths, str(cache_file.parent), 4)] * 3)
    for results, caught in outcomes:
        assert caught == []
        assert all(result == expected for result in results)
    assert rows(cache_file) == len(paths)


# --- pastegen make --------------------------------------------------------------------------------


def read_all(path: Path) -> dict[str, object]:
    """Every dataset and root attribute of an HDF5 file but the creation time."""
    out: dict[str, object] = {}
    with h5py.File(path, "r") as f:
        out.update({f"@{k}": v for k, v in f.attrs.items() if k != "created"})
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_make_with_the_scan_cache_writes_the_same_file(tmp_path, cache_file, count_decodes):
    photos = tmp_path / "photos"
    for name in ("astronaut", "chelsea", "coffee"):
        image = getattr(skdata, name)()[::6, ::6]
        write(photos / f"{name}.jpg", encode(np.ascontiguousarray(image), "JPEG", quality=90))
    write(photos / "broken.jpg", encode(skdata.rocket()[::4, ::4].copy(), "JPEG")[:700])
    args = ["make", "--images", str(photos), "--size", "48", "--sigma", "3", "--count", "6", "-q"]
    runner = CliRunner()
    outs = [tmp_path / f"out{k}.h5" for k in range(3)]

    r = runner.invoke(main, [*args, str(outs[0])], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert cache_file.is_file() and rows(cache_file) == 4
    count_decodes[0] = 0
    r = runner.invoke(main, [*args, str(outs[1])], catch_exceptions=False)
    assert r.exit_code == 0 and count_decodes[0] == 0, r.output  # the scan came from the cache
    r = runner.invoke(main, [*args, "--no-scan-cache", str(outs[2])], catch_exceptions=False)
    assert r.exit_code == 0 and count_decodes[0] == 4, r.output

    files = [read_all(out) for out in outs]
    assert files[0].keys() == files[1].keys() == files[2].keys()
    assert "broken.jpg" in str(files[0]["@skipped"])
    for other in files[1:]:
        for key, value in files[0].items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(other[key]), err_msg=key)
    assert "--no-scan-cache" in runner.invoke(main, ["make", "--help"]).output
