"""benchmarks/quality.py: metrics on hand cases, the frozen evaluation set, a --quick smoke run."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import quality  # noqa: E402
from benchmarks.evaluation import evalset, metrics  # noqa: E402


def test_mse_fmse_psnr_hand_case():
    gt = np.full((10, 10, 3), 100, np.uint8)
    y = gt.copy()
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:4] = True  # 4 pixels
    y[mask] += 10
    assert metrics.mse(y, gt) == pytest.approx(4 * 3 * 100 / 300)  # = 4
    assert metrics.fmse(y, gt, mask) == pytest.approx(100.0)
    # iHarmony4's way of computing fMSE: MSE(Y·M, I·M)·H·W/|M|
    assert metrics.fmse(y, gt, mask) == pytest.approx(metrics.mse(y * mask[..., None], gt * mask[..., None]) * 100 / 4)
    assert metrics.psnr(y, gt) == pytest.approx(10 * math.log10(255**2 / 4))
    assert metrics.psnr(gt, gt) == pytest.approx(10 * math.log10(255**2 / 1e-10))
    assert metrics.masked_l1(y, gt, mask) == pytest.approx(10.0)
    assert metrics.masked_ssim(gt, gt, mask) == pytest.approx(1.0)
    assert metrics.masked_ssim(y, gt, mask) < 1.0


def test_seam_band_and_seam_mse():
    mask = np.zeros((20, 20), bool)
    mask[5:12, 5:12] = True  # 7x7
    assert metrics.seam_band(mask, 1).sum() == 49 - 25
    assert metrics.seam_band(mask, 3).sum() == 49 - 1
    assert metrics.seam_band(mask, 0).sum() == 0
    # the image border is no seam
    edge = np.zeros((10, 10), bool)
    edge[:, :4] = True
    assert metrics.seam_band(edge, 1).sum() == 10  # only column 3
    # both sides of the border
    assert metrics.boundary_band(mask, 1).sum() == (81 - 49) + (49 - 25)
    gt = np.zeros((20, 20, 3), np.uint8)
    y = gt.copy()
    y[5:12, 5:12] = 4
    y[8, 8] = 0  # the centre pixel is outside the k=3 band
    assert metrics.seam_mse(y, gt, mask, 3) == pytest.approx(16.0)


def test_outside_changed_and_seam_jump():
    target = np.zeros((6, 6, 3), np.uint8)
    mask = np.zeros((6, 6), bool)
    mask[:, :3] = True
    y = target.copy()
    y[mask] = 12
    assert metrics.outside_changed(y, target, mask) == 0
    y[0, 5, 1] = 1
    assert metrics.outside_changed(y, target, mask) == 1
    y[0, 5] = 0
    assert metrics.seam_jump(y, mask) == pytest.approx(12.0)  # 6 edges cross the border, each a jump of 12
    assert metrics.seam_grad(target, target, mask) == 0.0
    assert metrics.seam_grad(y, target, mask) > 0


def test_frozen_set_hash(tmp_path):
    st = evalset.Setting("sample", "sigma", 10.0, 1.0, 2, size=64, seed=3)
    a = list(evalset.generate(st))
    b = list(evalset.generate(st))
    assert evalset.setting_hash(a) == evalset.setting_hash(b)
    s = a[0]
    np.testing.assert_array_equal(s.I_T[s.M], 0)
    np.testing.assert_array_equal(s.I_T[~s.M], s.I[~s.M])
    path = tmp_path / "evalset.json"
    evalset.check_frozen(path, {st.key: evalset.setting_hash(a)}, {st.key: st})
    evalset.check_frozen(path, {st.key: evalset.setting_hash(b)}, {st.key: st})  # same: fine
    a[0].S[0, 0, 0] ^= 1
    with pytest.raises(evalset.FrozenSetError, match="changed"):
        evalset.check_frozen(path, {st.key: evalset.setting_hash(a)}, {st.key: st})
    evalset.check_frozen(path, {st.key: evalset.setting_hash(a)}, {st.key: st}, refreeze=True)
    assert json.loads(path.read_text())["settings"][st.key]["sha256"] == evalset.setting_hash(a)


def _tiny_checkpoint(tmp_path: Path) -> Path | None:
    try:
        import torch

        import pastenet.paste  # noqa: F401
        from pastenet.checkpoint import save_checkpoint
        from pastenet.config import preset
        from pastenet.models import Generator
    except ImportError:
        return None
    torch.manual_seed(0)
    cfg = preset("tiny")
    save_checkpoint(tmp_path / "run", 1, modules={"G": Generator(cfg)}, state={"step": 1}, model_record=cfg.to_record())
    return tmp_path / "run"


def test_quick_smoke_run(tmp_path):
    run = _tiny_checkpoint(tmp_path)
    out = tmp_path / "out"
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nother sections\n")
    argv = ["--quick", "--datasets", "sample", "--size", "128", "--out", str(out), "--no-cases", "--readme", str(readme)]
    argv += ["--model", str(run)] if run else ["--no-network"]
    assert quality.main(argv) == 0
    rows = list(csv.DictReader(open(out / "samples.csv")))
    methods = {r["method"] for r in rows}
    assert {"naive", "poisson_normal", "poisson_mixed", "cv2_normal", "cv2_mixed", "reinhard"} <= methods
    assert ("network" in methods) == (run is not None)
    assert all(int(r["outside_changed"]) == 0 for r in rows)
    # 2 sigmas + 1 strength, 2 samples each
    assert len(rows) == 3 * 2 * len(methods)
    for name in ("summary.md", "results.json", "speed.csv", "evalset.json", "plot-sample-sigma.png", "plot-sample-color.png", "sheet-sample.jpg"):
        assert (out / name).is_file(), name
    text = readme.read_text()
    assert "other sections" in text and quality.README_BEGIN in text and "PSNR" in text
    if run is not None:  # the weights resolved from the run folder, identified by their sha256
        import hashlib

        recorded = json.loads((out / "results.json").read_text())["checkpoint"]
        weights = run / "checkpoints" / "step-00000001" / "weights.safetensors"
        assert recorded["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
        assert (recorded["kind"], recorded["step"], recorded["weights"]) == ("run", 1, str(weights))
    # a rerun checks the frozen hashes and rewrites the README section in place
    assert quality.main(argv + ["--no-speed"]) == 0
    assert readme.read_text().count(quality.README_BEGIN) == 1


# --- no-reference metrics of real pastes -----------------------------------------------------------


def _srgb_to_lab(rgb) -> np.ndarray:
    """CIELAB (D65, 2°) of one sRGB colour by the textbook formulas (independent of scikit-image)."""
    c = np.asarray(rgb, float) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_seam_jump_hand_cases():
    # a 4x4 square of (30, 0, 0) in black: 16 edges cross its border, each a channel-mean jump of 10
    y = np.zeros((10, 10, 3), np.uint8)
    m = np.zeros((10, 10), bool)
    m[3:7, 3:7] = True
    y[m] = (30, 0, 0)
    assert metrics.seam_jump(y, m) == pytest.approx(10.0)
    # the square's left column at 60: its 4 left edges and the 2 corner pixels' top and bottom edges jump 20, the 10 others 10
    y[3:7, 3] = (60, 0, 0)
    assert metrics.seam_jump(y, m) == pytest.approx((6 * 20 + 10 * 10) / 16)
    assert metrics.seam_jump(y, np.zeros_like(m)) == 0.0 and metrics.seam_jump(y, np.ones_like(m)) == 0.0
    # the target's own border: a flat target has none
    flat = np.full((10, 10, 3), 77, np.uint8)
    assert metrics.own_border_metrics(flat, m) == {"seam_jump": 0.0, "ring_de": pytest.approx(0.0, abs=1e-9)}
    assert metrics.own_border_metrics(y, m)["seam_jump"] == metrics.seam_jump(y, m)


def test_detail_corr_and_amp_hand_cases():
    rng = np.random.default_rng(1)
    src = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    m = np.zeros((40, 40), bool)
    m[8:32, 8:32] = True
    corr, amp = metrics.detail_kept(src, src, m)  # the identity output
    assert corr == pytest.approx(1.0) and amp == pytest.approx(1.0)
    # an affine change of the luma scales the high-pass: full correlation, half the amplitude
    corr, amp = metrics.detail_kept(src.astype(float) * 0.5 + 40, src, m)
    assert corr == pytest.approx(1.0) and amp == pytest.approx(0.5)
    # a flat output keeps nothing
    assert metrics.detail_kept(np.full_like(src, 128), src, m) == (0.0, 0.0)
    # degenerate masks: 12x12 eroded by 4 px leaves 4x4 = 16 pixels (enough), 11x11 leaves 9 (NaN)
    for side, ok in ((12, True), (11, False)):
        small = np.zeros((40, 40), bool)
        small[10:10 + side, 10:10 + side] = True
        corr, amp = metrics.detail_kept(src, src, small)
        assert (not math.isnan(corr)) == ok and (not math.isnan(amp)) == ok
    # a flat source has no detail to keep: NaN
    assert all(math.isnan(v) for v in metrics.detail_kept(src, np.full_like(src, 9), m))


def test_ring_de_hand_cases():
    m = np.zeros((60, 60), bool)
    m[20:40, 20:40] = True
    inner, outer = metrics.rings(m, 6)
    assert inner.sum() == 20 * 20 - 8 * 8
    assert outer.sum() == 4 * 20 * 6 + 4 * 15  # city-block ring: 4 strips and 4 corner triangles of 15 px
    white = np.full((60, 60, 3), 255, np.uint8)
    assert metrics.ring_de(white, white, m) == pytest.approx(0.0, abs=1e-9)  # a constant image
    y = white.copy()
    y[m] = 0
    assert metrics.ring_de(y, white, m) == pytest.approx(100.0, abs=1e-3)  # black against white: ΔL = 100
    red, blue = (200, 30, 30), (30, 30, 200)
    t = np.empty_like(white)
    t[:] = red
    y = t.copy()
    y[m] = blue
    expected = np.linalg.norm(_srgb_to_lab(blue) - _srgb_to_lab(red))
    assert metrics.ring_de(y, t, m) == pytest.approx(expected, rel=1e-3)
    # only the rings count: changing the mask's centre or the far outside does nothing
    y[29:31, 29:31] = 0
    t2 = t.copy()
    t2[:3] = 0
    assert metrics.ring_de(y, t2, m) == pytest.approx(expected, rel=1e-3)
    assert math.isnan(metrics.ring_de(y, t, np.zeros_like(m))) and math.isnan(metrics.ring_de(y, t, np.ones_like(m)))


def test_no_reference_metrics_keys():
    rng = np.random.default_rng(2)
    t = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    s = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    m = np.zeros((32, 32), bool)
    m[6:26, 6:26] = True
    y = np.where(m[..., None], s, t)
    base = metrics.no_reference_metrics(y, t, m, k=3)
    assert {"seam_jump", "seam_grad", "outside_changed", "ring_de"} == set(base)
    full = metrics.no_reference_metrics(y, t, m, k=3, source=s)
    assert set(full) == set(base) | {"detail_corr", "detail_amp"} == set(metrics.NO_REFERENCE_METRICS)
    assert full["outside_changed"] == 0 and full["detail_corr"] > 0.99 and full["seam_jump"] == metrics.seam_jump(y, m)


# --- the networks' options ----------------------------------------------------------------------


def test_network_specs_and_methods():
    from benchmarks.evaluation import networks
    from benchmarks.evaluation.methods import build_methods

    assert networks.split_list(["a,b", " c ", ""]) == ["a", "b", "c"]
    assert [s.label for s in networks.network_specs(["x"])] == ["network"]
    specs = networks.network_specs(["x", "y"], ["tiny"], ["n1", "n2"])
    assert [(s.model, s.label, s.name) for s in specs] == [("x", "tiny", "n1"), ("y", "network-2", "n2")]
    with pytest.raises(ValueError):
        networks.network_specs(["x", "y"], ["a", "a"])
    with pytest.raises(ValueError):
        networks.network_specs(["x"], ["a", "b"])
    f = lambda t, s, m: t  # noqa: E731
    assert list(build_methods({"a": f, "b": f}))[-2:] == ["a", "b"]
    assert list(build_methods(f))[-1] == "network" and "network" not in build_methods(None)


def test_checkpoint_info_names_and_hashes(tmp_path):
    import hashlib

    pytest.importorskip("torch")  # the resolver, pastenet.checkpoint, imports torch
    from benchmarks.evaluation import networks

    w = tmp_path / "my-net.safetensors"
    w.write_bytes(b"weights")
    info = networks.checkpoint_info(w)
    assert info["name"] == "my-net" and info["weights_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert networks.checkpoint_info(w, "other")["name"] == "other"
    ck = tmp_path / "00001-run" / "checkpoints" / "step-7"
    ck.mkdir(parents=True)
    (ck / "weights.safetensors").write_bytes(b"w2")
    (ck / "meta.json").write_text(json.dumps({"step": 7}))
    info = networks.checkpoint_info(ck)
    assert info["name"] == "00001-run" and info["step"] == 7 and info["weights"].endswith("weights.safetensors")


def test_checkpoint_info_gives_the_sha256_of_whatever_the_model_names(tmp_path, monkeypatch, fake_zoo):
    """A run folder, its step folder, its weights file and a zoo name: each resolved by
    pastenet.checkpoint.resolve_weights, each recorded with the sha256 of the weights it names."""
    import hashlib

    pytest.importorskip("torch")
    from benchmarks.evaluation import networks

    monkeypatch.chdir(tmp_path)
    run = tmp_path / "00002-tiny-run"
    ck = run / "checkpoints" / "step-00000009"
    ck.mkdir(parents=True)
    (ck / "weights.safetensors").write_bytes(b"run weights")
    (ck / "meta.json").write_text(json.dumps({"step": 9}))
    (run / "options.json").write_text(json.dumps({"preset": "tiny", "resolution": 64, "sigma": 2.0, "dataset": "faces"}))
    digest = hashlib.sha256(b"run weights").hexdigest()
    for given, kind in ((run, "run"), (ck, "checkpoint"), (ck / "weights.safetensors", "file"), (str(run), "run")):
        info = networks.checkpoint_info(given)
        assert info["weights_sha256"] == digest and info["kind"] == kind, given
        assert info["name"] == "00002-tiny-run" and info["step"] == 9 and info["path"] == str(ck)
        assert info["weights"] == str(ck / "weights.safetensors") and info["preset"] == "tiny" and "zoo_name" not in info
    weights = fake_zoo("my-zoo-net", b"zoo weights", steps=40)
    info = networks.checkpoint_info("my-zoo-net")
    assert info["weights_sha256"] == hashlib.sha256(b"zoo weights").hexdigest() and info["weights"] == str(weights)
    assert (info["kind"], info["name"], info["zoo_name"], info["step"]) == ("zoo", "my-zoo-net", "my-zoo-net", 40)
    assert networks.checkpoint_info("my-zoo-net", "label")["name"] == "label"


# --- cross-person cases and the mild test (need ../shared/data) ----------------------------------


@pytest.mark.data
def test_landmark_cases_cross_person_deterministic(shared_data):
    from benchmarks.evaluation import landmark_cases as lc

    cases = lc.landmark_cases(shared_data, size=256)
    assert len(cases) >= 48 and len({c.name for c in cases}) == len(cases)
    assert {c.region for c in cases} == {"mouth", "eyes", "nose", "inner"} and {c.shape for c in cases} == set(lc.SHAPES)
    marks = lc.load_landmarks(shared_data)
    for c in cases:
        for p in (c.target_path, c.source_path):
            assert p.startswith("faces/test/london_") and "train" not in p and p in marks
        assert c.target_path.split("_")[1] != c.source_path.split("_")[1]  # different people
        assert c.mask.dtype == bool and c.mask.shape == (256, 256) and c.target.shape == c.source.shape == (256, 256, 3)
        assert 100 < c.mask.sum() < 0.5 * 256 * 256
    assert {p.rsplit("_", 1)[1] for c in cases for p in [c.target_path]} == {"neutral.jpg", "smiling.jpg"}
    again = lc.landmark_cases(shared_data, size=256)
    assert [c.name for c in again] == [c.name for c in cases]
    assert all(np.array_equal(a.mask, b.mask) and np.array_equal(a.target, b.target) for a, b in zip(cases, again, strict=True))
    # the working size only scales: the same pairs, and the 512 masks shrink onto the 256 ones
    big = lc.landmark_cases(shared_data, size=512, limit=6)
    for a, b in zip(cases, big, strict=False):
        assert a.name == b.name
        small = b.mask.reshape(256, 2, 256, 2).mean((1, 3)) >= 0.5
        assert (small & a.mask).sum() / (small | a.mask).sum() > 0.85


@pytest.mark.data
def test_mild_test_limits(shared_data):
    from benchmarks.evaluation import mild, realrun

    samples = mild.mild_samples(shared_data, size=256)
    assert len(samples) >= 40 and mild.N >= 40
    assert all(s.case.target_path.startswith("faces/test/") and s.case.target is s.original for s in samples)
    assert all(s.case.mask.any() and s.case.mask.shape == (256, 256) for s in samples)
    assert {s.case.region for s in samples} > {"rect"}  # landmark masks and rectangles
    assert [s.case.name for s in mild.mild_samples(shared_data, n=5, size=256)] == [s.case.name for s in samples[:5]]
    # the parts of the change taken apart: same photos and masks; the offset alone is not the whole
    offset_only = mild.mild_samples(shared_data, n=5, size=256, parts=("offset",))
    for a, b in zip(offset_only, samples[:5], strict=True):
        assert a.case.name == b.case.name and np.array_equal(a.case.mask, b.case.mask)
        assert a.change_l1 != b.change_l1
    none = mild.mild_samples(shared_data, n=2, size=256, parts=())
    assert all(np.array_equal(s.case.source, s.original) and s.change_l1 == 0 for s in none)
    with pytest.raises(ValueError, match="unknown parts"):
        mild.mild_samples(shared_data, n=1, parts=("hue",))
    methods = {"naive": lambda t, s, m: np.where(m[..., None], s, t), "target": lambda t, s, m: t.copy()}
    rows = realrun.mild_rows(methods, shared_data, n=40, size=256)
    naive = [r for r in rows if r["method"] == "naive"]
    assert len(naive) == 40 and all(r["l1"] == pytest.approx(r["change_l1"]) and 0 < r["l1"] < 25 for r in naive)
    assert all(r["l1"] == 0 for r in rows if r["method"] == "target")
    table = realrun.mild_table(rows)
    assert "| target | 0.00 |" in table and "the changed source" in table


@pytest.mark.data
def test_only_real_quick_run(tmp_path, shared_data):
    run = _tiny_checkpoint(tmp_path)
    out = tmp_path / "out"
    argv = ["--only-real", "--quick", "--out", str(out), "--data-root", str(shared_data)]
    argv += ["--model", f"{run},{run}", "--model-label", "net-a,net-b", "--model-name", "first"] if run else ["--no-network"]
    assert quality.main(argv) == 0
    rows = list(csv.DictReader(open(out / "cases.csv")))
    assert {r["group"] for r in rows} == {"crosspaste", "crossperson"}
    methods = {r["method"] for r in rows}
    assert "target (own border)" in methods and {"naive", "poisson_normal"} <= methods
    assert ({"net-a", "net-b"} <= methods) == (run is not None)
    assert all(int(r["outside_changed"]) == 0 for r in rows if r["outside_changed"])
    for name in ("cases-1.jpg", "crossperson-1.jpg", "mild.jpg", "mild.csv", "summary.md", "results.json"):
        assert (out / name).is_file(), name
    assert not (out / "samples.csv").exists() and not (out / "speed.csv").exists()
    text = (out / "summary.md").read_text()
    assert text.index("Real cases") < text.index("mild change") and "target (own border)" in text and "All:" in text
    if run:
        res = json.loads((out / "results.json").read_text())
        assert [n["label"] for n in res["networks"]] == ["net-a", "net-b"] and res["networks"][0]["name"] == "first"
        assert len(res["networks"][0]["weights_sha256"]) == 64 and "sha256 `" in text


def test_by_eye_sheets_against_other_weights(tmp_path, shared_data, monkeypatch):
    import benchmarks.by_eye_sheets as by_eye

    monkeypatch.setenv("PASTEGEN_DATA_ROOT", str(shared_data))
    out = tmp_path / "by-eye"
    assert by_eye.main(["faces-poisson-256", "--against", "faces-poisson-256", "--limit", "1", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "against.csv")))
    assert [r["group"] for r in rows] == ["crosspaste", "crossperson"]  # the first case of each group
    assert all(float(r["mean_abs_diff"]) == 0 == float(r["p99_abs_diff"]) for r in rows)  # the same weights
    assert len(list(csv.DictReader(open(out / "differences.csv")))) == 2
    assert any(out.glob("*.jpg"))
