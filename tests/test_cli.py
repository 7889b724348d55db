"""End to end: ``pastegen make / preview / info / verify`` and the library's ``make``.

Covers the issue's "done when": identical arrays for repeated runs and for --jobs 1 vs 2, a
killed run leaves no output and --resume gives the uninterrupted arrays, a folder of good and
bad files completes and reports what it skipped, --strict fails with one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import h5py
import hdf5plugin  # noqa: F401  (Blosc filters for reading the files directly)
import numpy as np
import pytest
from click.testing import CliRunner

from pastegen.cli import main
from pastegen.pipeline import TupleSpec, preset
from pastegen.precompute import make, replay_check
from pastegen.store import open_tuples

ARRAYS = ("I", "I_T", "I_S", "M")


def write_rgb(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    """A folder of small real photos (from scikit-image's bundled data)."""
    import skimage.data

    folder = tmp_path_factory.mktemp("photos")
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        img = getattr(skimage.data, name)()
        write_rgb(folder / f"{name}.png", cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA))
    return folder


@pytest.fixture(scope="module")
def messy_dir(tmp_path_factory, photo_dir) -> Path:
    """Good photos mixed with a truncated JPEG, a zero-byte file, a text file named .png,
    a 16-bit PNG and an RGBA PNG."""
    import skimage.data

    folder = tmp_path_factory.mktemp("messy")
    img = cv2.resize(skimage.data.astronaut(), (96, 96), interpolation=cv2.INTER_AREA)
    write_rgb(folder / "good1.png", img)
    write_rgb(folder / "good2.jpg", img[:, ::-1].copy())
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (folder / "truncated.jpg").write_bytes(jpg.tobytes()[: len(jpg) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("this is not an image\n")
    cv2.imwrite(str(folder / "deep16.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)
    rgba = np.dstack([img, np.full(img.shape[:2], 200, np.uint8)])
    cv2.imwrite(str(folder / "alpha.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return folder


def read_all(path: Path) -> dict[str, np.ndarray]:
    """Every dataset and every root attribute but the creation time, by name."""
    out = {}
    with h5py.File(path, "r") as f:
        out.update({f"@{k}": v for k, v in f.attrs.items() if k != "created"})

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]

        f.visititems(visit)
    return out


def assert_same_arrays(a: Path, b: Path) -> None:
    da, db = read_all(a), read_all(b)
    assert set(da) == set(db)
    for k in da:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)


def run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


SMALL_ARGS = ("--size", "48", "--sigma", "3")


def assert_one_line_error(r, contains: str = "") -> None:
    """Exit status 1 and exactly one ``Error: ...`` line, the last one (a progress label may precede it)."""
    lines = r.output.splitlines()
    errors = [line for line in lines if "Error" in line or "Traceback" in line]
    assert r.exit_code == 1 and len(errors) == 1 and lines[-1].startswith("Error: "), r.output
    assert contains in lines[-1], r.output


def test_make_twice_and_jobs_1_vs_2_give_identical_arrays(tmp_path, photo_dir):
    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    a = make(tmp_path / "a.h5", paths, spec, count=20, seed=4)
    b = make(tmp_path / "b.h5", paths, spec, count=20, seed=4)
    c = make(tmp_path / "c.h5", paths, spec, count=20, seed=4, jobs=2)
    assert a.count == b.count == c.count == 20
    assert_same_arrays(a.path, b.path)
    assert_same_arrays(a.path, c.path)
    assert not replay_check(a.path)
    with open_tuples(a.path) as tf:
        assert len(tf) == 20 and TupleSpec.from_json(tf.attrs["spec"]) == spec
        assert tf.attrs["seed"] == 4 and len(tf.attrs["sources"]) == 4


def test_make_tone_option_reaches_the_spec_and_replays(tmp_path, photo_dir):
    out = tmp_path / "tone.h5"
    r = run("make", "--images", str(photo_dir), *SMALL_ARGS, "--tone", "0.5", "--count", "12", "-q", str(out))
    assert r.exit_code == 0, r.output
    with open_tuples(out) as tf:
        assert TupleSpec.from_json(tf.attrs["spec"]).tone.probability == 0.5
        assert 0 < sum(bool(tf.params(i)["tone/active"]) for i in range(12)) < 12
    assert not replay_check(out)
    bad = run("make", "--images", str(photo_dir), *SMALL_ARGS, "--tone", "2", "--count", "2", str(tmp_path / "bad.h5"))
    assert bad.exit_code == 2 and "--tone" in bad.output


def test_make_jobs_1_renders_beside_the_writer(tmp_path, photo_dir, monkeypatch):
    # one rendering thread while the calling thread writes (the disk's costs hide behind the
    # rendering); a run of one batch or less stays in the calling thread; the file is the same
    import pastegen.precompute as precompute

    used = []
    real = precompute._generate_threads

    def spy(gen, pending, jobs, *args, **kwargs):
        used.append(jobs)
        return real(gen, pending, jobs, *args, **kwargs)

    monkeypatch.setattr(precompute, "_generate_threads", spy)
    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    a = make(tmp_path / "a.h5", paths, spec, count=precompute.BATCH_SIZE + 5, seed=4, jobs=1)
    assert used == [1]
    b = make(tmp_path / "b.h5", paths, spec, count=precompute.BATCH_SIZE, seed=4, jobs=1)
    assert used == [1]  # serial
    monkeypatch.undo()
    c = make(tmp_path / "c.h5", paths, spec, count=precompute.BATCH_SIZE + 5, seed=4, jobs=2)
    assert_same_arrays(a.path, c.path)
    with open_tuples(a.path) as ta, open_tuples(b.path) as tb:
        for i in range(len(tb)):
            np.testing.assert_array_equal(ta[i]["I_S"], tb[i]["I_S"])


def test_make_thread_pool_stores_the_same_chunks_reports_progress_and_fails_cleanly(tmp_path, photo_dir):
    import shutil
    import threading

    from pastegen.errors import PastegenError
    from pastegen.precompute import scan_for_make

    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    a = make(tmp_path / "a.h5", paths, spec, count=23, seed=5, jobs=1)
    steps = []
    c = make(tmp_path / "c.h5", paths, spec, count=23, seed=5, jobs=3, progress=lambda stage, n, total: steps.append((stage, n, total)))
    assert sum(n for stage, n, _ in steps if stage == "generate") == 23
    with h5py.File(a.path, "r") as fa, h5py.File(c.path, "r") as fc:
        for name in ("I", "I_S", "M"):  # (I_T is not stored)
            for i in range(23):
                offset = (i,) + (0,) * (fa[name].ndim - 1)
                assert fa[name].id.read_direct_chunk(offset) == fc[name].id.read_direct_chunk(offset), (name, i)
    # a photo that disappears after the scan: the worker thread's error reaches the caller, no thread is left behind
    copies = tmp_path / "copies"
    copies.mkdir()
    mine = [shutil.copy(p, copies) for p in paths]
    scan = scan_for_make(mine, spec, max_pixels=10**8, jobs=1, strict=False, progress=None)
    for p in mine:
        os.remove(p)
    before = threading.active_count()
    with pytest.raises(PastegenError):
        make(tmp_path / "d.h5", scan, spec, count=40, seed=5, jobs=2)
    assert threading.active_count() == before
    assert not (tmp_path / "d.h5").exists()


def test_make_chunks_follow_the_uncompressed_rule_and_equal_encode_tuple(tmp_path, photo_dir, monkeypatch):
    """make's internal encoder (reused buffers) stores exactly what encode_tuple gives for the same
    arrays; under blosc-lz4 I is unfiltered (mask 1), the rest compressed as HDF5 would; the
    garbage collector's state is restored after a run, also after a failed one."""
    import gc

    from pastegen.store import encode_tuple, stored_arrays, uncompressed_datasets, verify

    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    enc_names = stored_arrays()
    assert enc_names == ("I", "I_S", "M")
    for compression in ("blosc-lz4", "blosc-zstd", "none"):
        for jobs in (1, 2):
            r = make(tmp_path / f"{compression}-{jobs}.h5", paths, spec, count=11, seed=3, jobs=jobs, compression=compression)
            assert verify(r.path).ok
            with h5py.File(r.path, "r", locking=False) as f, open_tuples(r.path) as tf:
                assert f.attrs["uncompressed"] == ",".join(uncompressed_datasets(compression))
                assert "I_T" not in f
                for i in range(11):
                    enc = encode_tuple({k: tf[i][k] for k in ("I", "I_T", "I_S", "M")}, (48, 48), compression)
                    assert set(enc.chunks) == set(enc_names)
                    for name in enc_names:
                        mask, data = f[name].id.read_direct_chunk((i,) + (0,) * (f[name].ndim - 1))
                        assert (mask, bytes(data)) == enc.chunks[name], (compression, jobs, name, i)
                        if name in uncompressed_datasets(compression):
                            assert mask == 1
    assert uncompressed_datasets("blosc-lz4") == ("I",)
    assert gc.isenabled()
    gc.disable()
    try:
        make(tmp_path / "off.h5", paths, spec, count=3, seed=3)
        assert not gc.isenabled()  # a disabled collector stays disabled
    finally:
        gc.enable()

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr("pastegen.store.encode.encode_into", boom)
    with pytest.raises(RuntimeError, match="boom"):
        make(tmp_path / "err.h5", paths, spec, count=12, seed=3, jobs=2)
    assert gc.isenabled() and gc.get_freeze_count() == 0 and sys.getswitchinterval() == pytest.approx(0.005)


def test_make_writes_format_2_whose_I_T_equals_the_rendered_one(tmp_path, photo_dir):
    """make stores no I_T (attribute derived = "I_T"); the I_T read back is exactly the one the
    generator's kernels render for the same tuple (what a format-1 file stored), dtype included."""
    from pastegen.pipeline import TupleGenerator

    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    r = make(tmp_path / "v2.h5", paths, spec, count=12, seed=7, jobs=2)
    with h5py.File(r.path, "r") as f:
        assert "I_T" not in f and {"I", "I_S", "M"} <= set(f)
        assert f.attrs["derived"] == "I_T" and f.attrs["format_version"] == 2
    gen = TupleGenerator(list(r.sources), spec, 7)
    with open_tuples(r.path) as tf:
        for i in range(12):
            want = gen[i]  # rendered again, I_T included
            got = tf[i]
            for name in ARRAYS:
                assert got[name].dtype == getattr(want, name).dtype == np.uint8 and got[name].shape == getattr(want, name).shape
                np.testing.assert_array_equal(got[name], getattr(want, name), err_msg=f"{name} {i}")
            np.testing.assert_array_equal(tf.read_array("I_T", i), want.I_T)
    assert not replay_check(r.path)


def test_make_process_pool_gives_the_same_arrays(tmp_path, photo_dir, monkeypatch):
    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in photo_dir.iterdir())
    a = make(tmp_path / "a.h5", paths, spec, count=19, seed=6, jobs=2)
    monkeypatch.setenv("PASTEGEN_MAKE_POOL", "processes")
    b = make(tmp_path / "b.h5", paths, spec, count=19, seed=6, jobs=2)
    assert_same_arrays(a.path, b.path)


def test_cli_make_info_verify_preview(tmp_path, photo_dir):
    out = tmp_path / "out.h5"
    r = run("make", "--images", str(photo_dir), *SMALL_ARGS, "--count", "10", "-q", str(out))
    assert r.exit_code == 0, r.output
    assert out.exists() and not Path(str(out) + ".partial").exists()
    r = run("make", "--images", str(photo_dir), *SMALL_ARGS, "--count", "10", str(out))
    assert_one_line_error(r, "--overwrite")
    r = run("info", str(out))
    assert r.exit_code == 0 and "10 tuples of 48x48" in r.output, r.output
    assert "format version 2 (I_T rebuilt from I and M, not stored)" in r.output, r.output
    r = run("info", "--json", str(out))
    assert r.exit_code == 0 and '"count": 10' in r.output and '"derived": "I_T"' in r.output
    r = run("verify", "--replay", "10", str(out))
    assert r.exit_code == 0 and "OK" in r.output, r.output
    png = tmp_path / "p.png"
    r = run("preview", "--from", str(out), "--count", "3", "--tile", "48", str(png))
    assert r.exit_code == 0, r.output
    grid = cv2.imread(str(png))
    assert grid.shape[1] == 5 * 48 + 4 * 4 and grid.shape[0] > 6 * 48
    r = run("preview", "--images", str(photo_dir), *SMALL_ARGS, "--count", "2", str(tmp_path / "q.png"))
    assert r.exit_code == 0 and (tmp_path / "q.png").exists(), r.output


def test_messy_folder_skips_and_reports_bad_files(tmp_path, messy_dir):
    out = tmp_path / "messy.h5"
    r = run("make", "--images", str(messy_dir), *SMALL_ARGS, "--count", "8", str(out))
    assert r.exit_code == 0, r.output
    with open_tuples(out) as tf:
        used = {Path(s["path"]).name for s in tf.attrs["sources"]}
        skipped = {Path(s["path"]).name: s["reason"] for s in tf.attrs["skipped"]}
    assert used == {"good1.png", "good2.jpg", "deep16.png", "alpha.png"}
    assert set(skipped) == {"truncated.jpg", "empty.png", "notes.png"}
    for name in skipped:
        assert f"skipped {messy_dir / name}" in r.output
    assert "4 used, 3 skipped" in r.output
    r = run("make", "--images", str(messy_dir), *SMALL_ARGS, "--count", "8", "--strict", str(tmp_path / "strict.h5"))
    assert_one_line_error(r, "empty.png")
    assert not (tmp_path / "strict.h5").exists()


def test_one_line_errors_for_bad_requests(tmp_path, photo_dir):
    r = run("make", "--dataset", "cityscapes", "--data-root", str(tmp_path), str(tmp_path / "x.h5"))
    assert_one_line_error(r, str(tmp_path / "cityscapes"))
    r = run("make", str(tmp_path / "x.h5"))
    assert r.exit_code == 2 and "--dataset" in r.output
    r = run("make", "--images", str(tmp_path / "nowhere"), str(tmp_path / "x.h5"))
    assert_one_line_error(r, "nowhere")
    r = run("verify", str(tmp_path / "missing.h5"))
    assert_one_line_error(r, "missing.h5")
    (tmp_path / "fake.h5").write_text("not hdf5")
    r = run("info", str(tmp_path / "fake.h5"))
    assert_one_line_error(r, "fake.h5")
    r = run("make", "--images", str(photo_dir), "--size", "12x", str(tmp_path / "x.h5"))
    assert r.exit_code == 2


def test_help_has_examples():
    for cmd in ("make", "preview", "info", "verify"):
        r = run(cmd, "--help")
        assert r.exit_code == 0 and "Examples:" in r.output, cmd
    assert "Examples:" in run("--help").output
    assert run("--version").output.startswith("pastegen, version")


def test_killed_run_leaves_no_output_and_resume_matches(tmp_path, photo_dir):
    out = tmp_path / "killed.h5"
    ref = tmp_path / "ref.h5"
    args = ["make", "--images", str(photo_dir), "--size", "96", "--count", "400", "--seed", "2", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "pastegen.cli", *args, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = Path(str(out) + ".partial")
    deadline = time.time() + 60
    while time.time() < deadline and not (partial.exists() and partial.stat().st_size > 2_000_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists(), proc.stderr.read().decode()
    assert not out.exists()
    r = run(*args[:-1], "--resume", str(out))
    assert r.exit_code == 0, r.output
    r = run(*args[:-1], str(ref))
    assert r.exit_code == 0, r.output
    assert_same_arrays(out, ref)


@pytest.mark.data
def test_faces_dataset_from_the_shared_data_root(tmp_path, shared_data):
    out = tmp_path / "faces.h5"
    r = run("make", "--dataset", "faces", "--data-root", str(shared_data), "--sigma", "15", "--count", "4", "-q", str(out))
    assert r.exit_code == 0, r.output
    with open_tuples(out) as tf:
        assert len(tf) == 4 and tf.height == tf.width == 512
        assert all("/faces/train/" in s["path"] for s in tf.attrs["sources"])
        assert len(tf.attrs["sources"]) == 600
    r = run("make", "--dataset", "faces", "--data-root", str(shared_data), "--split", "test", "--count", "1", "-q", str(tmp_path / "t.h5"))
    assert r.exit_code == 0


def test_preview_from_sources_equals_preview_from_the_file_make_writes(tmp_path, messy_dir):
    common = ("--images", str(messy_dir), *SMALL_ARGS, "--seed", "9")
    r = run("make", *common, "--count", "3", "-q", str(tmp_path / "m.h5"))
    assert r.exit_code == 0, r.output
    r = run("preview", *common, "--count", "3", "--tile", "48", "-q", str(tmp_path / "a.png"))
    assert r.exit_code == 0, r.output  # bad files are skipped, as make skips them
    r = run("preview", "--from", str(tmp_path / "m.h5"), "--count", "3", "--tile", "48", str(tmp_path / "b.png"))
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "a.png")), cv2.imread(str(tmp_path / "b.png")))


def test_small_images_are_upscaled_or_skipped_by_policy(tmp_path, photo_dir):
    folder = tmp_path / "small"
    folder.mkdir()
    big = cv2.imread(str(photo_dir / "astronaut.png"))
    cv2.imwrite(str(folder / "big.png"), big)
    cv2.imwrite(str(folder / "tiny.png"), cv2.resize(big, (20, 16)))
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--count", "4", str(tmp_path / "up.h5"))
    assert r.exit_code == 0 and "2 used, 0 skipped" in r.output, r.output
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--small", "skip", "--count", "4", str(tmp_path / "skip.h5"))
    assert r.exit_code == 0 and "1 used, 1 skipped" in r.output and "tiny.png" in r.output, r.output
    with open_tuples(tmp_path / "skip.h5") as tf:
        assert [s["error"] for s in tf.attrs["skipped"]] == ["ImageTooSmallError"]


# --- hostile inputs and hostile environments ------------------------------------------------------


def test_thin_strip_is_skipped_not_enlarged_beyond_the_pixel_limit(tmp_path, photo_dir):
    folder = tmp_path / "strips"
    folder.mkdir()
    for p in photo_dir.iterdir():
        (folder / p.name).write_bytes(p.read_bytes())
    strip = write_rgb(folder / "strip.png", np.full((2, 2000, 3), 70, np.uint8))  # 4000 pixels
    # covering a 48x48 crop it would become 48 x 48000 pixels, above --max-pixels
    args = ("make", "--images", str(folder), *SMALL_ARGS, "--count", "4", "--max-pixels", "200000")
    r = run(*args, str(tmp_path / "a.h5"))
    assert r.exit_code == 0, r.output
    assert "4 used, 1 skipped" in r.output and f"skipped {strip}: 2x2000 (HxW) would be resized to 48x48000" in r.output, r.output
    with open_tuples(tmp_path / "a.h5") as tf:
        assert [s["error"] for s in tf.attrs["skipped"]] == ["ImageTooLargeError"]
    r = run(*args, "--strict", str(tmp_path / "b.h5"))
    assert_one_line_error(r, "strip.png")
    assert not list(tmp_path.glob("b.h5*"))


def test_corrupt_jpeg_is_skipped_and_fails_strict(tmp_path, photo_dir):
    folder = tmp_path / "jpegs"
    folder.mkdir()
    img = cv2.imread(str(photo_dir / "chelsea.png"))
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    data = jpg.tobytes()
    write_rgb(folder / "good.png", img[:, :, ::-1])
    at = data.index(b"\xff\xda")
    mid = (at + len(data)) // 2
    (folder / "garbage.jpg").write_bytes(data[:mid] + bytes(range(1, 120)) + data[mid + 119 :])
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--count", "4", str(tmp_path / "a.h5"))
    assert r.exit_code == 0 and "1 used, 1 skipped" in r.output, r.output
    assert f"skipped {folder / 'garbage.jpg'}: corrupt JPEG data" in r.output, r.output
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--count", "4", "--strict", str(tmp_path / "b.h5"))
    assert_one_line_error(r, "garbage.jpg: corrupt JPEG data")


@pytest.mark.parametrize(
    "error, gone",
    [
        (OSError(28, "No space left on device"), True),
        # h5py's own wording, without an errno attribute, over several lines
        (OSError("Can't write data (file write failed: time = now\n, errno = 28, error message = 'No space left on device')"), True),
        (OSError(5, "Input/output error"), False),
    ],
)
def test_write_failure_is_one_error_line_and_the_rerun_works(tmp_path, photo_dir, monkeypatch, error, gone):
    from pastegen.store.writer import TupleWriter

    out = tmp_path / "full.h5"
    args = ("make", "--images", str(photo_dir), *SMALL_ARGS, "--count", "24")
    original = TupleWriter.write
    calls = []

    def failing(self, *a, **k):
        calls.append(1)
        if len(calls) > 10:
            raise error
        return original(self, *a, **k)

    monkeypatch.setattr(TupleWriter, "write", failing)
    r = run(*args, str(out))
    assert_one_line_error(r, "No space left on device" if gone else "Input/output error")
    assert not out.exists()
    partial = Path(str(out) + ".partial")
    if gone:
        assert "free some space" in r.output
        assert not list(tmp_path.glob("full.h5*"))  # nothing left that blocks or breaks a rerun
    else:
        assert "--resume" in r.output and partial.exists()
    monkeypatch.setattr(TupleWriter, "write", original)
    r = run(*args, *(() if gone else ("--resume",)), str(out))
    assert r.exit_code == 0, r.output
    r = run(*args, str(tmp_path / "ref.h5"))
    assert_same_arrays(out, tmp_path / "ref.h5")


def test_resume_names_the_source_photos_that_changed(tmp_path, photo_dir):
    import shutil

    from pastegen.errors import ResumeMismatchError

    folder = tmp_path / "photos"
    shutil.copytree(photo_dir, folder)
    spec = preset("photos", height=48, width=48, sigma=3.0)
    paths = sorted(str(p) for p in folder.iterdir())
    out = tmp_path / "run.h5"

    def interrupt(stage, n, total):
        if stage == "generate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(out, paths, spec, count=40, progress=interrupt)
    assert Path(str(out) + ".partial").exists()
    coffee = folder / "coffee.png"
    write_rgb(coffee, cv2.imread(str(coffee))[:, ::-1, ::-1].copy())  # same size, other pixels
    with pytest.raises(ResumeMismatchError, match="1 photo\\(s\\) changed") as info:
        make(out, paths, spec, count=40, resume=True)
    assert str(coffee) in str(info.value) and "\n" not in str(info.value)
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--count", "40", "--resume", str(out))
    assert_one_line_error(r, str(coffee))
    (folder / "rocket.png").unlink()
    with pytest.raises(ResumeMismatchError, match="missing now") as info:
        make(out, sorted(str(p) for p in folder.iterdir()), spec, count=40, resume=True)
    assert str(folder / "rocket.png") in str(info.value)


def test_verify_names_a_source_photo_that_changed(tmp_path, photo_dir):
    import shutil

    folder = tmp_path / "photos"
    shutil.copytree(photo_dir, folder)
    out = tmp_path / "run.h5"
    r = run("make", "--images", str(folder), *SMALL_ARGS, "--count", "8", "-q", str(out))
    assert r.exit_code == 0, r.output
    assert not replay_check(out)
    chelsea = folder / "chelsea.png"
    img = cv2.imread(str(chelsea))
    cv2.imwrite(str(chelsea), cv2.resize(img, (img.shape[1] + 2, img.shape[0])))  # another size
    problems = replay_check(out)
    assert problems and all(str(chelsea) in p and "changed since the file was made" in p for p in problems)
    r = run("verify", "--replay", "8", str(out))
    assert r.exit_code == 1 and f"{chelsea} changed since the file was made" in r.output, r.output


_SLOW_SCAN_HOOK = '''
import os
if os.environ.get("PASTEGEN_TEST_SCAN_LOG"):
    import time
    import pastegen.sources.scan as _scan

    _original = _scan._scan_one

    def _slow(*args, **kwargs):
        log = os.environ["PASTEGEN_TEST_SCAN_LOG"]
        open(os.path.join(log, str(os.getpid())), "a").close()
        time.sleep(0.5)
        return _original(*args, **kwargs)

    _scan._scan_one = _slow
'''


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # exited, not yet reaped
    except OSError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_killing_make_during_the_scan_leaves_no_worker_holding_its_pipes(tmp_path, photo_dir):
    import select

    hook, log, many = tmp_path / "hook", tmp_path / "log", tmp_path / "many"
    for d in (hook, log, many):
        d.mkdir()
    (hook / "sitecustomize.py").write_text(_SLOW_SCAN_HOOK)
    for k, p in enumerate(sorted(photo_dir.iterdir()) * 8):
        (many / f"{k:02d}_{p.name}").write_bytes(p.read_bytes())
    path = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*path, str(hook)]), PASTEGEN_TEST_SCAN_LOG=str(log))
    cmd = [sys.executable, "-m", "pastegen.cli", "make", "--images", str(many), *SMALL_ARGS, "--count", "4", "-j", "2", str(tmp_path / "o.h5")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    workers: list[int] = []
    try:
        deadline = time.time() + 90
        while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
            time.sleep(0.05)
            workers = [int(p.name) for p in log.iterdir()]
        assert len(workers) >= 2, proc.communicate(timeout=30)
        os.kill(proc.pid, signal.SIGKILL)  # during the scan: both workers are busy
        proc.wait()
        deadline = time.time() + 10
        open_pipes = [proc.stdout, proc.stderr]
        while open_pipes and time.time() < deadline:
            ready, _, _ = select.select(open_pipes, [], [], 0.2)
            for pipe in ready:
                if not os.read(pipe.fileno(), 65536):
                    open_pipes.remove(pipe)  # EOF: no process holds its write end any more
        assert not open_pipes, "a worker outlived `pastegen make` and holds its stdout/stderr"
        deadline = time.time() + 10
        while time.time() < deadline and not all(_gone(pid) for pid in workers):
            time.sleep(0.1)
        assert all(_gone(pid) for pid in workers)
    finally:
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
