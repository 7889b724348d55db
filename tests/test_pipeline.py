"""The seeding contract, replay and the spec: tuple i depends only on (seed, i, spec, sources)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from pastegen import reference
from pastegen.components import color, geometric
from pastegen.errors import SpecError
from pastegen.pipeline import PRESETS, TupleGenerator, TupleParams, TupleSpec, param_fields, preset, render, render_numpy
from pastegen.rng import COMPONENT_IDS, component_rng, source_for_index

SMALL = TupleSpec(48, 64, geometric=geometric.GeometricSpec(sigma=4.0), name="small")


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    import skimage.data

    return [skimage.data.astronaut()[::4, ::4].copy(), skimage.data.chelsea()[::3, ::3].copy(), skimage.data.coffee()[::4, ::4].copy()]


def assert_tuples_equal(a, b):
    for name in ("I", "I_T", "I_S", "M"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.params == b.params


def test_component_ids_are_frozen():
    # Part of the file format: renumbering would silently change every stored run (append only).
    assert dict(COMPONENT_IDS) == {"order": 0, "crop": 1, "geometric": 2, "color_a": 3, "color_b": 4, "mix": 5, "mask": 6, "strength": 7, "tone": 8}


def test_component_streams_are_pinned():
    # The stream of (seed, index, component) is SeedSequence(seed, spawn_key=(index, id)) -> PCG64.
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(3, 6)))).random(4)
    np.testing.assert_array_equal(component_rng(7, 3, "mask").random(4), expected)
    assert component_rng(7, 3, "mask").random() != component_rng(7, 3, "mix").random()
    assert component_rng(7, 3, "mask").random() != component_rng(7, 4, "mask").random()


def test_sampled_parameters_are_pinned(photos):
    # Golden values: a change here means every existing dataset would be re-drawn differently.
    p = TupleGenerator(photos, SMALL, seed=11).sample_params(5)
    assert p.source_index == source_for_index(11, 5, 3)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(11, spawn_key=(5, 3))))
    assert p.color_a.brightness == rng.uniform(-0.5, 0.5)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(11, spawn_key=(5, 2))))
    np.testing.assert_array_equal(p.geometric.offsets, rng.uniform(-4, 4, size=(4, 2)))


def test_tuple_depends_only_on_seed_and_index(photos):
    a = TupleGenerator(photos, SMALL, seed=3)
    b = TupleGenerator(photos, SMALL, seed=3)
    forward = [a[i] for i in range(6)]
    backward = [b[i] for i in reversed(range(6))][::-1]
    for x, y in zip(forward, backward, strict=True):
        assert_tuples_equal(x, y)
    assert not np.array_equal(a[0].I_S, TupleGenerator(photos, SMALL, seed=4)[0].I_S)
    assert not np.array_equal(a[0].M, a[1].M)


def test_every_source_is_used_once_per_epoch():
    for n in (1, 5, 17):
        for epoch in range(3):
            used = sorted(source_for_index(9, epoch * n + k, n) for k in range(n))
            assert used == list(range(n))
    orders = [[source_for_index(9, e * 17 + k, 17) for k in range(17)] for e in range(2)]
    assert orders[0] != orders[1]  # reshuffled each epoch


def test_changing_or_disabling_one_component_leaves_the_others(photos):
    base = TupleGenerator(photos, SMALL, seed=5)
    variants = {
        "geometric": SMALL.replace(disabled=("geometric",)),
        "mix": SMALL.replace(disabled=("mix",)),
        "color_b": SMALL.replace(disabled=("color_b",)),
        "color": SMALL.replace(color=color.ColorSpec(hue=(-0.1, 0.1))),
        "sigma": SMALL.replace(sigma=9.0),
    }
    components = ("crop", "geometric", "color_a", "color_b", "mix", "mask")
    changed = {"geometric": {"geometric"}, "mix": {"mix"}, "color_b": {"color_b"}, "color": {"color_a", "color_b"}, "sigma": {"geometric"}}
    for name, spec in variants.items():
        other = TupleGenerator(photos, spec, seed=5)
        for i in range(4):
            p, q = base.sample_params(i), other.sample_params(i)
            assert p.source_index == q.source_index
            for comp in components:
                same = getattr(p, comp) == getattr(q, comp)
                assert same == (comp not in changed[name]), (name, comp, i)


def test_disabled_components_are_identities(photos):
    spec = SMALL.replace(disabled=("geometric", "color_a", "color_b", "mix"))
    gen = TupleGenerator(photos, spec, seed=1)
    for i in range(3):
        t = gen[i]
        m = t.M[..., None].astype(bool)
        np.testing.assert_array_equal(t.I_S, np.where(m, t.I, 0))  # T is the identity
        np.testing.assert_array_equal(t.X, t.I)


def test_kernel_and_numpy_paths_agree(photos):
    gen = TupleGenerator(photos, SMALL, seed=12)
    for i in range(8):
        t = gen[i]
        n = render_numpy(t.I, t.params, SMALL)
        np.testing.assert_array_equal(t.M, n.M)
        np.testing.assert_array_equal(t.I_T, n.I_T)
        assert np.abs(t.I_S.astype(int) - n.I_S.astype(int)).max() <= 1
        f = gen.render(t.params, dtype=np.float32)
        assert f.I_S.dtype == f.I.dtype == np.float32
        np.testing.assert_allclose(f.I, t.I / 255.0, atol=1e-7)
        assert np.abs(f.I_S * 255 - t.I_S).max() <= 0.5 + 1e-3  # uint8 is float32 rounded


def test_render_matches_the_reference_within_one_level(photos):
    gen = TupleGenerator(photos, SMALL, seed=2)
    for i in range(8):
        t = gen[i]
        ref = reference.tuple_arrays(t.I, t.params, SMALL)
        np.testing.assert_array_equal(t.M, ref["M"])
        np.testing.assert_array_equal(t.I_T, ref["I_T"])
        diff = np.abs(t.I_S.astype(int) - ref["I_S"].astype(int))
        assert diff.max() <= 1, (i, diff.max())


def test_tuple_invariants(photos):
    gen = TupleGenerator(photos, SMALL, seed=8)
    for i in range(10):
        t = gen[i]
        assert t.I.dtype == t.I_T.dtype == t.I_S.dtype == t.M.dtype == np.uint8
        assert t.I.shape == t.I_S.shape == t.I_T.shape == (48, 64, 3) and t.M.shape == (48, 64)
        assert t.M.any() and set(np.unique(t.M)) <= {0, 1}
        inside = t.M.astype(bool)
        assert not t.I_S[~inside].any() and not t.I_T[inside].any()
        np.testing.assert_array_equal(t.I_T[~inside], t.I[~inside])
        np.testing.assert_array_equal(t.X[~inside], t.I[~inside])


def test_replay_from_stored_parameters_is_exact(photos):
    gen = TupleGenerator(photos, SMALL, seed=4)
    fields = param_fields(SMALL)
    for i in range(5):
        t = gen[i]
        record = t.params.to_record()
        assert set(record) == set(fields)
        for key, (shape, _dtype) in fields.items():
            assert np.asarray(record[key]).shape == shape, key
        # Through the storage dtypes, as HDF5 would give them back.
        stored = {k: np.asarray(v, dtype=fields[k][1]) for k, v in record.items()}
        params = TupleParams.from_record(i, t.params.source_index, stored)
        assert params == t.params
        assert_tuples_equal(gen.render(params), t)
        assert_tuples_equal(render(t.I, params, SMALL), t)


def test_generator_pickles_and_gives_the_same_tuples(photos):
    gen = TupleGenerator(photos, SMALL, seed=6)
    first = gen[2]
    clone = pickle.loads(pickle.dumps(gen))
    assert_tuples_equal(clone[2], first)


def test_stages_end_in_the_tuple(photos):
    gen = TupleGenerator(photos, SMALL, seed=6)
    st = gen.stages(1)
    t = gen[1]
    from pastegen.pipeline import quantize

    np.testing.assert_array_equal(st.M, t.M)
    diff = np.abs(quantize(st.T) * st.M[..., None] - t.I_S.astype(int))
    assert diff.max() <= 1  # the stages are NumPy, the tuple comes from the kernel
    np.testing.assert_array_equal(quantize(st.I), t.I)


def test_spec_json_round_trip_and_validation():
    for spec in PRESETS.values():
        again = TupleSpec.from_json(spec.to_json())
        assert again == spec and again.to_json() == spec.to_json()
    with pytest.raises(SpecError, match="unknown spec keys"):
        TupleSpec.from_dict({**SMALL.to_dict(), "gamma": 1})
    with pytest.raises(SpecError, match="unknown keys in spec.color"):
        TupleSpec.from_dict({**SMALL.to_dict(), "color": {"tint": (0, 1)}})
    with pytest.raises(SpecError):
        TupleSpec.from_json("{not json")
    with pytest.raises(SpecError):
        TupleSpec(height=4)
    with pytest.raises(SpecError):
        TupleSpec(disabled=("mask",))
    with pytest.raises(SpecError):
        preset("nope")
    assert preset("faces", sigma=3).geometric.sigma == 3.0
    assert dataclasses.replace(SMALL, height=32).height == 32


def test_presets_follow_the_paper():
    assert PRESETS["faces"].geometric.sigma == 15 and PRESETS["faces"].size == (512, 512)
    assert PRESETS["faces"].crop.mode == "resize"
    assert PRESETS["cityscapes"].geometric.sigma == 10 and PRESETS["cityscapes"].crop.scale == 0.5
    for spec in PRESETS.values():
        assert spec.color == color.ColorSpec()  # eq. 1-2 ranges
        assert spec.mix.grid == (10, 10)


def test_bad_indices_and_sources(photos):
    gen = TupleGenerator(photos, SMALL, seed=0)
    with pytest.raises(IndexError):
        gen.sample_params(-1)
    with pytest.raises(Exception, match="no source images"):
        TupleGenerator([], SMALL)
    with pytest.raises(SpecError):
        TupleGenerator([np.zeros((10, 10), np.uint8)], SMALL)[0]
    with pytest.raises(SpecError):
        TupleGenerator(photos, SMALL, seed=-3)
