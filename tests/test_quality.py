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

        from pastenet.checkpoint import save_checkpoint
        from pastenet.config import preset
        from pastenet.models import Generator
        import pastenet.paste  # noqa: F401
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
    # a rerun checks the frozen hashes and rewrites the README section in place
    assert quality.main(argv + ["--no-speed"]) == 0
    assert readme.read_text().count(quality.README_BEGIN) == 1
