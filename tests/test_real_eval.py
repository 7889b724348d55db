"""The no-reference metrics, the cross-person landmark cases and the mild-change test (benchmarks)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.evaluation import metrics, real, realrun


def test_detail_metrics_of_the_source_itself_and_of_a_blur():
    rng = np.random.default_rng(0)
    src = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    m = np.zeros((64, 64), bool)
    m[10:50, 10:50] = True
    corr, amp = metrics.detail_kept(src, src, m)
    assert corr == pytest.approx(1.0) and amp == pytest.approx(1.0)
    half = (src.astype(float) * 0.5 + 64).astype(np.float64)
    corr, amp = metrics.detail_kept(half, src, m)
    assert corr == pytest.approx(1.0, abs=1e-9) and amp == pytest.approx(0.5, abs=1e-9)
    tiny = np.zeros((64, 64), bool)
    tiny[5:9, 5:9] = True
    assert all(math.isnan(v) for v in metrics.detail_kept(src, src, tiny))


def test_ring_de_is_the_lab_distance_of_two_flat_colours():
    from skimage.color import rgb2lab

    img = np.zeros((40, 40, 3), np.uint8)
    img[:] = (200, 30, 30)
    y = img.copy()
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    y[m] = (30, 30, 200)
    expected = np.linalg.norm(rgb2lab(np.array([[[30, 30, 200]]], np.uint8))[0, 0] - rgb2lab(np.array([[[200, 30, 30]]], np.uint8))[0, 0])
    assert metrics.ring_de(y, img, m) == pytest.approx(expected)
    assert metrics.ring_de(img, img, m) == pytest.approx(0.0)


def test_seam_jump_of_a_step():
    y = np.zeros((10, 10, 3), np.uint8)
    m = np.zeros((10, 10), bool)
    m[:, 5:] = True
    y[m] = 30
    assert metrics.seam_jump(y, m) == pytest.approx(30.0)


def test_region_masks_have_the_shapes():
    pts = np.array([[20, 20], [40, 20], [40, 30], [20, 30]], float)
    for shape in real.SHAPES:
        m = real.region_mask(pts, shape, (64, 64))
        assert m[25, 30] and not m[0, 0] and m.sum() > 200
    with pytest.raises(ValueError):
        real.region_mask(pts, "star", (64, 64))


@pytest.mark.data
def test_landmark_cases_are_cross_person_held_out_and_deterministic(shared_data):
    cases = real.landmark_cases(shared_data)
    assert len(cases) >= 48 and len({c.name for c in cases}) == len(cases)
    assert {c.region for c in cases} == set(real.REGIONS) and {c.shape for c in cases} == set(real.SHAPES)
    for c in cases:
        assert c.target_path.startswith("faces/test/") and c.source_path.startswith("faces/test/")
        assert c.target_path.split("_")[1] != c.source_path.split("_")[1]  # different people
        assert c.mask.any() and c.mask.shape == c.target.shape[:2]
    again = real.landmark_cases(shared_data)
    assert [c.name for c in again] == [c.name for c in cases] and all(np.array_equal(a.mask, b.mask) for a, b in zip(cases, again, strict=True))


@pytest.mark.data
def test_mild_change_limits(shared_data):
    methods = {"naive": lambda t, s, m: np.where(m[..., None], s, t), "target": lambda t, s, m: t}
    rows = realrun.mild_rows(methods, shared_data, n=6)
    naive = [r["l1"] for r in rows if r["method"] == "naive"]
    assert all(v > 0 for v in naive) and all(r["l1"] == 0 for r in rows if r["method"] == "target")
    assert max(naive) < 25  # a mild change
