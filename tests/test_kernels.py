"""The fused Numba kernels (pastegen.kernels) against the reference and the NumPy pipeline.

With ``NUMBA_DISABLE_JIT=1`` (set by :func:`test_kernel_bodies_run_as_python`, which runs this
file in a subprocess) the kernels run as plain Python on tiny images, for coverage of their
bodies; the sizes and counts below shrink accordingly.
"""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pastegen import kernels, pipeline, reference
from pastegen.components import color, geometric, mask, mix
from pastegen.errors import SpecError
from pastegen.kernels import TupleBuffers, render_tuple
from pastegen.pipeline import TupleGenerator, TupleSpec

# The NumPy rendering path (``pipeline.render`` itself is built on these kernels)
render_numpy = pipeline.render_numpy

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
REPO = Path(__file__).resolve().parents[1]

if NO_JIT:  # plain Python: a few pixels only
    SIZES = [(12, 16)]
    COUNT = 2
else:
    SIZES = [(48, 64), (128, 96)]
    COUNT = 10
MASK = mask.MaskSpec(width=(0.3, 0.7), height=(0.3, 0.7))


def spec_for(size, **kw) -> TupleSpec:
    warp = geometric.GeometricSpec(sigma=kw.pop("sigma", 4.0), border=kw.pop("border", "reflect"))
    return TupleSpec(size[0], size[1], mask=MASK, geometric=warp, **kw)


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    import skimage.data

    return [skimage.data.astronaut()[::4, ::4].copy(), skimage.data.chelsea()[::3, ::3].copy(), skimage.data.coffee()[::4, ::4].copy()]


def tuples(photos, spec, seed, count=COUNT):
    gen = TupleGenerator(photos, spec, seed=seed)
    for i in range(count):
        p = gen.sample_params(i)
        yield np.ascontiguousarray(gen.crop_image(p)), p


SPECS = [
    pytest.param(dict(border="reflect"), id="reflect"),
    pytest.param(dict(border="constant"), id="constant"),
    pytest.param(dict(sigma=0.0), id="sigma0"),
    pytest.param(dict(sigma=12.0, border="constant"), id="sigma12-constant"),
    pytest.param(dict(disabled=("mix",)), id="no-mix"),
    pytest.param(dict(disabled=("color_b",)), id="no-color-b"),
    pytest.param(dict(disabled=("color_a", "color_b")), id="no-color"),
    pytest.param(dict(mix=mix.MixSpec(grid=(3, 7), probability=0.3)), id="grid3x7"),
]


@pytest.mark.parametrize("kw", SPECS)
@pytest.mark.parametrize("size", SIZES)
def test_uint8_matches_reference_and_pipeline(photos, size, kw):
    spec = spec_for(size, **kw)
    for seed in (0, 5):
        for image, p in tuples(photos, spec, seed):
            got = render_tuple(image, p, spec, threads=1)
            ref = reference.tuple_arrays(image, p, spec)
            np.testing.assert_array_equal(got.M, ref["M"])
            np.testing.assert_array_equal(got.I_T, ref["I_T"])
            assert np.abs(got.I_S.astype(int) - ref["I_S"]).max() <= 1
            pipe = render_numpy(image, p, spec)
            np.testing.assert_array_equal(got.M, pipe.M)
            np.testing.assert_array_equal(got.I_T, pipe.I_T)
            assert np.abs(got.I_S.astype(int) - pipe.I_S).max() <= 1
            assert got.I_S.dtype == got.I_T.dtype == got.M.dtype == np.uint8


@pytest.mark.parametrize("kw", SPECS[:5])
@pytest.mark.parametrize("size", SIZES)
def test_float32_matches_reference_transform(photos, size, kw):
    spec = spec_for(size, **kw)
    for image, p in tuples(photos, spec, 3):
        got = render_tuple(image, p, spec, dtype=np.float32, threads=1)
        m = reference.mask(spec.height, spec.width, p.mask)[..., None]
        np.testing.assert_allclose(got.I_S, reference.transform(image, p, spec) * m, rtol=0, atol=1e-5)
        np.testing.assert_array_equal(got.I_T, (image / np.float32(255)) * (1 - m))
        assert got.I_S.dtype == got.I_T.dtype == np.float32 and got.I_S.min() >= 0 and got.I_S.max() <= 1


def test_identity_transform_copies_the_crop(photos):
    spec = spec_for(SIZES[0], sigma=0.0, disabled=("geometric", "color_a", "color_b", "mix"))
    for image, p in tuples(photos, spec, 1):
        got = render_tuple(image, p, spec)
        np.testing.assert_array_equal(got.I_S, image * got.M[..., None])
        np.testing.assert_array_equal(got.I_T + got.I_S, image)


def test_extreme_colour_parameters(photos):
    # hue exactly 0 with saturation 1 (HSV skipped by NumPy), a full turn, zero and maximal
    # saturation, contrast 0 and 4, brightness at the ends
    size = SIZES[0]
    spec = spec_for(size)
    image, p = next(tuples(photos, spec, 2, count=1))
    cases = [
        color.ColorParams(brightness=0.0, contrast=(1.0, 1.0, 1.0), hue=0.0, saturation=1.0),
        color.ColorParams(brightness=0.3, contrast=(0.0, 4.0, 1.0), hue=1.0, saturation=0.0),
        color.ColorParams(brightness=-1.0, contrast=(4.0, 4.0, 4.0), hue=-1.0, saturation=4.0),
        color.ColorParams(brightness=1.0, contrast=(0.5, 1.5, 2.5), hue=-0.999999, saturation=4.0),
    ]
    for a in cases:
        for b in cases[:2]:
            q = dataclasses.replace(p, color_a=a, color_b=b)
            got = render_tuple(image, q, spec, dtype=np.float32)
            m = got.M[..., None]
            np.testing.assert_allclose(got.I_S, reference.transform(image, q, spec) * m, rtol=0, atol=1e-5)
            got8 = render_tuple(image, q, spec)
            assert np.abs(got8.I_S.astype(int) - reference.tuple_arrays(image, q, spec)["I_S"]).max() <= 1


def test_mask_spans_match_rasterize():
    from pastegen.kernels import _render

    rng = np.random.default_rng(0)
    height, width = (24, 32) if NO_JIT else (61, 83)
    # (with wider ranges mask.sample can fail: a rounding issue when a rectangle is shrunk to fit)
    ranges = mask.MaskSpec(width=(0.15, 0.6), height=(0.15, 0.6), angle=(-180, 180))
    params = [mask.sample(rng, ranges, height, width) for _ in range(40)]
    # pixel centres exactly on the edges, axis-aligned and diagonal angles
    for angle in (0.0, 90.0, -90.0, 180.0, 45.0, -135.0, 30.0):
        params.append(mask.MaskParams(cx=8.0, cy=6.0, width=6.0, height=4.0, angle=angle))
        params.append(mask.MaskParams(cx=7.5, cy=5.5, width=5.0, height=3.0, angle=angle))
    params.append(mask.MaskParams(cx=0.0, cy=0.0, width=2.0, height=2.0, angle=0.0))  # touching the corner
    x0s = np.empty(height, np.int64)
    x1s = np.empty(height, np.int64)
    for p in params:
        theta = np.radians(p.angle)
        hw, hh = p.width / 2 + 1e-9, p.height / 2 + 1e-9
        count = _render._mask_spans(height, width, p.cx, p.cy, np.cos(theta), np.sin(theta), hw, hh, x0s, x1s)
        got = np.zeros((height, width), np.uint8)
        for y in range(height):
            got[y, x0s[y] : x1s[y]] = 1
        want = mask.rasterize(height, width, p)
        np.testing.assert_array_equal(got, want, err_msg=str(p))
        assert count == want.sum()


def test_streaming_writes_fill_exactly_their_range():
    """The uint8 rows without a masked span are written with non-temporal stores: every
    alignment and length (plain stores before the first cache line and after the last) copies
    or zeroes exactly ``dst``, nothing around it."""
    from pastegen.kernels._render import _stream_bytes

    rng = np.random.default_rng(0)
    for n in (0, 1, 63, 64, 65, 200, 1000):
        for start in (0, 1, 17, 63, 64):
            src = rng.integers(0, 256, n + start, dtype=np.uint8)[start:]
            canvas = np.full(n + start + 80, 7, np.uint8)
            dst = canvas[start : start + n]
            _stream_bytes(dst, src, False)
            assert np.array_equal(dst, src)
            _stream_bytes(dst, src, True)
            assert not dst.any()
            assert (canvas[:start] == 7).all() and (canvas[start + n :] == 7).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_results_do_not_depend_on_the_thread_count(photos, dtype):
    for size in SIZES:
        spec = spec_for(size, sigma=8.0)
        for image, p in tuples(photos, spec, 7):
            one = render_tuple(image, p, spec, dtype=dtype, threads=1)
            for threads in (2, 3, None):
                other = render_tuple(image, p, spec, dtype=dtype, threads=threads)
                for name in ("I_T", "I_S", "M"):
                    np.testing.assert_array_equal(getattr(one, name), getattr(other, name), err_msg=f"{name} threads={threads}")


def test_parallel_driver_with_many_blocks_is_identical(photos):
    # the block split (and who claims which block) must not change a bit
    from pastegen.kernels import _render

    size = SIZES[-1]
    spec = spec_for(size, sigma=8.0)
    image, p = next(tuples(photos, spec, 9, count=1))
    want = render_tuple(image, p, spec, threads=1)
    h, w = size
    for nworkers, nblocks in ((1, 1), (2, 3), (2, h)):
        out = TupleBuffers.empty(h, w)
        hinv, identity, constant, geom, tp, blend, grid = kernels._kernel_args(p, spec)
        img = kernels._check_image(image, spec)
        _render._kernel_parallel(
            img, img.reshape(h, 3 * w), out.I_T.reshape(h, 3 * w), out.I_S.reshape(h, 3 * w), out.M,
            hinv, identity, constant, geom, tp, blend, grid, np.empty((4, h * w), np.float32), True, nworkers, nblocks,
        )  # fmt: skip
        for name in ("I_T", "I_S", "M"):
            np.testing.assert_array_equal(getattr(out, name), getattr(want, name), err_msg=f"{name} {nworkers} {nblocks}")


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_buffers_are_reused_and_fully_overwritten(photos, dtype):
    size = SIZES[-1]
    spec = spec_for(size)
    items = list(tuples(photos, spec, 4, count=4))
    # the tuple with the largest mask first, so later masks leave stale pixels behind
    items.sort(key=lambda t: -t[1].mask.area)
    out = TupleBuffers.empty(*size, dtype=dtype)
    for a in (out.I_T, out.I_S, out.M):
        a.fill(77)
    ids = (id(out.I_T), id(out.I_S), id(out.M))
    for image, p in items:
        got = render_tuple(image, p, spec, out=out, dtype=dtype)
        assert got is out and (id(got.I_T), id(got.I_S), id(got.M)) == ids
        fresh = render_tuple(image, p, spec, dtype=dtype)
        assert fresh is not out
        for name in ("I_T", "I_S", "M"):
            np.testing.assert_array_equal(getattr(got, name), getattr(fresh, name), err_msg=name)


def test_a_too_small_scratch_bound_is_retried(photos, monkeypatch):
    size = SIZES[0]
    spec = spec_for(size)
    items = list(tuples(photos, spec, 8, count=2))
    want = [render_tuple(image, p, spec).I_S.copy() for image, p in items]
    monkeypatch.setattr(kernels, "_SCRATCH", kernels._Scratch())
    monkeypatch.setattr(kernels, "_masked_bound", lambda params, h, w: 1)
    for (image, p), w in zip(items, want, strict=True):
        for threads in (1, 2):
            np.testing.assert_array_equal(render_tuple(image, p, spec, threads=threads).I_S, w)


def test_masked_bound_holds():
    rng = np.random.default_rng(3)
    for _ in range(50 if NO_JIT else 200):
        h, w = int(rng.integers(40, 90)), int(rng.integers(40, 90))
        p = mask.sample(rng, mask.MaskSpec(width=(0.1, 0.6), height=(0.1, 0.6), angle=(-180, 180)), h, w)
        params = type("P", (), {"mask": p})()
        assert mask.rasterize(h, w, p).sum() <= kernels._masked_bound(params, h, w)


def test_buffers_that_do_not_fit_are_replaced(photos):
    size = SIZES[0]
    spec = spec_for(size)
    image, p = next(tuples(photos, spec, 0, count=1))
    wrong = [
        TupleBuffers.empty(*size, dtype=np.float32),  # asked for uint8
        TupleBuffers.empty(size[0] + 1, size[1]),
        TupleBuffers(I_T=np.empty((*size, 3), np.uint8)[:, ::-1], I_S=np.empty((*size, 3), np.uint8), M=np.empty(size, np.uint8)),
    ]
    shared = np.empty((*size, 3), np.uint8)
    wrong.append(TupleBuffers(I_T=shared, I_S=shared, M=np.empty(size, np.uint8)))
    want = render_tuple(image, p, spec)
    for out in wrong:
        got = render_tuple(image, p, spec, out=out)
        assert got is not out
        np.testing.assert_array_equal(got.I_S, want.I_S)


def test_bad_input_is_a_spec_error(photos):
    size = SIZES[0]
    spec = spec_for(size)
    image, p = next(tuples(photos, spec, 0, count=1))
    bad_images = [
        image.astype(np.float32),
        image[:, :, :2].copy(),
        image[:-1].copy(),
        np.ascontiguousarray(image.transpose(1, 0, 2)),
        image[:, ::-1],  # right shape, not contiguous
        np.asfortranarray(image),
        image.tolist(),
        image[..., 0].copy(),
    ]
    for bad in bad_images:
        with pytest.raises(SpecError):
            render_tuple(bad, p, spec)
    bad_options = [dict(dtype=np.float64), dict(dtype="int16"), dict(dtype="nonsense")]
    bad_options += [dict(threads=0), dict(threads=-2), dict(threads=1.5), dict(threads=True)]
    for kwargs in bad_options:
        with pytest.raises(SpecError):
            render_tuple(image, p, spec, **kwargs)
    with pytest.raises(SpecError):
        render_tuple(image, p, "spec")
    with pytest.raises(SpecError):
        render_tuple(image, "params", spec)
    with pytest.raises(SpecError):
        render_tuple(image, p, spec, out=(1, 2, 3))
    with pytest.raises(SpecError):  # output overlapping the input
        render_tuple(image, p, spec, out=TupleBuffers(I_T=image, I_S=np.empty_like(image), M=np.empty(size, np.uint8)))


def test_read_only_input_is_accepted(photos):
    size = SIZES[0]
    spec = spec_for(size)
    image, p = next(tuples(photos, spec, 0, count=1))
    frozen = image.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(render_tuple(frozen, p, spec).I_S, render_tuple(image, p, spec).I_S)


def test_concurrent_callers_get_the_same_results(photos):
    # one Python thread runs the parallel driver, the others fall back to the serial one
    from concurrent.futures import ThreadPoolExecutor

    size = SIZES[-1]
    spec = spec_for(size)
    items = list(tuples(photos, spec, 6, count=6))
    want = [render_tuple(image, p, spec, threads=1).I_S for image, p in items]
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda t: render_tuple(t[0], t[1], spec, threads=2).I_S, items * 3))
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g, want[i % len(items)])


@pytest.mark.skipif(NO_JIT or not hasattr(os, "fork"), reason="needs the JIT and os.fork")
def test_a_child_forked_after_a_parallel_render_still_renders():
    # GNU OpenMP aborts a forked child that starts a parallel region: the child must fall back
    code = """
import os, sys, numpy as np
from pastegen import kernels
from pastegen.pipeline import TupleGenerator, TupleSpec
spec = TupleSpec(48, 64)
gen = TupleGenerator([np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)], spec, seed=0)
p = gen.sample_params(0)
image = np.ascontiguousarray(gen.crop_image(p))
want = kernels.render_tuple(image, p, spec, threads=2).I_S.copy()
pid = os.fork()
if pid == 0:
    got = kernels.render_tuple(image, p, spec, threads=2).I_S
    os._exit(0 if np.array_equal(got, want) else 3)
_, status = os.waitpid(pid, 0)
print(kernels.threading_layer(), os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "0", out.stdout + out.stderr[-2000:]


@pytest.mark.skipif(NO_JIT, reason="needs the JIT")
def test_threading_layer_choice_respects_the_user():
    code = """
import os, numpy as np
from pastegen import kernels
from pastegen.pipeline import TupleGenerator, TupleSpec
spec = TupleSpec(48, 64)
gen = TupleGenerator([np.zeros((60, 80, 3), np.uint8)], spec, seed=0)
p = gen.sample_params(0)
kernels.render_tuple(np.ascontiguousarray(gen.crop_image(p)), p, spec, threads=2)
print(kernels.threading_layer(), os.environ.get("OMP_WAIT_POLICY", "-"))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    ours = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert ours.returncode == 0, ours.stderr[-2000:]
    layer, policy = ours.stdout.split()
    assert layer in ("omp", "workqueue") and policy == "-"  # the environment is left as it was
    env["NUMBA_THREADING_LAYER"] = "workqueue"
    users = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert users.returncode == 0 and users.stdout.split()[0] == "workqueue", users.stderr[-2000:]


def test_warm_up_and_threading_layer():
    assert kernels.warm_up() >= 0
    layer = kernels.threading_layer()
    assert layer in (None, "omp", "workqueue", "tbb")


@pytest.mark.skipif(NO_JIT, reason="already running without the JIT")
def test_kernel_bodies_run_as_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(Path(__file__))]
    cmd += ["-k", "not kernel_bodies_run_as_python"]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_kernel_arguments_come_from_the_components(photos):
    """The kernels' numbers are the components' definitions (and the same bits as before the
    kernels took them from there: the former hand-written formulas are checked here)."""
    from pastegen.components import shading

    spec = spec_for(SIZES[-1], sigma=8.0)
    seen = set()
    for _image, p in tuples(photos, spec, 21, count=12):
        for q in (p, dataclasses.replace(p, color_b=p.color_a), dataclasses.replace(p, geometric=geometric.identity())):
            hinv, identity, constant, geom, tp, blend, grid = kernels._kernel_args(q, spec)
            assert identity == (not q.geometric.offsets.any())
            want = np.eye(3) if identity else np.linalg.inv(geometric.homography(spec.height, spec.width, q.geometric))
            np.testing.assert_array_equal(hinv, want)
            m = q.mask
            theta = math.radians(m.angle)
            old = [m.cx, m.cy, math.cos(theta), math.sin(theta), m.width / 2 + 1e-9, m.height / 2 + 1e-9]
            np.testing.assert_array_equal(geom, np.array(old))
            np.testing.assert_array_equal(geom, np.array(mask.inside_test(m)))
            case = shading.blend_case(q.color_a, q.color_b, q.mix)
            chosen = {"first": (q.color_a,), "second": (q.color_b,), "both": (q.color_a, q.color_b)}[case]
            assert blend == (case == "both") and len(tp) == len(chosen)
            old_tp = np.array([[c.brightness, *c.contrast, (c.hue % 1.0) * 6.0, c.saturation] for c in chosen], dtype=np.float64)
            np.testing.assert_array_equal(tp, old_tp)
            np.testing.assert_array_equal(tp[:, :4], np.array([color.packed(c)[:4] for c in chosen]))
            seen.add(case)
    assert {"first", "both"} <= seen


def test_batch_kernel_arguments_equal_one_call_per_tuple(photos):
    """``_kernel_args_batch`` (columns at once) gives each tuple exactly ``_kernel_args``'s
    numbers, through every case of ``shading.blend_case`` and hues outside [0, 1)."""
    from pastegen.components import shading

    spec = spec_for(SIZES[-1], sigma=8.0)
    base = [p for _image, p in tuples(photos, spec, 5, count=6)]
    grid = base[0].mix.grid
    params = []
    for p in base:
        params += [
            p,
            dataclasses.replace(p, color_b=p.color_a),  # equal transforms: "first"
            dataclasses.replace(p, mix=mix.MixParams(grid=np.ones_like(grid))),  # "first"
            dataclasses.replace(p, mix=mix.MixParams(grid=np.zeros_like(grid))),  # "second"
            dataclasses.replace(p, color_a=dataclasses.replace(p.color_a, hue=-1.75), color_b=dataclasses.replace(p.color_b, hue=2.3)),
            dataclasses.replace(p, geometric=geometric.identity()),
        ]
    hinvs, identities, constant, geoms, tps, ntps, blends, grids = kernels._kernel_args_batch(params, spec)
    cases = set()
    for k, q in enumerate(params):
        hinv, identity, const1, geom, tp, blend, g = kernels._kernel_args(q, spec)
        np.testing.assert_array_equal(hinvs[k], hinv)
        assert identities[k] == identity and constant == const1 and blends[k] == blend
        np.testing.assert_array_equal(geoms[k], geom)
        assert ntps[k] == len(tp)
        np.testing.assert_array_equal(tps[k, : ntps[k]], tp)
        assert not tps[k, ntps[k] :].any()
        np.testing.assert_array_equal(grids[k], g)
        cases.add(shading.blend_case(q.color_a, q.color_b, q.mix))
    assert cases == {"first", "second", "both"}


# -- render_tuples: whole tuples across threads ---------------------------------------------------


def _batch(photos, spec, seed, count=COUNT):
    items = list(tuples(photos, spec, seed, count))
    return np.stack([image for image, _ in items]), [p for _, p in items]


@pytest.mark.parametrize("kw", SPECS)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_render_tuples_equals_render_tuple_for_any_thread_count(photos, kw, dtype):
    size = SIZES[-1]
    spec = spec_for(size, **dict(kw))
    images, params = _batch(photos, spec, 11)
    want = [render_tuple(images[k], params[k], spec, dtype=dtype, threads=1) for k in range(len(params))]
    for threads in (1, 2, 3, None):
        got = kernels.render_tuples(images, params, spec, dtype=dtype, threads=threads)
        assert len(got) == len(params) and got.I_S.dtype == np.dtype(dtype)
        for k, w in enumerate(want):
            for name in ("I_T", "I_S", "M"):
                np.testing.assert_array_equal(getattr(got[k], name), getattr(w, name), err_msg=f"{name} tuple {k} threads={threads}")


@pytest.mark.skipif(NO_JIT or not hasattr(os, "fork"), reason="needs the JIT and os.fork")
def test_render_tuples_runs_on_python_threads_and_after_a_fork():
    # its workers are Python threads (Numba's threading layer is never started, so a GNU OpenMP
    # loaded first by another library cannot slow it down), and a forked child gets new ones
    code = """
import os, threading, numpy as np
from numba.np.ufunc import parallel
from pastegen import kernels
from pastegen.pipeline import TupleGenerator, TupleSpec
spec = TupleSpec(48, 64)
gen = TupleGenerator([np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)], spec, seed=0)
ps = [gen.sample_params(i) for i in range(6)]
images = np.stack([gen.crop_image(p) for p in ps])
want = kernels.render_tuples(images, ps, spec, threads=1).I_S.copy()
got = kernels.render_tuples(images, ps, spec, threads=3).I_S.copy()
helpers = sum(t.name.startswith("pastegen-batch") for t in threading.enumerate())
pid = os.fork()
if pid == 0:
    again = kernels.render_tuples(images, ps, spec, threads=3).I_S
    os._exit(0 if np.array_equal(again, want) else 3)
_, status = os.waitpid(pid, 0)
print(int(np.array_equal(got, want)), int(helpers >= 1), int(parallel._is_initialized), os.waitstatus_to_exitcode(status))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-4:] == ["1", "1", "0", "0"], out.stdout + out.stderr[-2000:]


def test_render_tuples_reuses_and_overwrites_its_buffers(photos):
    size = SIZES[-1]
    spec = spec_for(size)
    images, params = _batch(photos, spec, 12, count=4)
    out = kernels.TupleBatch.empty(4, *size)
    for a in (out.I_T, out.I_S, out.M):
        a.fill(77)
    assert kernels.render_tuples(images, params, spec, out=out, threads=2) is out
    for k in range(4):
        np.testing.assert_array_equal(out.I_S[k], render_tuple(images[k], params[k], spec).I_S)
    assert kernels.render_tuples(images, params, spec, out=kernels.TupleBatch.empty(3, *size)) is not out  # does not fit
    empty = kernels.render_tuples(images[:0], [], spec)
    assert len(empty) == 0


def test_render_tuples_bad_input_is_a_spec_error(photos):
    size = SIZES[-1]
    spec = spec_for(size)
    images, params = _batch(photos, spec, 13, count=3)
    with pytest.raises(SpecError, match="images must be uint8 of shape"):
        kernels.render_tuples(images[0], params[:1], spec)
    with pytest.raises(SpecError, match="images must be uint8 of shape"):
        kernels.render_tuples(images.astype(np.float32), params, spec)
    with pytest.raises(SpecError, match="C-contiguous"):
        kernels.render_tuples(images[::-1], params, spec)
    with pytest.raises(SpecError, match="3 images but 2 parameter sets"):
        kernels.render_tuples(images, params[:2], spec)
    with pytest.raises(SpecError, match=r"params\[1\] must be a TupleParams"):
        kernels.render_tuples(images, [params[0], "x", params[2]], spec)
    with pytest.raises(SpecError, match="out must be a TupleBatch"):
        kernels.render_tuples(images, params, spec, out=TupleBuffers.empty(*size))
    with pytest.raises(SpecError, match="threads"):
        kernels.render_tuples(images, params, spec, threads=0)
    with pytest.raises(SpecError, match="spec must be a TupleSpec"):
        kernels.render_tuples(images, params, None)


def test_render_tuples_names_the_tuple_with_a_singular_homography(photos):
    size = SIZES[-1]
    spec = spec_for(size)
    images, params = _batch(photos, spec, 14, count=3)
    collapsed = 10.0 - geometric.corners(*size)  # every corner sent to one point
    params[1] = dataclasses.replace(params[1], geometric=geometric.GeometricParams(offsets=collapsed))
    with pytest.raises(SpecError, match=r"params\[1\]: .*singular homography"):
        kernels.render_tuples(images, params, spec, threads=2)


def test_render_tuples_concurrent_callers_get_the_same_results(photos):
    # one Python thread holds the parallel driver; the others render tuple by tuple
    from concurrent.futures import ThreadPoolExecutor

    size = SIZES[-1]
    spec = spec_for(size)
    images, params = _batch(photos, spec, 14, count=4)
    want = kernels.render_tuples(images, params, spec, threads=1).I_S.copy()
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda _: kernels.render_tuples(images, params, spec, threads=2).I_S, range(6)))
    for g in got:
        np.testing.assert_array_equal(g, want)
