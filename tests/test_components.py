"""Each component of T alone: identity, agreement with the reference, ranges, invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.color import hsv2rgb, rgb2hsv

from pastegen import reference
from pastegen.components import color, crop, geometric, mask, mix, shading
from pastegen.errors import SpecError


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    import skimage.data
    from skimage.transform import resize

    small = resize(skimage.data.astronaut(), (48, 64), anti_aliasing=True)
    return (small * 255).round().astype(np.uint8)


def random_rgb(rng: np.random.Generator, shape=(32, 40)) -> np.ndarray:
    x = rng.random((*shape, 3)).astype(np.float32)
    # Add greys, ties and extremes, where HSV has its special cases.
    x[0, :8] = x[0, :8, :1]
    x[1, :8, 1] = x[1, :8, 0]
    x[2, :4] = 0.0
    x[2, 4:8] = 1.0
    return x


# --- colour ----------------------------------------------------------------------------------


def test_hsv_agrees_with_scikit_image():
    rng = np.random.default_rng(0)
    x = random_rgb(rng)
    np.testing.assert_allclose(color.rgb_to_hsv(x), rgb2hsv(x.astype(np.float64)), atol=2e-6)
    hsv = rng.random((32, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(color.hsv_to_rgb(hsv), hsv2rgb(hsv.astype(np.float64)), atol=2e-6)
    np.testing.assert_allclose(color.hsv_to_rgb(color.rgb_to_hsv(x)), x, atol=2e-6)


def test_color_identity_is_identity(photo):
    out = color.apply(photo, color.identity())
    np.testing.assert_array_equal(out, photo.astype(np.float32) / 255)
    # Even through the HSV round trip (hue 0, saturation 1 but forced through it).
    p = color.ColorParams(brightness=0.0, contrast=(1, 1, 1), hue=1e-12, saturation=1.0)
    np.testing.assert_allclose(color.apply(photo, p), photo / 255.0, atol=3e-6)


def test_color_matches_reference_over_many_params(photo):
    rng = np.random.default_rng(1)
    spec = color.ColorSpec()
    region = np.zeros(photo.shape[:2], bool)
    region[10:30, 5:50] = True
    for trial in range(60):
        p = color.sample(rng, spec)
        reg = region if trial % 2 else None
        got = color.apply(photo, p, region=reg)
        want = reference.color(photo / 255.0, p, reg)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"trial {trial}: {p}")


def test_contrast_mean_is_taken_over_the_region():
    rng = np.random.default_rng(2)
    img = rng.uniform(0.3, 0.6, (20, 30, 3)).astype(np.float32)
    img[:, 15:] += 0.3  # the right half is brighter, so the means differ by region
    region = np.zeros((20, 30), bool)
    region[:, :15] = True
    p = color.ColorParams(brightness=0.0, contrast=(0.5, 1.2, 1.4), hue=0.0, saturation=1.0)
    out = color.apply(img, p, region=region)
    # Inside the region the channel means are preserved; over the frame they are not.
    np.testing.assert_allclose(out[region].mean(axis=0), img[region].mean(axis=0), atol=1e-5)
    assert not np.allclose(out.reshape(-1, 3).mean(axis=0), img.reshape(-1, 3).mean(axis=0), atol=1e-3)
    with pytest.raises(SpecError):
        color.apply(img, p, region=np.zeros((20, 30), bool))


def test_brightness_hue_saturation_do_what_they_say():
    grey = np.full((4, 4, 3), 0.4, np.float32)
    out = color.apply(grey, color.ColorParams(brightness=0.25, contrast=(1, 1, 1), hue=0.3, saturation=1.5))
    np.testing.assert_allclose(out, 0.65, atol=1e-6)  # greys only move with brightness
    red = np.zeros((2, 2, 3), np.float32)
    red[..., 0] = 0.8
    red[..., 1] = 0.2
    out = color.apply(red, color.ColorParams(brightness=0.0, contrast=(1, 1, 1), hue=1 / 3, saturation=1.0))
    np.testing.assert_allclose(out[0, 0], [0.0, 0.8, 0.2], atol=1e-6)  # a third of a turn: orange-red -> green
    out = color.apply(red, color.ColorParams(brightness=0.0, contrast=(1, 1, 1), hue=-1.0, saturation=0.0))
    np.testing.assert_allclose(out[0, 0], [0.8, 0.8, 0.8], atol=1e-6)  # hue wraps; S = 0 is grey at V


def test_color_sampling_stays_in_range_and_covers_it():
    rng = np.random.default_rng(3)
    spec = color.ColorSpec()
    draws = [color.sample(rng, spec) for _ in range(3000)]
    for name, (lo, hi) in [("brightness", spec.brightness), ("hue", spec.hue), ("saturation", spec.saturation)]:
        v = np.array([getattr(d, name) for d in draws])
        assert v.min() >= lo and v.max() <= hi
        assert v.min() < lo + 0.01 * (hi - lo) and v.max() > hi - 0.01 * (hi - lo)
    lam = np.array([d.contrast for d in draws])
    assert lam.min() >= 0.5 and lam.max() <= 1.5 and lam.min() < 0.51 and lam.max() > 1.49


@pytest.mark.parametrize(
    "kwargs",
    [{"brightness": (0.5, -0.5)}, {"contrast": (-1, 1)}, {"hue": (0, 2)}, {"saturation": ("a", 1)}, {"brightness": (0, math.inf)}],
)
def test_color_spec_rejects_bad_ranges(kwargs):
    with pytest.raises(SpecError):
        color.ColorSpec(**kwargs)


def test_color_spec_scaled_shrinks_towards_identity():
    spec = color.ColorSpec().scaled(0.0)
    p = color.sample(np.random.default_rng(0), spec)
    assert p == color.identity()
    half = color.ColorSpec().scaled(0.5)
    assert half.contrast == (0.75, 1.25) and half.hue == (-0.25, 0.25)


# --- mixing field and shading ------------------------------------------------------------------


def test_mix_field_matches_reference_bilinear_resize():
    rng = np.random.default_rng(4)
    for shape in [(64, 48), (512, 512), (10, 10), (37, 91)]:
        p = mix.sample(rng, mix.MixSpec())
        got = mix.field_image(*shape, p)
        np.testing.assert_allclose(got, reference.mix_field(*shape, p), atol=1e-6)
        assert got.min() >= 0 and got.max() <= 1


def test_mix_grid_is_salt_and_pepper_with_the_given_probability():
    rng = np.random.default_rng(5)
    grids = np.stack([mix.sample(rng, mix.MixSpec(grid=(10, 10), probability=0.3)).grid for _ in range(400)])
    assert set(np.unique(grids)) == {0, 1}
    assert abs(grids.mean() - 0.3) < 0.01
    assert mix.identity().grid.shape == (10, 10) and mix.identity().grid.all()
    with pytest.raises(SpecError):
        mix.MixSpec(probability=1.5)
    with pytest.raises(SpecError):
        mix.MixParams(grid=np.full((3, 3), 2))


def test_shading_matches_reference_and_reduces_to_color(photo):
    rng = np.random.default_rng(6)
    spec = color.ColorSpec()
    region = mask.rasterize(48, 64, mask.MaskParams(cx=30, cy=24, width=30, height=20, angle=20))
    for _ in range(20):
        a, b = color.sample(rng, spec), color.sample(rng, spec)
        m = mix.sample(rng, mix.MixSpec())
        got = shading.apply(photo, a, b, m, region=region)
        np.testing.assert_allclose(got, reference.shading(photo / 255.0, a, b, m, region), atol=1e-5)
    a = color.sample(rng, spec)
    np.testing.assert_array_equal(shading.apply(photo, a, color.identity(), mix.identity()), color.apply(photo, a))
    np.testing.assert_array_equal(
        shading.apply(photo, color.identity(), color.identity(), mix.sample(rng, mix.MixSpec())), photo / np.float32(255)
    )


# --- geometry --------------------------------------------------------------------------------


def test_homography_maps_corners_to_offset_corners():
    rng = np.random.default_rng(7)
    for _ in range(50):
        p = geometric.sample(rng, geometric.GeometricSpec(sigma=15))
        h = geometric.homography(512, 384, p)
        src = geometric.corners(512, 384)
        pts = np.c_[src, np.ones(4)] @ h.T
        np.testing.assert_allclose(pts[:, :2] / pts[:, 2:], src + p.offsets, atol=1e-7)
        np.testing.assert_allclose(h, reference.homography(512, 384, p), atol=1e-9)


def test_zero_offsets_are_the_identity(photo):
    assert np.array_equal(geometric.homography(48, 64, geometric.identity()), np.eye(3))
    tiny = geometric.GeometricParams(offsets=np.full((4, 2), 1e-9))
    translation = np.array([[1, 0, 1e-9], [0, 1, 1e-9], [0, 0, 1]])
    np.testing.assert_allclose(geometric.homography(48, 64, tiny), translation, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(geometric.apply(photo, geometric.identity()), photo.astype(np.float32))


@pytest.mark.parametrize("border", ["reflect", "constant"])
def test_warp_matches_scikit_image(photo, border):
    rng = np.random.default_rng(8)
    img = photo / 255.0
    for _ in range(10):
        p = geometric.sample(rng, geometric.GeometricSpec(sigma=8))
        got = geometric.apply(img.astype(np.float32), p, border=border)
        np.testing.assert_allclose(got, reference.warp_image(img, p, border), atol=2e-5)


def test_warp_moves_a_point_where_the_homography_says():
    img = np.zeros((64, 64), np.float32)
    img[20, 30] = 1.0
    p = geometric.GeometricParams(offsets=[[3, 3]] * 4)  # a pure translation by (3, 3)
    out = geometric.apply(img, p)
    assert out[23, 33] == pytest.approx(1.0, abs=1e-6)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)


def test_geometric_sampling_range_and_validation():
    rng = np.random.default_rng(9)
    offs = np.stack([geometric.sample(rng, geometric.GeometricSpec(sigma=10)).offsets for _ in range(2000)])
    assert offs.min() >= -10 and offs.max() <= 10 and offs.min() < -9.9 and offs.max() > 9.9
    assert not geometric.sample(rng, geometric.GeometricSpec(sigma=0)).offsets.any()
    with pytest.raises(SpecError):
        geometric.GeometricSpec(sigma=-1)
    with pytest.raises(SpecError):
        geometric.GeometricSpec(border="wrap")


# --- mask ------------------------------------------------------------------------------------


def measured_angle(m: np.ndarray) -> float:
    """Orientation of the mask's major axis in degrees (counter-clockwise as displayed)."""
    ys, xs = np.nonzero(m)
    x, y = xs - xs.mean(), -(ys - ys.mean())  # y up
    cov = np.cov(np.stack([x, y]))
    w, v = np.linalg.eigh(cov)
    major = v[:, np.argmax(w)]
    return math.degrees(math.atan2(major[1], major[0]))


def angle_diff(a: float, b: float, period: float = 180.0) -> float:
    d = (a - b) % period
    return min(d, period - d)


def test_masks_are_binary_nonempty_inside_and_have_sampled_area_and_angle():
    rng = np.random.default_rng(10)
    spec = mask.MaskSpec()
    for _ in range(200):
        p = mask.sample(rng, spec, 128, 160)
        m = mask.rasterize(128, 160, p)
        assert m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1} and m.any()
        perimeter = 2 * (p.width + p.height)
        assert abs(m.sum() - p.area) <= perimeter + 4, (m.sum(), p.area)
        assert -90 <= p.angle <= 90
        if p.width > 1.3 * p.height or p.height > 1.3 * p.width:  # a clear major axis
            expected = p.angle if p.width > p.height else p.angle + 90
            assert angle_diff(measured_angle(m), expected) < 4, (measured_angle(m), p)


def test_mask_matches_pixel_loop_reference():
    rng = np.random.default_rng(11)
    for _ in range(10):
        p = mask.sample(rng, mask.MaskSpec(), 40, 56)
        np.testing.assert_array_equal(mask.rasterize(40, 56, p), reference.mask(40, 56, p))


def test_mask_sampling_covers_ranges_and_never_leaves_the_image():
    rng = np.random.default_rng(12)
    spec = mask.MaskSpec(width=(0.1, 0.9), height=(0.1, 0.9), angle=(-90, 90))
    params = [mask.sample(rng, spec, 100, 100) for _ in range(2000)]
    angles = np.array([p.angle for p in params])
    assert angles.min() < -89 and angles.max() > 89
    for p in params:
        bw, bh = mask.rotated_extent(p.width, p.height, p.angle)
        assert p.cx - bw / 2 >= -1e-9 and p.cx + bw / 2 <= 99 + 1e-9
        assert p.cy - bh / 2 >= -1e-9 and p.cy + bh / 2 <= 99 + 1e-9
    widths = np.array([p.width for p in params if abs(p.angle) < 1])
    assert widths.min() < 12 and widths.max() > 85


def test_masks_filling_the_whole_image_are_sampled():
    # Ranges up to the full side force a shrink to fit exactly: the centre range is then empty.
    spec = mask.MaskSpec(width=(0.9, 1.0), height=(0.9, 1.0))
    rng = np.random.default_rng(16)
    for shape in [(61, 83), (83, 61), (64, 64)]:
        for _ in range(300):
            p = mask.sample(rng, spec, *shape)
            m = mask.rasterize(*shape, p)
            assert m.any()
            bw, bh = mask.rotated_extent(p.width, p.height, p.angle)
            assert p.cx - bw / 2 >= -1e-6 and p.cx + bw / 2 <= shape[1] - 1 + 1e-6


def test_smallest_masks_are_still_nonempty():
    spec = mask.MaskSpec(width=(0.05, 0.05), height=(0.05, 0.05))
    rng = np.random.default_rng(13)
    for _ in range(200):
        assert mask.rasterize(64, 64, mask.sample(rng, spec, 64, 64)).any()
    with pytest.raises(SpecError):
        spec.check_size(32, 32)
    with pytest.raises(SpecError):
        mask.MaskParams(cx=5, cy=5, width=1, height=10, angle=0)


# --- crop ------------------------------------------------------------------------------------


def test_crop_modes_resize_and_window():
    rng = np.random.default_rng(14)
    out = (512, 512)
    faces = crop.CropSpec(mode="resize")
    assert crop.resized_shape(faces, (256, 256), out) == out
    city = crop.CropSpec(mode="scale-crop", scale=0.5)
    assert crop.resized_shape(city, (1024, 2048), out) == (512, 1024)
    cover = crop.CropSpec(mode="cover-crop")
    assert crop.resized_shape(cover, (360, 480), (256, 256)) == (256, 341)
    assert crop.resized_shape(cover, (100, 50), (256, 256)) == (512, 256)  # small: upscaled to cover
    lefts = {crop.sample(rng, city, (1024, 2048), out).left for _ in range(500)}
    assert min(lefts) >= 0 and max(lefts) <= 512 and len(lefts) > 300


def test_crop_apply_is_a_slice_of_the_resized_image(photo):
    spec = crop.CropSpec(mode="cover-crop")
    rng = np.random.default_rng(15)
    for _ in range(5):
        p = crop.sample(rng, spec, photo.shape[:2], (32, 32))
        got = crop.apply(photo, p, (32, 32))
        assert got.shape == (32, 32, 3) and got.flags.c_contiguous
        np.testing.assert_array_equal(got, reference.crop(photo, p, (32, 32)))
    same = crop.CropParams(resized_height=48, resized_width=64, top=0, left=0)
    np.testing.assert_array_equal(crop.apply(photo, same, (48, 64)), photo)


def test_crop_small_policy_skip():
    skip = crop.CropSpec(mode="scale-crop", scale=0.5, small="skip")
    assert crop.min_source_size(skip, (512, 512)) == (1024, 1024)
    with pytest.raises(SpecError):
        crop.resized_shape(skip, (600, 2048), (512, 512))
    assert crop.min_source_size(crop.CropSpec(), (512, 512)) is None
    with pytest.raises(SpecError):
        crop.CropSpec(mode="stretch")


# --- the definitions the fused kernels take from the components ---------------------------------


def test_mask_inside_test_is_the_rasterize_predicate():
    rng = np.random.default_rng(11)
    for _ in range(20):
        p = mask.sample(rng, mask.MaskSpec(angle=(-180, 180)), 37, 45)
        cx, cy, c, s, hw, hh = mask.inside_test(p)
        theta = math.radians(p.angle)
        assert (cx, cy, c, s) == (p.cx, p.cy, math.cos(theta), math.sin(theta))
        assert (hw, hh) == (p.width / 2 + mask.EDGE_SLACK, p.height / 2 + mask.EDGE_SLACK)
        ys, xs = np.mgrid[0:37, 0:45].astype(np.float64)
        u = (xs - cx) * c - (ys - cy) * s
        v = (xs - cx) * s + (ys - cy) * c
        np.testing.assert_array_equal(mask.rasterize(37, 45, p), ((np.abs(u) <= hw) & (np.abs(v) <= hh)).astype(np.uint8))
        bw, bh = mask.rotated_extent(p.width, p.height, p.angle)
        assert mask.rasterize(37, 45, p).sum() <= (bw + 2) * (bh + 2)


def test_blend_case_names_the_exact_shortcuts_of_shading(photo):
    rng = np.random.default_rng(12)
    a, b = color.sample(rng, color.ColorSpec()), color.sample(rng, color.ColorSpec())
    ones, zeros = mix.MixParams(grid=np.ones((3, 3))), mix.MixParams(grid=np.zeros((3, 3)))
    mixed = mix.MixParams(grid=np.array([[0, 1], [1, 0]]))
    assert shading.blend_case(a, a, mixed) == "first" and shading.blend_case(a, b, ones) == "first"
    assert shading.blend_case(a, b, zeros) == "second" and shading.blend_case(a, b, mixed) == "both"
    assert set(shading.BLEND_CASES) == {"first", "second", "both"}
    np.testing.assert_array_equal(shading.apply(photo, a, b, ones), color.apply(photo, a))
    np.testing.assert_array_equal(shading.apply(photo, a, b, zeros), color.apply(photo, b))


def test_packed_colour_parameters():
    p = color.ColorParams(brightness=0.1, contrast=(0.5, 1.0, 1.5), hue=-0.25, saturation=1.25)
    v = color.packed(p)
    assert v.dtype == np.float64 and v.tolist() == [0.1, 0.5, 1.0, 1.5, 0.75, 1.25]
    assert len(color.PACKED_FIELDS) == len(v) and color.PACKED_FIELDS[4] == "hue"
    assert color.packed(color.identity()).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 1.0]


def test_geometric_identity_and_inverse_homography():
    rng = np.random.default_rng(13)
    assert geometric.is_identity(geometric.identity()) and not geometric.is_identity(geometric.sample(rng, geometric.GeometricSpec(sigma=3)))
    p = geometric.sample(rng, geometric.GeometricSpec(sigma=4))
    h, hinv = geometric.homography(30, 40, p), geometric.inverse_homography(30, 40, p)
    np.testing.assert_allclose(hinv @ h, np.eye(3), atol=1e-12)
    sx, sy = geometric.source_coordinates(30, 40, p)
    q = hinv @ np.array([7.0, 5.0, 1.0])
    assert (sx[5, 7], sy[5, 7]) == pytest.approx((q[0] / q[2], q[1] / q[2]))


@pytest.mark.parametrize("size, sigma", [((512, 512), 15.0), ((256, 269), 60.0), ((64, 40), 3.0), ((300, 300), 200.0)])
def test_inverse_homographies_equal_one_call_per_offset_set_bit_for_bit(size, sigma):
    rng = np.random.default_rng(int(sigma))
    offsets = rng.uniform(-sigma, sigma, size=(64, 4, 2))
    offsets[::5] = 0.0  # identity warps among them
    got = geometric.inverse_homographies(*size, offsets)
    assert got.shape == (64, 3, 3)
    for k in range(64):
        p = geometric.GeometricParams(offsets=offsets[k])
        want = np.eye(3) if geometric.is_identity(p) else geometric.inverse_homography(*size, p)
        np.testing.assert_array_equal(got[k], want, err_msg=f"offsets {k}")
    assert geometric.inverse_homographies(*size, np.zeros((0, 4, 2))).shape == (0, 3, 3)


def test_inverse_homographies_bad_input():
    with pytest.raises(SpecError, match=r"shape \(N, 4, 2\)"):
        geometric.inverse_homographies(32, 32, np.zeros((4, 2)))
    collapsed = 10.0 - geometric.corners(32, 32)  # every corner sent to one point
    with pytest.raises(np.linalg.LinAlgError):
        geometric.inverse_homographies(32, 32, np.stack([np.zeros((4, 2)), collapsed]))


def test_crop_identity_is_the_whole_image(photo):
    p = crop.identity(photo.shape[:2])
    assert (p.resized_height, p.resized_width, p.top, p.left) == (*photo.shape[:2], 0, 0)
    np.testing.assert_array_equal(crop.apply(photo, p, photo.shape[:2]), photo)
