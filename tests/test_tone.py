"""T_tone (pastegen.components.tone): a camera-like tone change instead of T_shading, beyond the
paper; seeded, stored, replayable, and absent from the paper's tuples."""

from __future__ import annotations

import numpy as np
import pytest

import pastegen
from pastegen import TupleGenerator, TupleSpec
from pastegen.components import color, tone
from pastegen.errors import SpecError
from pastegen.pipeline import geometric_only, param_fields, render_numpy, render_stages
from pastegen.rng import component_rng

RNG = np.random.default_rng(0)
PHOTOS = [RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]


def _spec(p: float = 0.0, **ranges) -> TupleSpec:
    spec = pastegen.preset("sample", height=64, width=64)
    return spec.replace(tone=tone.ToneSpec(probability=p, **ranges)) if p or ranges else spec


def test_default_spec_draws_nothing_and_its_json_is_unchanged():
    plain = _spec()
    assert "tone" not in plain.to_json()  # files made before the option keep matching
    toned = _spec(0.3)
    assert '"tone"' in toned.to_json()
    assert TupleSpec.from_json(toned.to_json()) == toned and TupleSpec.from_json(plain.to_json()) == plain
    gen = TupleGenerator(PHOTOS, plain, seed=5)
    p = gen.sample_params(0)
    assert p.tone is None and not any(k.startswith("tone/") for k in p.to_record())
    assert not any(k.startswith("tone/") for k in param_fields(plain))
    assert {k for k in param_fields(toned) if k.startswith("tone/")} == {f"tone/{f}" for f in tone.FIELDS}


def test_probability_zero_leaves_every_other_draw_alone_and_the_stream_is_separate():
    # a spec whose tone never fires draws the same parameters as the paper's for every component
    a = TupleGenerator(PHOTOS, _spec(), seed=9)
    b = TupleGenerator(PHOTOS, _spec(0.0, gamma=(0.5, 2.0)), seed=9)
    c = TupleGenerator(PHOTOS, _spec(0.5), seed=9)
    for i in range(30):
        pa, pb, pc = a.sample_params(i), b.sample_params(i), c.sample_params(i)
        assert pa == pb
        assert (pc.crop, pc.geometric, pc.mix, pc.mask) == (pa.crop, pa.geometric, pa.mix, pa.mask)
        if pc.tone.active:  # T_shading replaced: both colour transforms are the identity
            assert pc.color_a == color.identity() and pc.color_b == color.identity()
        else:
            assert (pc.color_a, pc.color_b) == (pa.color_a, pa.color_b)


def test_draws_are_seeded_in_range_and_follow_the_probability():
    spec = tone.ToneSpec(probability=0.3)
    draws = [tone.sample(component_rng(0, i, "tone"), spec) for i in range(3000)]
    assert draws == [tone.sample(component_rng(0, i, "tone"), spec) for i in range(3000)]
    on = [d for d in draws if d.active]
    assert abs(len(on) / len(draws) - 0.3) < 0.03
    gains = np.array([d.gain for d in on])
    lo, hi = 0.75 * 0.86, 1.33 * 1.16
    assert gains.min() >= lo - 1e-12 and gains.max() <= hi + 1e-12
    assert all(0.75 <= d.gamma <= 1.33 and np.all(np.abs(d.offset) <= 12) for d in on)
    # log-uniform exposure: as many gains above 1 as below, roughly
    assert 0.4 < np.mean(np.exp(np.log(gains).mean(axis=1)) > 1) < 0.6
    assert all(d == tone.identity() for d in draws if not d.active)
    assert all(tone.sample(component_rng(1, i, "tone"), tone.ToneSpec(probability=1.0)).active for i in range(20))


def test_table_and_formula_agree_with_the_definition():
    p = tone.ToneParams(active=True, gain=(1.2, 0.9, 1.05), gamma=0.8, offset=(5.0, -7.0, 0.0))
    v = np.arange(256)[:, None] / 255.0
    want = np.floor(np.clip(255 * np.array([1.2, 0.9, 1.05]) * v**0.8 + np.array([5.0, -7.0, 0.0]), 0, 255) + 0.5)
    np.testing.assert_array_equal(tone.table(p), want.astype(np.uint8))
    img = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    out = tone.apply(img, p)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], tone.table(p)[img[..., c], c])
    f = tone.apply(img.astype(np.float32) / 255, p)
    assert f.dtype == np.float32 and np.abs(f * 255 - out).max() <= 0.5 + 1e-3
    assert tone.apply(img, tone.identity()) is img
    np.testing.assert_array_equal(tone.table(tone.ToneParams(active=True)), np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, 1))


def test_bad_specs_and_params_are_refused():
    for bad in (dict(probability=1.5), dict(probability=-0.1), dict(probability=True), dict(gamma=(0.0, 1.0)),
                dict(exposure=(1.2, 0.8)), dict(offset=(-200.0, 0.0)), dict(white_balance=(0.5, 5.0))):  # fmt: skip
        with pytest.raises(SpecError):
            tone.ToneSpec(**bad)
    with pytest.raises(SpecError):
        tone.ToneParams(active=True, gain=(1.0, 1.0))
    with pytest.raises(SpecError):
        tone.ToneParams(active=True, gamma=0.0)
    with pytest.raises(SpecError):
        tone.apply(np.zeros((4, 4), np.uint8), tone.ToneParams(active=True))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_a_toned_tuple_is_the_curve_applied_to_the_geometric_source_inside_the_mask(dtype):
    spec = _spec(1.0)
    gen = TupleGenerator(PHOTOS, spec, seed=3)
    for i in range(4):
        p = gen.sample_params(i)
        assert p.tone.active
        t = gen.render(p, dtype=dtype)
        geo = gen.render(geometric_only(p), dtype=dtype)
        assert geometric_only(p).tone == tone.identity()
        inside = t.M != 0
        assert np.all(t.I_S[~inside] == 0)
        want = tone.apply(geo.I_S, p.tone)
        np.testing.assert_allclose(t.I_S[inside], want[inside], atol=1e-6)
        if dtype == np.uint8:
            crop = gen.crop_image(p)  # the NumPy path applies the same curve to its own warp
            np.testing.assert_array_equal(render_numpy(crop, p, spec).I_S, tone.apply_masked(render_numpy(crop, geometric_only(p), spec).I_S, t.M, p.tone))
            stages = render_stages(gen.crop_image(p), p, spec)
            np.testing.assert_allclose(stages.T, tone.apply(stages.geometric, p.tone), atol=1e-6)


def test_batch_render_applies_the_tone_like_the_single_render():
    from pastegen.kernels import render_tuples

    spec = _spec(0.5)
    gen = TupleGenerator(PHOTOS, spec, seed=11)
    params = [gen.sample_params(i) for i in range(8)]
    assert any(p.tone.active for p in params) and not all(p.tone.active for p in params)
    images = np.stack([gen.crop_image(p) for p in params])
    batch = render_tuples(images, params, spec, threads=2)
    for k, p in enumerate(params):
        np.testing.assert_array_equal(batch.I_S[k], gen.render(p).I_S)


def test_a_file_with_tone_changes_stores_and_replays_them(tmp_path):
    out = tmp_path / "tone.h5"
    spec = pastegen.preset("sample", height=64, width=64).replace(tone=tone.ToneSpec(probability=0.5))
    pastegen.make(out, pastegen.sample_image_paths(), spec, count=8, seed=2)
    assert pastegen.precompute.replay_check(out) == []
    with pastegen.open_tuples(out) as tf:
        active = [bool(tf.params(i)["tone/active"]) for i in range(8)]
        assert any(active) and not all(active)
        assert TupleSpec.from_json(tf.attrs["spec"]).tone.probability == 0.5
