"""`pastenet.paste` and `pastenet paste`: user images of any size, ROI == full image, exact context."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pastenet.checkpoint import save_checkpoint
from pastenet.cli import main
from pastenet.config import ModelConfig
from pastenet.errors import CheckpointError, ConfigError, PastenetError
from pastenet.models import Generator, NoiseAdd
from pastenet.paste import (
    MaskError,
    PasteError,
    PasteModel,
    PasteWarning,
    binarise_mask,
    load_generator,
    paste,
    paste_with_details,
    read_image,
    roi_window,
    write_image,
)

# Three levels (size multiple 8, three noise layers) and a receptive radius of 52 px: small enough
# that a window around a small mask is smaller than a 128x256 image.
CONFIG = ModelConfig(resolution=32, channels=(4, 8, 8, 8), dilations=(1,), d_channels=(4, 8), d_local_channels=(4,), d_features=8)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _generator(*, identity: bool = False) -> Generator:
    torch.manual_seed(0)
    G = Generator(CONFIG)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, NoiseAdd):  # a fresh G ignores its noise: make the noise matter
                m.weight.normal_(0.0, 0.5)
        G.to_rgb.weight.mul_(10.0)  # a residual large enough to change uint8 pixels
        if identity:  # residual 0: the output is the composite X itself
            G.to_rgb.weight.zero_()
            G.to_rgb.bias.zero_()
    return G


@pytest.fixture(scope="module")
def model() -> PasteModel:
    return PasteModel.from_generator(_generator(), device="cpu")


@pytest.fixture(scope="module")
def identity() -> PasteModel:
    return PasteModel.from_generator(_generator(identity=True), device="cpu")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("paste") / "00000-test"
    save_checkpoint(run, 7, modules={"G": _generator()}, state={}, model_record=CONFIG.to_record())
    return run


def _images(h: int, w: int, *, channels: int = 3, dtype=np.uint8, seed: int = 0):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if dtype in (np.uint8, np.uint16) else 1.0
    shape = (h, w) if channels == 0 else (h, w, channels)
    if dtype in (np.uint8, np.uint16):
        target = rng.integers(0, top, shape, endpoint=True, dtype=dtype)
        source = rng.integers(0, top, shape, endpoint=True, dtype=dtype)
    else:
        target, source = rng.random(shape).astype(dtype), rng.random(shape).astype(dtype)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 2 - 4 : h // 2 + 5, w // 3 : w // 3 + 11] = 255
    return target, source, mask


def _outside_unchanged(out, target, mask_t):
    assert out.dtype == target.dtype and out.shape == target.shape
    assert np.array_equal(out[~mask_t], target[~mask_t])


# --- the contract: pixels outside the mask, dtypes, channels ----------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_outside_mask_unchanged_exactly(model, dtype):
    target, source, mask = _images(40, 56, dtype=dtype)
    r = paste_with_details(model, target, source, mask, seed=1)
    assert np.array_equal(r.mask, mask > 0)
    _outside_unchanged(r.image, target, r.mask)
    inside = r.image[r.mask]
    assert not np.array_equal(inside, source[r.mask])  # G changed something
    if dtype == np.float32:
        assert inside.min() >= 0 and inside.max() <= 1
    if dtype == np.uint16:
        assert inside.max() > 255  # 16-bit output, not 8-bit values in a 16-bit array


def test_rgba_alpha_untouched(model):
    target, source, mask = _images(33, 47, channels=4)
    out = paste(model, target, source, mask)
    assert np.array_equal(out[..., 3], target[..., 3])
    _outside_unchanged(out, target, mask > 0)
    assert not np.array_equal(out[..., :3], target[..., :3])


@pytest.mark.parametrize("channels", [0, 1, 2])
def test_grey_targets_keep_their_shape(model, channels):
    target, _, mask = _images(30, 42, channels=channels)
    _, source, _ = _images(30, 42, channels=3, seed=1)  # an RGB source: pasted as its luma
    out = paste(model, target, source, mask)
    _outside_unchanged(out, target, mask > 0)
    if channels == 2:
        assert np.array_equal(out[..., 1], target[..., 1])


def test_grey_source_into_rgb_target_is_repeated(identity):
    target, _, mask = _images(24, 24)
    source = np.full((24, 24), 77, np.uint8)
    out = paste(identity, target, source, mask)
    assert (out[mask > 0] == 77).all()


def test_identity_generator_gives_the_composite_exactly(identity):
    """With G's residual at zero the result is the naive composite: the value scaling is exact."""
    for dtype in (np.uint8, np.uint16):
        target, source, mask = _images(21, 35, dtype=dtype)
        out = paste(identity, target, source, mask)
        expected = np.where((mask > 0)[..., None], source, target)
        assert np.array_equal(out, expected)


# --- placement, offsets and cutting -------------------------------------------------------------------


def test_offset_places_source_pixels(identity):
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    mask = np.zeros((20, 30), np.uint8)
    mask[5:10, 8:15] = 1
    r = paste_with_details(identity, target, source, mask, offset=(40, 50))
    expected = target.copy()
    expected[45:50, 58:65] = source[5:10, 8:15]
    assert np.array_equal(r.image, expected)
    assert r.box == (45, 50, 58, 65) and not r.cut


def test_source_defaults_to_target_moving_a_region(identity):
    target, _, _ = _images(40, 40)
    mask = np.zeros((40, 40), bool)
    mask[2:6, 3:9] = True
    out = paste(identity, target, None, mask, offset=(20, -1))
    assert np.array_equal(out[22:26, 2:8], target[2:6, 3:9])
    assert np.array_equal(out[2:6, 3:9], target[2:6, 3:9])  # the original spot is untouched


def test_region_partly_outside_is_cut_with_a_warning(identity):
    target, source, _ = _images(32, 32)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:20, 10:20] = 1
    with pytest.warns(PasteWarning, match="50 of 100 masked pixels fall outside"):
        r = paste_with_details(identity, target, source, mask, offset=(-15, 0))
    assert r.cut and r.box == (0, 5, 10, 20)
    assert np.array_equal(r.image[0:5, 10:20], source[15:20, 10:20])
    _outside_unchanged(r.image, target, r.mask)
    with pytest.warns(PasteWarning) as record:
        paste(identity, target, source, mask, offset=(0, 15))
    assert record[0].filename == __file__  # the warning points at the caller


def test_region_entirely_outside_is_an_error(identity):
    target, source, mask = _images(32, 32)
    with pytest.raises(MaskError, match="entirely outside"):
        paste(identity, target, source, mask, offset=(0, 100))


# --- any size: padding, ROI == full image -------------------------------------------------------------


@pytest.mark.parametrize("size", [(37, 61), (5, 3), (1, 9)])
def test_odd_sizes_are_padded_and_cropped_back(model, size):
    h, w = size
    target, source, _ = _images(h, w)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 2, w // 2] = 1
    r = paste_with_details(model, target, source, mask)
    assert r.image.shape == target.shape
    assert r.padded_shape == (-(-h // 8) * 8, -(-w // 8) * 8)
    _outside_unchanged(r.image, target, r.mask)


@pytest.mark.parametrize("size,rows,cols", [((128, 256), (100, 110), (20, 35)), ((101, 203), (90, 99), (180, 200))])
def test_roi_equals_full_image(model, size, rows, cols):
    h, w = size
    target, source, _ = _images(h, w, dtype=np.float32)
    mask = np.zeros((h, w), np.uint8)
    mask[rows[0] : rows[1], cols[0] : cols[1]] = 200
    full = paste_with_details(model, target, source, mask, seed=5, roi=False)
    roi = paste_with_details(model, target, source, mask, seed=5)
    wh, ww = roi.window_shape
    assert full.window == (0, full.padded_shape[0], 0, full.padded_shape[1])
    assert wh < full.padded_shape[0] and ww < full.padded_shape[1], roi.window
    assert np.abs(roi.image - full.image).max() <= 1e-5
    # the test is sensitive: without the margin the window's border changes the result
    cramped = paste(model, target, source, mask, seed=5, margin=0)
    assert np.abs(cramped - full.image).max() > 1e-3
    # uint8: identical except (rarely) a value that rounds the other way
    t8, s8 = (target * 255).astype(np.uint8), (source * 255).astype(np.uint8)
    a = paste(model, t8, s8, mask, seed=5).astype(int)
    b = paste(model, t8, s8, mask, seed=5, roi=False).astype(int)
    assert np.abs(a - b).max() <= 1 and np.count_nonzero(a != b) <= 2


def test_roi_window_alignment():
    assert roi_window((100, 110, 20, 35), (128, 256), multiple=8, margin=52) == (48, 128, 0, 88)
    y0, y1, x0, x1 = roi_window((301, 333, 999, 1003), (1024, 2048), multiple=16, margin=30)
    assert (y0, x0) == (256, 960) and y1 % 16 == 0 and x1 % 16 == 0
    assert y0 <= 301 - 30 and y1 >= 333 + 30 and x0 <= 999 - 30 and x1 >= 1003 + 30


def test_small_paste_into_a_large_image_processes_a_small_window(model):
    h, w = 1024, 2048
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[16:48, 16:48] = 255
    started = time.perf_counter()
    r = paste_with_details(model, target, source, mask, offset=(500, 1200))
    elapsed = time.perf_counter() - started
    radius = model.receptive_radius
    wh, ww = r.window_shape
    assert r.box == (516, 548, 1216, 1248)
    assert wh <= 32 + 2 * radius + 16 and ww <= 32 + 2 * radius + 16
    assert wh * ww < (h * w) / 100
    _outside_unchanged(r.image, target, r.mask)
    print(f"1024x2048 paste, window {wh}x{ww}: {elapsed * 1000:.0f} ms")


# --- determinism, masks, errors -----------------------------------------------------------------------


def test_deterministic_by_seed(model):
    target, source, mask = _images(48, 40)
    a = paste(model, target, source, mask, seed=11)
    assert np.array_equal(a, paste(model, target, source, mask, seed=11))
    torch.manual_seed(123)  # the global RNG plays no part
    assert np.array_equal(a, paste(model, target, source, mask, seed=11))
    assert not np.array_equal(a, paste(model, target, source, mask, seed=12))


def test_mask_rule_any_nonzero(model):
    soft = np.array([[0, 1, 128], [255, 0, 0]], np.uint8)
    assert binarise_mask(soft).tolist() == [[False, True, True], [True, False, False]]
    assert binarise_mask(np.array([[0.0, 1e-6]])).tolist() == [[False, True]]
    colour = np.zeros((1, 3, 3), np.uint8)
    colour[0, 1, 2] = 9
    assert binarise_mask(colour).tolist() == [[False, True, False]]
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[..., 3] = 255  # opaque alpha alone is not "inside"
    rgba[0, 0, 0] = 1
    assert binarise_mask(rgba).tolist() == [[True, False]]
    target, source, mask = _images(24, 24)
    assert np.array_equal(paste(model, target, source, mask), paste(model, target, source, (mask > 0).astype(np.float32) * 0.01))


@pytest.mark.parametrize(
    "change,error,match",
    [
        (lambda t, s, m: (t, s, m[:-1]), MaskError, "same size"),
        (lambda t, s, m: (t, s, np.zeros_like(m)), MaskError, "empty"),
        (lambda t, s, m: (t, s, m[None]), MaskError, "shape"),
        (lambda t, s, m: (np.zeros((24, 24, 5), np.uint8), s, m), PasteError, "shape"),
        (lambda t, s, m: (t[None], s, m), PasteError, "shape"),
        (lambda t, s, m: (t.astype(np.int32), s, m), PasteError, "dtype"),
        (lambda t, s, m: (t.astype(bool), s, m), PasteError, "dtype"),
        (lambda t, s, m: (t.astype(np.float32), s, m), PasteError, r"\[0, 1\]"),
        (lambda t, s, m: (t, s.tolist(), m), PasteError, "numpy array"),
        (lambda t, s, m: (t, s, m.astype(str)), MaskError, "dtype"),
    ],
)
def test_errors_are_typed_and_one_line(model, change, error, match):
    t, s, m = change(*_images(24, 24))
    with pytest.raises(error, match=match) as info:
        paste(model, t, s, m)
    assert isinstance(info.value, PastenetError) and "\n" not in str(info.value)


@pytest.mark.parametrize("kw", [{"offset": (1,)}, {"offset": (0.5, 0)}, {"seed": -1}, {"margin": -2}])
def test_bad_options(model, kw):
    target, source, mask = _images(16, 16)
    with pytest.raises(PasteError):
        paste(model, target, source, mask, **kw)


def test_inputs_are_not_modified(model):
    target, source, mask = _images(24, 24)
    copies = target.copy(), source.copy(), mask.copy()
    paste(model, target, source, mask)
    assert all(np.array_equal(a, b) for a, b in zip(copies, (target, source, mask), strict=True))


# --- loading ------------------------------------------------------------------------------------------


def test_load_generator_from_run_checkpoint_and_weights(run_dir, model):
    target, source, mask = _images(24, 32)
    expected = paste(model, target, source, mask, seed=2)
    ck = run_dir / "checkpoints" / "step-00000007"
    for where in (run_dir, ck, ck / "weights.safetensors"):
        loaded = load_generator(where, device="cpu")
        assert loaded.config == CONFIG and loaded.device == torch.device("cpu") and not loaded.generator.training
        assert loaded.checkpoint == ck
        assert np.array_equal(paste(loaded, target, source, mask, seed=2), expected)


def test_load_generator_errors(tmp_path, run_dir):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError):
        load_generator(tmp_path / "notes.txt")
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_generator(tmp_path)
    with pytest.raises(ConfigError, match="device"):
        load_generator(run_dir, device="tpu9")


# --- files and the command line -----------------------------------------------------------------------


def _write(path: Path, image: np.ndarray) -> Path:
    write_image(path, image)
    return path


def test_read_write_round_trip(tmp_path):
    for image in (
        _images(9, 7)[0],
        _images(9, 7, dtype=np.uint16)[0],
        _images(9, 7, channels=4, dtype=np.uint16)[0],
        _images(9, 7, channels=0)[0],
    ):
        p = _write(tmp_path / "x.png", image)
        back = read_image(p)
        assert back.dtype == image.dtype and np.array_equal(back, image)
    # RGB order on disk is OpenCV's BGR: a red pixel stays red for other readers
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert cv2.imread(str(_write(tmp_path / "red.png", red)))[0, 0].tolist() == [0, 0, 255]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["red.png", "x.png"]  # no temporaries left


def run(*args):
    return CliRunner().invoke(main, ["paste", *[str(a) for a in args]], catch_exceptions=False)


def _error_line(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert lines and lines[-1].startswith("Error: ") and len([x for x in lines if x.startswith("Error")]) == 1, result.output
    return lines[-1]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_cli_end_to_end(tmp_path, run_dir, model, dtype):
    target, source, mask = _images(40, 52, dtype=dtype)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    out = tmp_path / "out.png"
    result = run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", out, "--seed", 4, "--device", "cpu")
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert written.dtype == dtype and written.shape == target.shape
    got = read_image(out)
    assert np.array_equal(got, paste(model, target, source, mask, seed=4))
    _outside_unchanged(got, target, mask > 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png", "out.png", "s.png", "t.png"]
    full = tmp_path / "full.png"
    assert run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", full, "--seed", 4, "--full", "-q").exit_code == 0
    assert np.abs(read_image(full).astype(int) - got).max() <= 1


def test_cli_ensemble_option(tmp_path, run_dir, model):
    target, source, mask = _images(40, 52)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    for ensemble in ("flip", "none"):
        out = tmp_path / f"{ensemble}.png"
        result = run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", out, "--ensemble", ensemble, "-q")
        assert result.exit_code == 0, result.output
        assert np.array_equal(read_image(out), paste(model, target, source, mask, ensemble=ensemble))
    assert not np.array_equal(read_image(tmp_path / "flip.png"), read_image(tmp_path / "none.png"))
    bad = run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", tmp_path / "x.png", "--ensemble", "both")
    assert bad.exit_code == 2 and "--ensemble" in bad.output and not (tmp_path / "x.png").exists()


def test_cli_offset_rgba_and_cut_warning(tmp_path, run_dir):
    target = _images(30, 30, channels=4)[0]
    mask = np.zeros((30, 30), np.uint8)
    mask[2:8, 2:8] = 255
    t, m = _write(tmp_path / "t.png", target), _write(tmp_path / "m.png", mask)
    out = tmp_path / "out.png"
    result = run("--model", run_dir, "--target", t, "--mask", m, "-o", out, "--offset", "-4,20")
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output and "cut" in result.output
    got = read_image(out)
    assert got.shape == (30, 30, 4) and np.array_equal(got[..., 3], target[..., 3])
    placed = np.zeros((30, 30), bool)
    placed[0:4, 22:28] = True
    _outside_unchanged(got, target, placed)


def test_cli_errors_are_one_line(tmp_path, run_dir):
    target, source, mask = _images(20, 20)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    small = _write(tmp_path / "small.png", mask[:10])
    empty = _write(tmp_path / "empty.png", np.zeros_like(mask))
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    (tmp_path / "zero.png").write_bytes(b"")
    base = ("--model", run_dir, "--target", t, "--source", s, "-o", tmp_path / "o.png")
    assert "does not exist" in _error_line(run(*base, "--mask", tmp_path / "missing.png"))
    assert "not an image" in _error_line(run(*base, "--mask", tmp_path / "junk.png"))
    assert "not an image" in _error_line(run(*base, "--mask", tmp_path / "zero.png"))
    assert "same size" in _error_line(run(*base, "--mask", small))
    assert "empty" in _error_line(run(*base, "--mask", empty))
    assert "entirely outside" in _error_line(run(*base, "--mask", m, "--offset", "40,0"))
    assert "checkpoint" in _error_line(run("--model", tmp_path / "nope", "--target", t, "--mask", m, "-o", tmp_path / "o.png"))
    assert "encode" in _error_line(run(*base, "--mask", m, "-o", tmp_path / "o.unknownext"))
    bad = run(*base, "--mask", m, "--offset", "1,2,3")
    assert bad.exit_code == 2 and "DY,DX" in bad.output
    assert "seam" in _error_line(run(*base, "--mask", m, "--context", "4"))  # the paper's head has no seam to absorb it
    for value in ("-2", "wide"):
        bad = run(*base, "--mask", m, "--context", value)
        assert bad.exit_code == 2 and "--context" in bad.output
    for value in ("-1", "some", "inf"):
        bad = run(*base, "--mask", m, "--min-change", value)
        assert bad.exit_code == 2 and "--min-change" in bad.output
    assert run(*base[:-2], "-o", tmp_path / "ok.png", "--mask", m, "--min-change", "2.5").exit_code == 0
    assert not (tmp_path / "o.png").exists()


def test_cli_help_has_examples():
    result = CliRunner().invoke(main, ["paste", "--help"])
    assert result.exit_code == 0 and "Examples:" in result.output and "--offset" in result.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cuda = PasteModel.from_generator(_generator(), device="cuda")
    cpu = PasteModel.from_generator(_generator(), device="cpu")
    target, source, _ = _images(128, 256, dtype=np.float32)
    mask = np.zeros((128, 256), np.uint8)
    mask[100:110, 20:35] = 1
    a = paste(cuda, target, source, mask, seed=9)
    assert np.array_equal(a, paste(cuda, target, source, mask, seed=9))
    # TF32 convolutions, and cuDNN picks its algorithms per input size (the ROI's is smaller):
    # 1.4e-3 (0.37 levels) measured on an H200
    assert np.abs(a - paste(cuda, target, source, mask, seed=9, roi=False)).max() <= 4e-3
    assert np.abs(a - paste(cpu, target, source, mask, seed=9)).max() <= 1e-2


def test_demo_sheet_and_cli(tmp_path):
    """The README's example paste: a side-by-side sheet; pixels outside the region untouched."""
    from click.testing import CliRunner

    from pastenet.cli import main
    from pastenet.config import preset
    from pastenet.demo import demo
    from pastenet.models import Generator
    from pastenet.paste import PasteModel

    torch.manual_seed(0)
    config = preset("tiny", resolution=64, local_window=32)
    model = PasteModel.from_generator(Generator(config), device="cpu")
    result = demo(model)
    assert result.sheet.shape[0] >= 256 and result.sheet.dtype == np.uint8
    placed = np.zeros(result.target.shape[:2], bool)
    ys, xs = np.nonzero(result.mask)
    placed[ys + result.offset[0], xs + result.offset[1]] = True
    assert 0 < placed.sum() < placed.size
    outside = ~placed
    assert np.array_equal(result.result[outside], result.target[outside])
    ckpt = save_checkpoint(tmp_path / "runs" / "00000-tiny-x" / "checkpoints", 1, modules={"G": model.generator}, state={}, model_record=config.to_record())
    assert ckpt.is_dir()
    out = tmp_path / "demo.png"
    run = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "runs"), "-o", str(out), "--device", "cpu"])
    assert run.exit_code == 0, run.output
    assert out.is_file()
    run = CliRunner().invoke(main, ["demo", "--model", str(tmp_path / "nothing"), "-o", str(out)])
    assert run.exit_code == 1 and run.output.strip().splitlines()[-1].startswith("Error: ")


def test_written_images_get_an_ordinary_file_mode(tmp_path):
    from pastenet.paste import write_image

    out = write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    mask = os.umask(0)
    os.umask(mask)
    assert (out.stat().st_mode & 0o777) == (0o666 & ~mask)


# --- hostile inputs: 16-bit into 8-bit formats, bad weights, read-only output, absurd records, noisy masks


def _encoded(image: np.ndarray, ext: str) -> np.ndarray:
    """An RGB uint8 image after an OpenCV encode / decode round trip in format ``ext``."""
    data = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1]
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".webp"])
def test_16_bit_results_written_to_8_bit_formats_are_scaled(tmp_path, ext):
    image = _images(20, 24, dtype=np.uint16)[0]
    image[0, :6] = np.array([0, 128, 129, 32896, 65406, 65535])[:, None]  # around rounding points of v * 255 / 65535
    with pytest.warns(PasteWarning, match="8 bits"):
        write_image(tmp_path / f"out{ext}", image)
    back = read_image(tmp_path / f"out{ext}")
    expected = np.rint(image.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    assert back.dtype == np.uint8 and back.shape == image.shape
    assert np.array_equal(back, _encoded(expected, ext))  # JPEG and WebP: the same loss as for the 8-bit image
    if ext == ".bmp":
        assert back[0, :6, 0].tolist() == [0, 0, 1, 128, 254, 255]
    for keeps in (".png", ".tif", ".tiff"):  # formats that hold 16 bits keep them, without a warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            write_image(tmp_path / f"keep{keeps}", image)
        assert np.array_equal(read_image(tmp_path / f"keep{keeps}"), image)


def test_results_are_refused_by_float_only_formats(tmp_path):
    with pytest.raises(PasteError, match="floating-point"):
        write_image(tmp_path / "out.hdr", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(PasteError, match="dtype"):
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.int32))
    assert list(tmp_path.iterdir()) == []


def test_cli_16_bit_target_to_8_bit_formats(tmp_path, run_dir, model):
    target, source, mask = _images(40, 52, dtype=np.uint16)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    expected = np.rint(paste(model, target, source, mask, seed=4).astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    for ext in (".bmp", ".jpg"):
        out = tmp_path / f"out{ext}"
        result = run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", out, "--seed", 4, "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert "Warning: " in result.output and "8 bits" in result.output
        got = read_image(out)
        assert got.dtype == np.uint8 and got.shape == target.shape
        assert np.array_equal(got, _encoded(expected, ext))


def test_write_into_a_read_only_folder_is_a_typed_error(tmp_path, monkeypatch):
    from pastegen import atomic

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic, "_create_temp", refuse)  # where the temporary file is created
    with pytest.raises(PasteError, match="cannot write .*out.png: Permission denied") as info:
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.uint8))
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == []


def test_cli_paste_into_a_read_only_folder_is_one_line(tmp_path, run_dir, monkeypatch):
    target, source, mask = _images(20, 20)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root writes into a mode 0555 folder: make the temporary file's creation fail instead
        from pastegen import atomic

        real = atomic._create_temp

        def refuse(target, suffix):
            if Path(target).parent == locked:
                raise PermissionError(13, "Permission denied")
            return real(target, suffix)

        monkeypatch.setattr(atomic, "_create_temp", refuse)
    locked.chmod(0o555)
    try:
        line = _error_line(run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", locked / "o.png"))
        assert "cannot write" in line and "Permission denied" in line
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def _tampered(run_dir: Path, dst: Path, key: str, change) -> Path:
    """A bare copy of the run's weights file with tensor ``key`` replaced by ``change(tensor)``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = run_dir / "checkpoints" / "step-00000007" / "weights.safetensors"
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors[key] = change(tensors[key])
    save_file(tensors, str(dst), metadata=meta)
    return dst


from test_net_checkpoint import BAD as BAD_WEIGHTS  # noqa: E402  (one table of spoilt weights)


@pytest.mark.parametrize("bad", list(BAD_WEIGHTS))
def test_wrongly_typed_or_non_finite_weights_are_refused(tmp_path, run_dir, bad):
    change, match = BAD_WEIGHTS[bad]
    weights = _tampered(run_dir, tmp_path / "bad.safetensors", "G.middle.0.0.weight", change)
    with pytest.raises(CheckpointError, match=rf"bad\.safetensors.*G\.middle\.0\.0\.weight.*{match}") as info:
        load_generator(weights, device="cpu")
    assert "\n" not in str(info.value)
    target, source, mask = _images(20, 20)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    line = _error_line(run("--model", weights, "--target", t, "--source", s, "--mask", m, "-o", tmp_path / "o.png"))
    assert "bad.safetensors" in line and "G.middle.0.0.weight" in line
    assert not (tmp_path / "o.png").exists()


def test_absurd_model_records_fail_before_building_the_network(tmp_path, monkeypatch):
    import pastenet.loading as loading_module  # where load_generator builds G

    def no_build(config):
        raise AssertionError(f"a Generator was built for {config}")

    monkeypatch.setattr(loading_module, "Generator", no_build)
    G = _generator()
    for change in ({"channels": [100000, 8, 8, 8]}, {"dilations": [1] * 10000}, {"resolution": 1 << 20, "d_channels": [4]}):
        folder = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        save_checkpoint(folder, 1, modules={"G": G}, state={}, model_record={**CONFIG.to_record(), **change})
        started = time.perf_counter()
        with pytest.raises(CheckpointError, match="model record is not usable") as info:
            load_generator(folder, device="cpu")
        assert time.perf_counter() - started < 5 and "\n" not in str(info.value)
        assert next(iter(change)) in str(info.value)
    target, source, mask = _images(20, 20)
    t, m = _write(tmp_path / "t.png", target), _write(tmp_path / "m.png", mask)
    line = _error_line(run("--model", folder, "--target", t, "--mask", m, "-o", tmp_path / "o.png"))
    assert "model record is not usable" in line and not (tmp_path / "o.png").exists()


def _jpeg_mask(h: int = 64, w: int = 80) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    mask[20:45, 17:50] = 255
    ok, data = cv2.imencode(".jpg", mask, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)


def test_noisy_masks_warn(identity):
    noisy = _jpeg_mask()
    between = np.count_nonzero((noisy > 0) & (noisy < noisy.max()))
    assert between > 0.01 * noisy.size  # the premise: JPEG leaves many values between 0 and 255
    target, source, _ = _images(64, 80)
    with pytest.warns(PasteWarning, match="PNG"):
        paste(identity, target, source, noisy)
    clean = np.where(noisy > 127, 255, 0).astype(np.uint8)
    soft = clean.copy()
    soft[19, 17:50] = 128  # one anti-aliased edge row: well under 1% of the pixels
    for mask in (clean, soft, clean.astype(bool), (clean > 0) * 0.01, np.dstack([clean] * 3)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            paste(identity, target, source, mask)
    with pytest.warns(PasteWarning, match="threshold"):
        paste(identity, target, source, np.dstack([noisy, noisy, noisy]))
    with pytest.warns(PasteWarning, match="threshold"):
        paste(identity, target, source, noisy.astype(np.float32) / 255.0)


def test_cli_warns_about_a_jpeg_mask(tmp_path, run_dir):
    target, source, _ = _images(64, 80)
    t, s = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source)
    m = tmp_path / "m.jpg"
    m.write_bytes(cv2.imencode(".jpg", _jpeg_mask(), [cv2.IMWRITE_JPEG_QUALITY, 75])[1].tobytes())
    result = run("--model", run_dir, "--target", t, "--source", s, "--mask", m, "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    assert "Warning: " in result.output and "PNG" in result.output


# --- transform_region: the editor's scale/rotation handles and --region-scale/--region-angle ---


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def test_transform_region_identity_scale_rotation_and_centre():
    from pastenet.placement import transform_region

    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), np.uint8)
    mask[20:30, 30:50] = 255  # 10 rows x 20 cols, centre (24.5, 39.5)
    s, m, shift = transform_region(source, mask)
    assert s is source and m is mask and shift == (0, 0)
    s, m, shift = transform_region(source, mask, scale=2.0)
    assert shift == (0, 0) and s.shape == source.shape and m.shape == mask.shape and s.dtype == np.uint8
    assert abs(np.count_nonzero(m) / np.count_nonzero(mask) - 4.0) < 0.2  # area x scale^2 (within 5%)
    y0, y1, x0, x1 = _box(m)
    assert ((y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2) == (24.5, 39.5)
    s, m, shift = transform_region(source, mask, angle=90)
    y0, y1, x0, x1 = _box(m)
    assert (y1 - y0, x1 - x0) == (20, 10) and shift == (0, 0)
    assert ((y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2) == (24.5, 39.5)
    # bool masks stay bool; the inside of the box keeps the source's pixels under a 360-degree turn
    s, m, _ = transform_region(source, mask > 0, angle=-360, scale=1.0)
    assert m.dtype == bool and np.array_equal(m, mask > 0)


def test_transform_region_grows_the_canvas_and_shifts_the_offset():
    from pastenet.placement import transform_region

    source = np.full((40, 40), 100, np.uint16)
    mask = np.zeros((40, 40), np.uint8)
    mask[2:12, 2:12] = 1  # centre (6.5, 6.5) near the corner: scale 3 needs room above and left
    s, m, (sy, sx) = transform_region(source, mask, scale=3.0)
    assert sy < 0 and sx < 0 and s.shape == m.shape and s.shape[0] > 40 and s.dtype == np.uint16
    y0, y1, x0, x1 = _box(m)
    assert ((y0 + y1 - 1) / 2 + sy, (x0 + x1 - 1) / 2 + sx) == (6.5, 6.5)  # same target pixel after the shift
    assert (y1 - y0, x1 - x0) == (30, 30)


@pytest.mark.parametrize("kwargs", [{"scale": 0.05}, {"scale": 11}, {"scale": float("nan")}, {"angle": 400},
                                    {"angle": float("inf")}, {"scale": "2"}, {"angle": True}])
def test_transform_region_bad_values(kwargs):
    from pastenet.placement import transform_region

    with pytest.raises(PasteError):
        transform_region(np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), **kwargs)
    with pytest.raises(MaskError):
        transform_region(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8), scale=2)


def test_cli_region_scale_and_angle(tmp_path):
    from pastenet.classic import classic_paste
    from pastenet.placement import transform_region

    target, source, mask = _images(40, 52)
    t, s, m = _write(tmp_path / "t.png", target), _write(tmp_path / "s.png", source), _write(tmp_path / "m.png", mask)
    for method in ("naive", "poisson-normal"):
        out = tmp_path / f"{method}.png"
        result = run("--method", method, "--target", t, "--source", s, "--mask", m, "-o", out, "--offset", "2,3",
                     "--region-scale", "1.5", "--region-angle", "30", "-q")
        assert result.exit_code == 0, result.output
        src2, msk2, (sy, sx) = transform_region(source, mask, scale=1.5, angle=30)
        want, _ = classic_paste(target, src2, msk2, offset=(2 + sy, 3 + sx), method=method)
        assert np.array_equal(read_image(out), want)
        assert not np.array_equal(read_image(out), classic_paste(target, source, mask, offset=(2, 3), method=method)[0])
    bad = run("--method", "naive", "--target", t, "--mask", m, "-o", tmp_path / "o.png", "--region-scale", "20")
    assert bad.exit_code == 2 and "region-scale" in bad.output
    assert "--region-angle" in CliRunner().invoke(main, ["paste", "--help"]).output
