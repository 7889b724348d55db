"""benchmarks.baselines: exact Poisson solves, guarded cv2.seamlessClone, Reinhard, the common contract."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.baselines import BASELINES, membrane_fill, naive, poisson_mixed, poisson_normal, poisson_solve, reinhard  # noqa: E402
from benchmarks.baselines.opencv import clone_center, cv2_normal, seamless_clone  # noqa: E402
from benchmarks.baselines.reinhard import context_band  # noqa: E402


def smooth(h, w, seed, lo=40, hi=200):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = []
    for _ in range(3):
        a, b, c, d = rng.uniform(-1, 1, 4)
        chans.append(np.sin(3 * a * xx + 2 * b * yy + c) + 0.5 * np.cos(4 * d * xx * yy))
    img = np.stack(chans, -1)
    img = (img - img.min()) / (img.max() - img.min())
    return (lo + img * (hi - lo)).astype(np.uint8)


def noisy(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def dense_solve(target, source, mask, mode):
    """The discrete Poisson equation written out pixel by pixel and solved densely."""
    h, w = mask.shape
    pix = [(y, x) for y in range(h) for x in range(w) if mask[y, x]]
    idx = {p: i for i, p in enumerate(pix)}
    n = len(pix)
    t, g = target.astype(float), source.astype(float)
    out = t.copy()
    for c in range(t.shape[2]):
        A = np.zeros((n, n))
        b = np.zeros(n)
        for (y, x), i in idx.items():
            for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                qy, qx = y + dy, x + dx
                if not (0 <= qy < h and 0 <= qx < w):
                    continue  # Neumann: the neighbour does not exist
                A[i, i] += 1
                if mask[qy, qx]:
                    A[i, idx[(qy, qx)]] -= 1
                else:
                    b[i] += t[qy, qx, c]
                vs = g[y, x, c] - g[qy, qx, c]
                vt = t[y, x, c] - t[qy, qx, c]
                b[i] += vt if mode == "mixed" and abs(vt) > abs(vs) else vs
        sol = np.linalg.solve(A, b)
        for (y, x), i in idx.items():
            out[y, x, c] = sol[i]
    return out


@pytest.mark.parametrize("mode", ["normal", "mixed"])
@pytest.mark.parametrize("touch_border", [False, True])
def test_poisson_exact_against_dense_solve(mode, touch_border):
    h, w = 9, 11
    target, source = noisy(h, w, 1), noisy(h, w, 2)
    mask = np.zeros((h, w), bool)
    mask[2:7, 3:9] = True
    mask[4, 2] = True
    if touch_border:
        mask[0:3, 5:7] = True  # reaches the top row: Neumann there
    got = poisson_solve(target, source, mask, mode)
    want = dense_solve(target, source, mask, mode)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)
    # the uint8 method is the clipped, rounded solution
    api = poisson_normal if mode == "normal" else poisson_mixed
    np.testing.assert_array_equal(api(target, source, mask)[mask], np.rint(np.clip(want, 0, 255)).astype(np.uint8)[mask])


def test_constant_offset_source_gives_back_the_target():
    target = smooth(40, 50, 3)
    source = (target.astype(int) + 37).astype(np.uint8)  # no overflow: target <= 200
    mask = np.zeros((40, 50), bool)
    mask[8:30, 10:41] = True
    out = poisson_normal(target, source, mask)
    np.testing.assert_array_equal(out, target)
    # cv2's approximate solver (and its uint8 rounding inside) gets close
    assert np.abs(cv2_normal(target, source, mask).astype(int) - target)[mask].max() <= 3


def test_mixed_picks_the_stronger_gradient():
    target = np.zeros((3, 5, 3), np.uint8)
    target[1, 2] = 200  # a strong spike under the mask in the target
    source = np.full((3, 5, 3), 50, np.uint8)  # flat source: zero gradients
    mask = np.zeros((3, 5), bool)
    mask[1, 2] = True
    assert poisson_mixed(target, source, mask)[1, 2].tolist() == [200, 200, 200]  # the target's gradients win
    assert poisson_normal(target, source, mask)[1, 2].tolist() == [0, 0, 0]  # flat source: mean of the neighbours
    # and the source's gradients win where they are stronger
    source2 = source.copy()
    source2[1, 2] = 255  # gradient 205 > 200
    assert poisson_mixed(target, source2, mask)[1, 2].tolist() == [205, 205, 205]


def masks(h, w):
    inner = np.zeros((h, w), bool)
    inner[10:30, 12:40] = True
    border = np.zeros((h, w), bool)
    border[0:15, 0:20] = True  # touches two image borders
    border[25:, 35:] = True  # and the other two
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - 20) ** 2 + (xx - 25) ** 2 < 150
    return {"inner": inner, "border": border, "disc": disc}


@pytest.mark.parametrize("which", ["inner", "border", "disc"])
@pytest.mark.parametrize("name", list(BASELINES))
def test_contract_outside_unchanged_inputs_untouched(name, which):
    h, w = 40, 52
    target, source = smooth(h, w, 5), smooth(h, w, 6, 10, 250)
    mask = masks(h, w)[which].astype(np.uint8) * 7  # any non-zero value counts
    copies = (target.copy(), source.copy(), mask.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = BASELINES[name](target, source, mask)
    assert out.dtype == np.uint8 and out.shape == target.shape
    m = mask != 0
    np.testing.assert_array_equal(out[~m], target[~m])
    for before, after in zip(copies, (target, source, mask), strict=True):
        np.testing.assert_array_equal(before, after)
    assert target.flags.writeable and source.flags.writeable


@pytest.mark.parametrize("name", list(BASELINES))
def test_empty_mask_returns_the_target(name):
    target, source = smooth(20, 20, 1), smooth(20, 20, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = BASELINES[name](target, source, np.zeros((20, 20), bool))
    np.testing.assert_array_equal(out, target)


def test_cv2_empty_mask_warns_and_border_masks_are_solved():
    target, source = smooth(30, 30, 1), smooth(30, 30, 2)
    with pytest.warns(RuntimeWarning, match="empty mask"):
        seamless_clone(target, source, np.zeros((30, 30), bool))
    # a mask covering a whole side: every mask pixel is solved (none left at the target's zeros)
    hidden = target.copy()
    mask = np.zeros((30, 30), bool)
    mask[:, :12] = True
    hidden[mask] = 0
    out = cv2_normal(hidden, source, mask)
    assert out[mask].min() > 0


def test_cv2_alignment_and_mask_copy():
    h, w = 48, 64
    target, source = smooth(h, w, 8), smooth(h, w, 9, 60, 180)
    mask = np.zeros((h, w), np.uint8)
    mask[11:30, 13:44] = 255
    assert clone_center(mask) == (13 + 31 // 2, 11 + 19 // 2)
    keep = mask.copy()
    out = cv2_normal(target, source, mask)
    np.testing.assert_array_equal(mask, keep)
    # aligned: the result's Laplacian inside follows the source's (OpenCV is approximate)
    lap = lambda a: (4 * a[1:-1, 1:-1] - a[:-2, 1:-1] - a[2:, 1:-1] - a[1:-1, :-2] - a[1:-1, 2:])  # noqa: E731
    inner = np.zeros((h, w), bool)
    inner[13:28, 15:42] = True
    err = np.abs(lap(out.astype(float)) - lap(source.astype(float)))[inner[1:-1, 1:-1]].mean()
    assert err < 2.0


def test_membrane_fill_reads_nothing_inside():
    target = smooth(20, 24, 4)
    mask = np.zeros((20, 24), bool)
    mask[5:15, 6:18] = True
    a = target.copy()
    b = target.copy()
    b[mask] = 0
    np.testing.assert_array_equal(membrane_fill(a, mask), membrane_fill(b, mask))


def test_reinhard_matches_the_context_statistics():
    from skimage.color import rgb2lab

    h, w = 60, 60
    target = np.zeros((h, w, 3), np.uint8)
    target[:] = (150, 110, 90)
    target += np.random.default_rng(0).integers(0, 20, (h, w, 3), dtype=np.uint8)
    source = noisy(h, w, 3) // 2 + 60
    mask = np.zeros((h, w), bool)
    mask[20:40, 20:40] = True
    out = reinhard(target, source, mask)
    ctx = context_band(mask)
    assert ctx.any() and not (ctx & mask).any()
    lab_out = rgb2lab(out[mask].reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
    lab_ctx = rgb2lab(target[ctx].reshape(-1, 1, 3) / 255.0).reshape(-1, 3)
    np.testing.assert_allclose(lab_out.mean(0), lab_ctx.mean(0), atol=1.0)
    np.testing.assert_allclose(lab_out.std(0), lab_ctx.std(0), atol=1.0)


def test_naive_is_the_composite():
    target, source = noisy(10, 12, 1), noisy(10, 12, 2)
    mask = np.random.default_rng(0).random((10, 12)) > 0.5
    np.testing.assert_array_equal(naive(target, source, mask), np.where(mask[..., None], source, target))


def test_bad_inputs():
    with pytest.raises(ValueError):
        naive(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8), np.ones((4, 4)))
    with pytest.raises(ValueError):
        poisson_normal(np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)))


@pytest.mark.parametrize("shape", ["rect", "ellipse", "corner"])
def test_cv2_clone_of_the_target_itself_is_the_identity(shape):
    # source = target: both guided clones must give the target back (up to OpenCV's rounding);
    # before OpenCV's 3-pixel mask erosion was compensated, NORMAL_CLONE was off by ~4 levels on
    # average and up to ~88 near the rim on such inputs
    import cv2

    rng = np.random.default_rng(5)
    img = np.clip(smooth(96, 120, 7).astype(int) + rng.integers(-40, 41, (96, 120, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((96, 120), np.uint8)
    if shape == "rect":
        mask[20:70, 25:95] = 1
    elif shape == "ellipse":
        cv2.ellipse(mask, (60, 48), (40, 22), 30, 0, 360, 1, -1)
    else:  # touches the image's corner
        mask[:30, 80:] = 1
    mask = mask.astype(bool)
    for flags in (cv2.NORMAL_CLONE, cv2.MIXED_CLONE):
        out = seamless_clone(img, img, mask, flags)
        assert np.abs(out.astype(int) - img)[mask].max() <= 1
        np.testing.assert_array_equal(out[~mask], img[~mask])
