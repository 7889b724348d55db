"""Per-tuple strength mixtures (pastegen.components.strength): beyond the paper, seeded, replayable."""

from __future__ import annotations

import numpy as np
import pytest

import pastegen
from pastegen import TupleGenerator, TupleSpec
from pastegen.components import color, strength
from pastegen.errors import SpecError
from pastegen.rng import component_rng

PHOTOS = [np.full((64, 64, 3), v, np.uint8) for v in (40, 120, 200)]


def _spec(**mix) -> TupleSpec:
    spec = pastegen.preset("sample", height=64, width=64)
    return spec.replace(strength=strength.strength_spec(**mix)) if mix else spec


def test_default_spec_json_is_unchanged_and_round_trips():
    plain = _spec()
    assert "strength" not in plain.to_json()  # files made before the option keep matching
    mixed = _spec(color="0:1,1:3", geometric="0.5")
    assert '"strength"' in mixed.to_json()
    assert TupleSpec.from_json(mixed.to_json()) == mixed
    assert TupleSpec.from_json(plain.to_json()) == plain


def test_parse_and_format():
    assert strength.parse_mixture("0:1, 0.5:2,1") == ((0.0, 1.0), (0.5, 2.0), (1.0, 1.0))
    assert strength.parse_mixture(strength.format_mixture(((0.25, 3.0), (1.0, 1.0)))) == ((0.25, 3.0), (1.0, 1.0))
    for bad in ("", "x:1", "1.5:1", "0.5:0", "0.5:-1", "0.5,0.5"):
        with pytest.raises(SpecError):
            strength.parse_mixture(bad)


def test_strength_one_everywhere_gives_the_papers_parameters():
    # The strength stream is separate: every other component draws exactly what it draws without it.
    a = TupleGenerator(PHOTOS, _spec(), seed=5)
    b = TupleGenerator(PHOTOS, _spec(color="1", geometric="1"), seed=5)
    for i in range(20):
        assert a.sample_params(i) == b.sample_params(i)


def test_strength_zero_is_the_identity():
    gen = TupleGenerator(PHOTOS, _spec(color="0", geometric="0"), seed=1)
    for i in range(10):
        p = gen.sample_params(i)
        assert p.color_a == color.identity() and p.color_b == color.identity()
        assert np.all(p.geometric.offsets == 0)
        t = gen[i]
        np.testing.assert_array_equal(t.I_S, t.I * t.M[..., None])  # T(I) = I inside the mask


def test_draws_follow_the_weights_and_are_seeded():
    spec = strength.strength_spec(color="0:1,0.5:1,1:2")
    draws = [strength.sample(component_rng(0, i, "strength"), spec).color for i in range(4000)]
    freq = {v: draws.count(v) / len(draws) for v in (0.0, 0.5, 1.0)}
    assert abs(freq[0.0] - 0.25) < 0.03 and abs(freq[0.5] - 0.25) < 0.03 and abs(freq[1.0] - 0.5) < 0.03
    again = [strength.sample(component_rng(0, i, "strength"), spec).color for i in range(4000)]
    assert draws == again


def test_mixed_colour_strength_scales_the_ranges():
    gen = TupleGenerator(PHOTOS, _spec(color="0.1"), seed=2)
    hues = [abs(gen.sample_params(i).color_a.hue) for i in range(50)]
    assert max(hues) <= 0.05 + 1e-12  # the paper's ±0.5 turns shrunk by 0.1


def test_tuples_replay_from_stored_parameters(tmp_path):
    spec = _spec(color="0:1,1:1", geometric="0:1,1:1")
    out = tmp_path / "mix.h5"
    pastegen.make(out, pastegen.sample_image_paths(), spec.replace(height=64, width=64), count=6, seed=4)
    assert pastegen.precompute.replay_check(out) == []
