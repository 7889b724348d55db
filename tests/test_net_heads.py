"""G's output heads (residual, affine colour map), low-resolution maps, the Poisson seam, masked L1."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pastenet.config import preset
from pastenet.errors import ConfigError
from pastenet.losses import border_band, masked_l1
from pastenet.models import Generator, apply_head, compose, network_size, predict
from pastenet.seam import membrane, poisson_seam

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _inputs(h=64, w=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    comp = torch.rand(2, 3, h, w, generator=g) * 2 - 1
    mask = torch.zeros(2, 1, h, w)
    mask[:, :, 16:40, 20:50] = 1
    return comp, mask


def test_affine_head_matches_the_formula():
    comp, mask = _inputs()
    out = torch.randn(2, 12, 64, 64) * 0.1
    y = apply_head(preset("colormap"), out, comp, mask)
    s = (comp[0, :, 20, 30] + 1) / 2
    A = out[0, :9, 20, 30].reshape(3, 3)
    expected = 2 * (s + A @ s + out[0, 9:12, 20, 30]) - 1
    torch.testing.assert_close(y[0, :, 20, 30], expected)
    assert torch.equal(y[mask.expand_as(y) == 0], comp[mask.expand_as(comp) == 0])


def test_untrained_affine_model_is_the_naive_paste():
    comp, mask = _inputs()
    G = Generator(preset("colormap", resolution=64))
    torch.testing.assert_close(predict(G, comp, mask), comp, rtol=0, atol=0)


def test_residual_head_without_resampling_is_the_paper():
    comp, mask = _inputs()
    torch.manual_seed(0)
    G = Generator(preset("tiny", resolution=64))
    noise = [torch.randn(s) for s in G.noise_shapes(2, 64, 64)]
    torch.testing.assert_close(predict(G, comp, mask, noise=noise), compose(G(torch.cat([comp, mask], 1), noise=noise), comp, mask))


def test_network_size():
    cm = preset("colormap")
    assert network_size(cm, 256, 256) == (64, 64)
    assert network_size(cm, 512, 512, scale=0.5) == (64, 64)
    assert network_size(cm, 100, 30) == (24, 8)  # rounded to multiples of 8, at least one
    assert network_size(preset("tiny"), 128, 96) == (128, 96)
    with pytest.raises(ConfigError):
        network_size(cm, 64, 64, scale=0)


def test_colormap_preset_validation():
    with pytest.raises(ConfigError):
        preset("colormap", output="rgb")
    with pytest.raises(ConfigError):
        preset("colormap", resolution=80)  # not a multiple of map_stride x 8
    assert preset("colormap").out_channels == 12 and preset("tiny").out_channels == 3


def test_membrane_is_harmonic_and_meets_the_boundary():
    rng = np.random.default_rng(0)
    d = rng.normal(size=(30, 40, 2))
    m = np.zeros((30, 40), bool)
    m[5:25, 8:30] = True
    f = membrane(d, m)
    ring = np.zeros_like(m)
    ring[4:26, 7:31] = True
    ring &= ~m
    g = np.where(ring[..., None], d, f)  # boundary values substituted around the mask
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    assert np.abs(lap[m[1:-1, 1:-1]]).max() < 1e-9
    # a constant offset is carried in unchanged
    np.testing.assert_allclose(membrane(np.full((30, 40, 1), 3.0), m)[m], 3.0)


def test_poisson_seam_equals_poisson_image_editing():
    from benchmarks.baselines import BASELINES

    rng = np.random.default_rng(1)
    t = rng.integers(0, 256, (48, 56, 3)).astype(np.uint8)
    s = rng.integers(0, 256, (48, 56, 3)).astype(np.uint8)
    m = np.zeros((48, 56), bool)
    m[10:30, 5:40] = True
    m[0:4, 50:56] = True  # touching the image border: zero flux there
    y = np.clip(np.floor(poisson_seam(s.astype(float), t.astype(float), m) + 0.5), 0, 255)
    np.testing.assert_array_equal(y, BASELINES["poisson_normal"](t, s, m))


def test_poisson_seam_on_a_mask_without_boundary_keeps_the_pasted_pixels():
    p = np.random.default_rng(2).random((8, 8, 3))
    np.testing.assert_allclose(poisson_seam(p, np.zeros_like(p), np.ones((8, 8), bool)), p, atol=1e-6)


@pytest.mark.parametrize("corner", [False, True])
def test_poisson_seam_on_the_grown_bounding_box_is_the_whole_images_bit_for_bit(corner):
    """Training's prior and paste solve on ``window(mask)``: the same system as the whole image's."""
    from pastenet.seam import window

    rng = np.random.default_rng(3)
    p, t = rng.uniform(0, 255, (2, 40, 50, 6)).astype(np.float32)
    m = np.zeros((40, 50), bool)
    m[12:30, 9:33] = True
    m[20:25, 5:9] = True  # not convex
    if corner:
        m[:6, 40:] = True  # touches the image's border: the window stops there too
    box = window(m)
    whole = poisson_seam(p, t, m)
    cropped = poisson_seam(p[box], t[box], m[box])
    assert np.array_equal(whole[box][m[box]], cropped[m[box]])


def test_masked_l1_weighs_small_and_large_masks_alike():
    y, i = torch.zeros(2, 3, 32, 32), torch.ones(2, 3, 32, 32)
    m = torch.zeros(2, 1, 32, 32)
    m[0, :, 2:6, 2:6] = 1
    m[1, :, 0:30, 0:30] = 1
    y = y * m + i * (1 - m)  # error 1 inside each mask, 0 outside
    assert masked_l1(y, i, m).item() == pytest.approx(1.0)
    assert masked_l1(y, i, m, border_weight=3.0).item() == pytest.approx(1.0)
    band = border_band(m, 1)
    assert band[0].sum() == 12 and band[1].sum() == 4 * 30 - 4  # beyond the image counts as outside


@pytest.mark.parametrize("width", [1, 2, 4, 7])
def test_border_band_equals_the_square_max_pool_reference(width):
    g = torch.Generator().manual_seed(width)
    m = (torch.rand(3, 1, 37, 53, generator=g) > 0.3).float()  # ragged masks touching every image border
    m[2] = 1.0  # a mask covering the whole image: its band is the image's rim
    outside = torch.nn.functional.pad(1.0 - m, (width,) * 4, value=1.0)
    reference = m * torch.nn.functional.max_pool2d(outside, 2 * width + 1, stride=1)
    assert torch.equal(border_band(m, width), reference)
    assert border_band(m, width)[2].sum() == 37 * 53 - max(0, 37 - 2 * width) * max(0, 53 - 2 * width)


def test_untrained_colormap_paste_is_poisson_normal():
    from PIL import Image
    from skimage import data

    from benchmarks.baselines import BASELINES
    from pastenet.paste import PasteModel, paste

    t = np.asarray(Image.fromarray(data.astronaut()).resize((128, 128)))
    s = np.asarray(Image.fromarray(data.chelsea()).resize((128, 128)))
    m = np.zeros((128, 128), bool)
    m[30:80, 40:100] = True
    pm = PasteModel.from_generator(Generator(preset("colormap", work_side=64)), device="cpu")
    y = paste(pm, t, s, m)
    assert np.abs(y.astype(int) - BASELINES["poisson_normal"](t, s, m)).max() <= 1
    assert np.array_equal(y[~m], t[~m])
    naive = paste(pm, t, s, m, seam="none", scale=1.0)
    assert np.array_equal(naive, np.where(m[..., None], s, t))


def test_paste_scale_and_seam_are_checked():
    from pastenet.errors import PasteError
    from pastenet.paste import PasteModel, paste

    pm = PasteModel.from_generator(Generator(preset("colormap", resolution=64)), device="cpu")
    img = np.zeros((64, 64, 3), np.uint8)
    m = np.zeros((64, 64), bool)
    m[10:20, 10:20] = True
    for bad in (dict(scale=0), dict(scale=1.5), dict(scale="big"), dict(seam="soft")):
        with pytest.raises(PasteError):
            paste(pm, img, img, m, **bad)



def test_auto_detail_is_the_map_for_prior_models_and_source_detail_otherwise():
    from pastenet.errors import PasteError
    from pastenet.paste import _detail_sigma

    plain, prior = preset("colormap", work_side=64), preset("colormap", work_side=64, prior="poisson")
    assert _detail_sigma("auto", prior, 0.5) == 0.0 == _detail_sigma("map", prior, 0.5)  # the map at every frequency
    assert _detail_sigma("source", prior, 0.5) == prior.map_stride / 0.5
    assert _detail_sigma("auto", plain, 0.5) == plain.map_stride / 0.5 == _detail_sigma("source", plain, 0.5)
    assert _detail_sigma("auto", preset("tiny", resolution=64), 1.0) == 0.0  # residual head: no detail transfer
    with pytest.raises(PasteError, match="detail"):
        _detail_sigma("fine", prior, 1.0)


def test_prior_models_paste_poisson_normal_when_the_map_is_the_identity():
    from PIL import Image
    from skimage import data

    from benchmarks.baselines import BASELINES
    from pastenet.paste import PasteModel, paste

    t = np.asarray(Image.fromarray(data.astronaut()).resize((128, 128)))
    s = np.asarray(Image.fromarray(data.chelsea()).resize((128, 128)))
    m = np.zeros((128, 128), bool)
    m[30:80, 40:100] = True
    config = preset("colormap", work_side=64, prior="poisson")
    pm = PasteModel.from_generator(Generator(config), device="cpu")
    expected = BASELINES["poisson_normal"](t, s, m).astype(int)
    for kw in (dict(context=0), dict(seam="none"), dict(seam="none", detail="map", scale=1.0)):
        y = paste(pm, t, s, m, **kw)
        assert np.abs(y.astype(int) - expected).max() <= 1, kw
        assert np.array_equal(y[~m], t[~m])
    with pytest.raises(ConfigError, match="affine"):
        preset("tiny", prior="poisson")
    with pytest.raises(ConfigError, match="prior"):
        preset("colormap", prior="laplace")
    assert "prior" not in preset("colormap").to_record() and config.to_record()["prior"] == "poisson"


def test_membrane_reuses_the_factorisation_of_a_mask_and_solves_the_same():
    from pastenet import seam

    rng = np.random.default_rng(3)
    mask = np.zeros((40, 50), bool)
    mask[8:30, 10:41] = True
    mask[15:20, 20:25] = False  # a hole: two boundaries
    a, b = rng.normal(size=(40, 50, 3)), rng.normal(size=(40, 50, 3))
    seam._FACTORS.clear()
    fresh_a = seam.membrane(a, mask)
    seam._FACTORS.clear()
    fresh_b = seam.membrane(b, mask)
    assert len(seam._FACTORS) == 1
    # the second mask-equal call takes the kept factorisation and gives the same numbers
    np.testing.assert_array_equal(seam.membrane(a, mask), fresh_a)
    assert len(seam._FACTORS) == 1
    other = mask.copy()
    other[30, 20] = True
    seam.membrane(a, other)  # another mask: a new entry, at most _FACTORS_KEPT kept
    assert len(seam._FACTORS) == 2
    for k in range(seam._FACTORS_KEPT + 2):
        m = mask.copy()
        m[0, k] = True
        seam.membrane(b, m)
    assert len(seam._FACTORS) == seam._FACTORS_KEPT
    np.testing.assert_array_equal(seam.membrane(b, mask), fresh_b)


def _astronaut_and_cat(size=128):
    from PIL import Image
    from skimage import data

    t = np.asarray(Image.fromarray(data.astronaut()).resize((size, size)))
    s = np.asarray(Image.fromarray(data.chelsea()).resize((size, size)))
    return t, s


def test_context_mask_grows_by_a_disc_where_the_source_has_pixels():
    from pastenet.paste import context_mask

    placed = np.zeros((40, 50), bool)
    placed[18:22, 20:24] = True
    assert context_mask(placed, (40, 50), (0, 0), 0) is placed
    grown = context_mask(placed, (40, 50), (0, 0), 5)
    yy, xx = np.nonzero(grown)
    assert grown[placed].all() and grown.sum() > placed.sum()
    assert yy.min() == 13 and yy.max() == 26 and xx.min() == 15 and xx.max() == 28  # 5 px on every side
    assert not grown[13, 15]  # a disc, not a square: the corners stay out
    # a source of 30x30 placed at (dy, dx) = (5, 22) covers target rows 5..34 and columns 22..49
    clipped = context_mask(placed, (30, 30), (5, 22), 5)
    assert clipped[placed].all()  # the region itself is always kept
    outside = np.ones_like(placed)
    outside[5:35, 22:50] = False
    assert not (clipped & outside & ~placed).any() and (clipped & ~outside & ~placed).any()


@pytest.mark.parametrize("radius", [1, 3, 8, 33])
def test_context_mask_dilates_its_window_exactly_as_the_whole_frame(radius):
    """The dilation runs on the region's box grown by the radius: the same pixels as cv2.dilate over the whole frame."""
    import cv2

    from pastenet.paste import context_mask

    rng = np.random.default_rng(radius)
    for shape, box, offset in (((90, 120), (30, 60, 40, 90), (0, 0)), ((70, 80), (0, 12, 70, 80), (3, -4)), ((64, 64), (50, 64, 1, 9), (-2, 5))):
        placed = np.zeros(shape, bool)
        y0, y1, x0, x1 = box
        placed[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.3  # ragged, touching the border in two cases
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        whole = cv2.dilate(placed.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0) != 0
        H, W = shape
        covered = np.zeros(shape, bool)
        covered[max(0, offset[0]) : max(0, min(H, 60 + offset[0])), max(0, offset[1]) : max(0, min(W, 70 + offset[1]))] = True
        assert np.array_equal(context_mask(placed, (60, 70), offset, radius), (whole & covered) | placed)
        moved = np.roll(placed, (2, -3), axis=(0, 1))  # the same region moved: a cached dilation when it fits the frame
        whole = cv2.dilate(moved.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0) != 0
        assert np.array_equal(context_mask(moved, (90, 120), (0, 0), radius), whole | moved)
    empty = np.zeros((10, 10), bool)
    assert not context_mask(empty, (10, 10), (0, 0), 4).any()


def test_context_keeps_poisson_normal_for_an_identity_map_and_changes_only_the_region():
    from benchmarks.baselines import BASELINES
    from pastenet.paste import PasteModel, paste

    t, s = (a // 2 + 64 for a in _astronaut_and_cat())  # mid-range: no blend leaves [0, 255], where the prior is clipped
    m = np.zeros((128, 128), bool)
    m[40:70, 50:90] = True
    pm = PasteModel.from_generator(Generator(preset("colormap", work_side=64, prior="poisson")), device="cpu")
    expected = BASELINES["poisson_normal"](t, s, m).astype(int)
    for context in (0, 2, 4, 16, "auto"):  # the grown region's membrane is harmonic inside the region: the seam absorbs it
        y = paste(pm, t, s, m, context=context)
        assert np.abs(y.astype(int) - expected).max() <= 1, context
        assert np.array_equal(y[~m], t[~m])


def test_context_changes_what_G_sees_and_is_checked(monkeypatch):
    import pastenet.paste as P
    from pastenet.errors import PasteError

    t, s = _astronaut_and_cat()
    m = np.zeros((128, 128), bool)
    m[40:70, 50:90] = True
    pm = _random_colormap_model()
    seen = []
    real = P.network_output

    def spy(G, composite, mask, **kw):
        seen.append(mask[0, 0].numpy().astype(bool).copy())
        return real(G, composite, mask, **kw)

    monkeypatch.setattr(P, "network_output", spy)
    one = dict(ensemble="none")  # one G pass per paste
    y0 = P.paste(pm, t, s, m, context=0, **one)
    y8 = P.paste(pm, t, s, m, context=8, **one)
    assert np.array_equal(seen[0], m) and np.array_equal(seen[1], P.context_mask(m, s.shape[:2], (0, 0), 8))
    assert not np.array_equal(y0, y8) and np.array_equal(y8[~m], t[~m])
    P.paste(pm, t, s, m, context="auto", **one)
    assert np.array_equal(seen[2], P.context_mask(m, s.shape[:2], (0, 0), P.CONTEXT_PX))  # scale 1: 16 px
    P.paste(pm, t, s, m, seam="none", **one)
    assert np.array_equal(seen[3], m)  # auto: no context without the seam
    for bad in (-1, "wide", True, 2.5):
        with pytest.raises(PasteError, match="context"):
            P.paste(pm, t, s, m, context=bad)
    with pytest.raises(PasteError, match="seam"):
        P.paste(pm, t, s, m, context=8, seam="none")


def _random_colormap_model(seed=0):
    from pastenet.paste import PasteModel

    g = Generator(preset("colormap", work_side=128, prior="poisson"))
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return PasteModel.from_generator(g, device="cpu")


def test_flip_ensemble_averages_the_mirrored_map():
    from pastenet.paste import mirror_averaged

    seen = []

    def ramp_G(x, *, noise=None, generator=None):  # a red gain rising from 0 (left) to 0.4 (right), whatever the input
        seen.append((x.clone(), noise))
        out = torch.zeros(x.shape[0], 12, *x.shape[-2:])
        out[:, 0] = torch.linspace(0.0, 0.4, x.shape[-1])
        return out

    x = torch.rand(1, 7, 16, 24)
    noise = [torch.rand(1, 1, 16, 24), torch.rand(1, 1, 8, 12)]
    out = mirror_averaged(ramp_G)(x, noise=noise)
    assert len(seen) == 2 and torch.equal(seen[1][0], x.flip(-1))  # the second pass sees the mirror image
    assert all(torch.equal(a, b.flip(-1)) for a, b in zip(seen[1][1], noise, strict=True))  # and mirrored noise
    torch.testing.assert_close(out[:, 0], torch.full((1, 16, 24), 0.2))  # the ramp's mirror average
    assert not out[:, 1:].any()


def _count_G_passes(pm):
    calls = []
    pm.generator.register_forward_hook(lambda module, args, output: calls.append(1))
    return calls


def test_flip_ensemble_makes_paste_mirror_equivariant_and_is_checked():
    from pastenet.errors import PasteError
    from pastenet.paste import paste

    t, s = _astronaut_and_cat()
    m = np.zeros((128, 128), bool)
    m[40:70, 30:80] = True
    pm = _random_colormap_model()
    calls = _count_G_passes(pm)
    paste(pm, t, s, m)
    assert len(calls) == 2  # auto: the ensemble for colour-map models
    for ensemble, worst in (("flip", 1), ("none", None)):
        y = paste(pm, t, s, m, ensemble=ensemble).astype(int)
        mirrored = paste(pm, t[:, ::-1], s[:, ::-1], m[:, ::-1], ensemble=ensemble)[:, ::-1].astype(int)
        gap = np.abs(y - mirrored).max()
        assert gap <= worst if worst is not None else gap > 3, (ensemble, gap)
    for bad in ("both", None, 1):
        with pytest.raises(PasteError, match="ensemble"):
            paste(pm, t, s, m, ensemble=bad)


def test_auto_ensemble_is_none_for_the_papers_residual_head():
    import pastenet.paste as P

    torch.manual_seed(0)
    pm = P.PasteModel.from_generator(Generator(preset("tiny", resolution=64)), device="cpu")
    t, s = (a[::2, ::2] for a in _astronaut_and_cat())
    m = np.zeros((64, 64), bool)
    m[20:40, 15:45] = True
    calls = _count_G_passes(pm)
    assert np.array_equal(P.paste(pm, t, s, m), P.paste(pm, t, s, m, ensemble="none")) and len(calls) == 2
    P.paste(pm, t, s, m, ensemble="flip")
    assert len(calls) == 4


def test_garrote_factor_reference_values():
    from pastenet.paste import garrote_factor

    region = np.zeros((4, 5), bool)
    region[1:3, 1:4] = True
    change = np.zeros((4, 5, 3), np.float32)
    t = 6.0
    unit = 2 * t / 255  # t levels in [-1, 1] units
    assert garrote_factor(change, region, t) == 0.0  # nothing to correct
    change[region] = (unit * 0.6, unit * 0.8, 0.0)  # rms exactly t
    assert garrote_factor(change, region, t) == 0.0
    change[region] *= 3  # rms 3t: 1 − 1/9
    assert garrote_factor(change, region, t) == pytest.approx(8 / 9, rel=1e-6)
    change[0, 0] = 100.0  # outside the region: not counted
    assert garrote_factor(change, region, t) == pytest.approx(8 / 9, rel=1e-6)
    assert garrote_factor(change, region, 0.0) == 1.0 and garrote_factor(change, np.zeros_like(region), t) == 1.0


def test_min_change_drops_a_small_correction_and_keeps_most_of_a_large_one(monkeypatch):
    import torch

    import pastenet.paste as P
    from benchmarks.baselines import BASELINES
    from pastenet.errors import PasteError

    t, s = (a // 2 + 64 for a in _astronaut_and_cat())
    m = np.zeros((128, 128), bool)
    m[40:70, 50:90] = True
    pm = P.PasteModel.from_generator(Generator(preset("colormap", work_side=128, prior="poisson")), device="cpu")
    real = P.network_output
    gain = {"k": 0.0}

    def gain_map(G, composite, mask, **kw):  # G's map: y = s + k·s (a gain of 1 + k on the prior)
        out = torch.zeros_like(real(G, composite, mask, **kw))
        for c in range(3):
            out[:, 4 * c] = gain["k"]
        return out

    monkeypatch.setattr(P, "network_output", gain_map)
    poisson = BASELINES["poisson_normal"](t, s, m).astype(int)
    gain["k"] = 0.01  # about 1.3 levels of correction: under a threshold of 6
    assert np.abs(P.paste(pm, t, s, m, min_change=6).astype(int) - poisson).max() <= 1
    assert np.abs(P.paste(pm, t, s, m).astype(int) - poisson).max() >= 1  # the default (0) makes it
    gain["k"] = 0.3  # about 40 levels: the garrote keeps (40² − 6²) / 40² ≈ 98 % of it
    whole = P.paste(pm, t, s, m).astype(int) - poisson
    kept = P.paste(pm, t, s, m, min_change=6).astype(int) - poisson
    ratio = np.abs(kept[m]).mean() / np.abs(whole[m]).mean()
    assert 0.9 < ratio < 1.0
    assert np.array_equal(P.paste(pm, t, s, m, min_change=1000)[~m], t[~m])
    assert np.abs(P.paste(pm, t, s, m, min_change=1000).astype(int) - poisson).max() <= 1  # every correction dropped
    for bad in (-1, "auto", True, float("nan"), float("inf")):
        with pytest.raises(PasteError, match="min_change"):
            P.paste(pm, t, s, m, min_change=bad)


def test_membrane_solver_settings_change_no_rounded_value():
    """The column-by-column factorisation of small systems (``seam._supernodes``) rounds as SuperLU's defaults do.

    Training rounds the prior to uint8 and pastes round their result, so the faster settings must
    leave every rounded value of training-sized systems (rotated rectangles of 4,000-20,000
    pixels, random boundary values of 0-255) where SuperLU's default supernodes put it.
    """
    import cv2
    import scipy.sparse.linalg as sla

    from pastenet import seam

    assert seam._supernodes(seam._SMALL_SYSTEM - 1) == {"relax": 1, "panel_size": 1} and seam._supernodes(seam._SMALL_SYSTEM) == {}
    rng = np.random.default_rng(5)
    plain = sla.splu
    differing = 0
    for _ in range(12):
        m = np.zeros((200, 200), np.uint8)
        box = cv2.boxPoints(((100, 100), tuple(rng.uniform(60, 140, 2)), rng.uniform(0, 90))).astype(np.int32)
        cv2.fillPoly(m, [box], 1)
        mask = m.astype(bool)
        d = rng.uniform(0, 255, (200, 200, 3))
        seam._FACTORS.clear()
        fast = seam.membrane(d, mask)
        seam._FACTORS.clear()
        try:
            sla.splu = lambda A, **kw: plain(A, **{k: v for k, v in kw.items() if k not in ("relax", "panel_size")})
            default = seam.membrane(d, mask)
        finally:
            sla.splu = plain
            seam._FACTORS.clear()
        assert np.abs(fast - default).max() < 1e-9
        differing += int((np.rint(fast[mask]) != np.rint(default[mask])).sum())
    assert differing == 0


def test_paste_factorises_each_system_once_with_the_seams_in_the_background(monkeypatch):
    """The seam's factorisation runs on a thread beside the prior's: each system factorised once, the same paste."""
    import threading

    import scipy.sparse.linalg as sla
    from PIL import Image
    from skimage import data

    from pastenet import paste as paste_module
    from pastenet import seam
    from pastenet.paste import PasteModel, paste

    t = np.asarray(Image.fromarray(data.astronaut()).resize((160, 160)))
    s = np.asarray(Image.fromarray(data.chelsea()).resize((160, 160)))
    m = np.zeros((160, 160), bool)
    m[30:110, 40:130] = True
    gen = Generator(preset("colormap", work_side=64, prior="poisson"))
    torch.nn.init.normal_(gen.to_rgb.weight, std=0.05)  # a map that changes colours, so the seam has work
    pm = PasteModel.from_generator(gen, device="cpu")
    plain = sla.splu
    made: list[tuple[int, str]] = []

    def counting(A, **kw):
        made.append((A.shape[0], threading.current_thread().name))
        return plain(A, **kw)

    monkeypatch.setattr(sla, "splu", counting)
    seam._FACTORS.clear()
    y = paste(pm, t, s, m)
    sizes = [n for n, _ in made]
    assert len(made) == 2 and len(set(sizes)) == 2  # the prior's (grown region) and the seam's, once each
    assert (int(m.sum()), "seam-factorisation") in made  # the region's own system: on the background thread
    monkeypatch.setattr(paste_module, "_factorise_in_background", lambda mask: None)
    seam._FACTORS.clear()
    np.testing.assert_array_equal(paste(pm, t, s, m), y)
