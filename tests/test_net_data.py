"""pastenet.data: items, the cursor sampler, loaders with and without workers, streams, refusals."""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import pastegen
from pastegen.sources import SourceImage, SourceScan
from pastenet.data import (
    CursorSampler,
    StreamDataset,
    TupleFileDataset,
    epoch_permutation,
    make_loader,
    make_stream,
    open_training_file,
    position_index,
    prepare,
)
from pastenet.errors import ConfigError, DataError

N = 24
SEED = 3
SPEC = pastegen.preset("sample", height=32, width=32)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("net-data") / "tuples.h5"
    pastegen.make(out, pastegen.sample_image_paths(), SPEC, count=N, seed=SEED)
    return out


@pytest.fixture(scope="module")
def records(made) -> list[SourceImage]:
    with pastegen.open_tuples(made) as tf:
        return [SourceImage(**s) for s in tf.sources]


@pytest.fixture(scope="module")
def ds(made) -> TupleFileDataset:
    return TupleFileDataset(made)


def assert_item_matches_file(item, tf, i):
    ref = tf[i]
    np.testing.assert_array_equal(item["I"].numpy(), ref["I"].transpose(2, 0, 1))
    np.testing.assert_array_equal(item["X"].numpy(), (ref["I_T"] + ref["I_S"]).transpose(2, 0, 1))
    np.testing.assert_array_equal(item["M"].numpy(), ref["M"][None])
    assert int(item["index"]) == i


# --- items ----------------------------------------------------------------------------------------


def test_items_equal_the_files_arrays(ds, made):
    assert len(ds) == N and ds.resolution == 32
    item = ds[5]
    assert item["I"].dtype == item["X"].dtype == item["M"].dtype == torch.uint8 and item["index"].dtype == torch.int64
    assert item["I"].shape == item["X"].shape == (3, 32, 32) and item["M"].shape == (1, 32, 32)
    with pastegen.open_tuples(made) as tf:
        for i in (0, 5, N - 1):
            ref = tf[i]
            assert not ((ref["I_T"] > 0) & (ref["M"][..., None] > 0)).any()  # disjoint supports
            assert_item_matches_file(ds[i], tf, i)
    assert set(np.unique(item["M"].numpy())) <= {0, 1}


# --- sampler and cursor ---------------------------------------------------------------------------


def _take(sampler, k):
    return list(itertools.islice(iter(sampler), k))


def test_epoch_permutation_depends_only_on_seed_epoch_and_n():
    a = epoch_permutation(1, 0, 10)
    assert sorted(a) == list(range(10)) and a.dtype == np.int64
    np.testing.assert_array_equal(a, epoch_permutation(1, 0, 10))
    assert not np.array_equal(a, epoch_permutation(1, 1, 10)) and not np.array_equal(a, epoch_permutation(2, 0, 10))
    assert position_index(1, 10, 13) == epoch_permutation(1, 1, 10)[3]


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_sampler_cursor_is_exact(world_size):
    B, steps, more = 5, 7, 9
    for r in range(world_size):
        full = _take(CursorSampler(N, seed=SEED, batch=B, rank=r, world_size=world_size), (steps + more) * B)
        cursor = steps * B * world_size
        resumed = _take(CursorSampler(N, seed=SEED, batch=B, rank=r, world_size=world_size, start=cursor), more * B)
        assert resumed == full[steps * B :]


@pytest.mark.parametrize("world_size", [1, 2, 3])
@pytest.mark.parametrize("batch", [1, 4, 5, 7])
def test_ranks_cover_every_index_once_per_epoch(world_size, batch):
    epochs = 3
    steps = -(-epochs * N // (batch * world_size))
    seen: dict[int, list[int]] = {}
    positions = []
    for r in range(world_size):
        s = CursorSampler(N, seed=SEED, batch=batch, rank=r, world_size=world_size)
        for p, i in zip(itertools.islice(s.positions(), steps * batch), itertools.islice(iter(s), steps * batch), strict=True):
            positions.append(p)
            seen.setdefault(p // N, []).append(i)
    assert sorted(positions) == list(range(steps * batch * world_size))  # no duplicate, no gap
    for epoch in range(epochs):
        assert sorted(seen[epoch]) == list(range(N)), epoch  # each index exactly once per epoch


def test_sampler_refuses_bad_options():
    with pytest.raises(ConfigError, match="rank"):
        CursorSampler(N, seed=0, batch=2, rank=2, world_size=2)
    with pytest.raises(ConfigError, match="batch"):
        CursorSampler(N, seed=0, batch=0)


# --- loaders ----------------------------------------------------------------------------------------


def _batches(loader, k):
    out = [next(loader) for _ in range(k)]
    loader.close()
    return out


def test_loader_batches_follow_the_sampler_and_do_not_depend_on_workers(ds, made):
    B, W, r, cursor = 4, 2, 1, 8
    plain = make_loader(ds, batch=B, seed=SEED, cursor=cursor, rank=r, world_size=W)
    a = _batches(plain, 5)
    assert plain.cursor == cursor + 5 * B * W
    expected = _take(CursorSampler(N, seed=SEED, batch=B, rank=r, world_size=W, start=cursor), 5 * B)
    assert torch.cat([b["index"] for b in a]).tolist() == expected
    b = _batches(make_loader(ds, batch=B, seed=SEED, cursor=cursor, rank=r, world_size=W, workers=2), 5)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k
    with pastegen.open_tuples(made) as tf:
        assert_item_matches_file({k: v[2] for k, v in a[1].items()}, tf, int(a[1]["index"][2]))


# --- streams ----------------------------------------------------------------------------------------


def test_stream_items_equal_file_items(ds, made, records):
    stream = make_stream(ds, batch=3, start=4)
    assert stream.seed == SEED and stream.spec == SPEC and stream.block_size == 3
    items = list(itertools.islice(iter(StreamDataset(stream)), 6))
    assert [int(it["index"]) for it in items] == [4, 5, 6, 7, 8, 9]
    with pastegen.open_tuples(made) as tf:
        for it in items:
            assert_item_matches_file(it, tf, int(it["index"]))
    from_photos = make_stream(list(records), spec="sample", seed=SEED, batch=1)
    assert from_photos.spec.height == 256  # the preset itself; sources used as they are
    with pytest.raises(ConfigError, match="spec= and seed="):
        make_stream(list(records), batch=1)
    with pytest.raises(ConfigError, match="as_tuple"):  # TrainingTuple items are not the dicts it reads
        StreamDataset(pastegen.TupleStream(list(records), SPEC, SEED, as_tuple=True))


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_stream_workers_give_each_rank_its_block_positions(records, world_size):
    """W ranks x 2 workers, collected round robin as an in-order DataLoader does."""
    B, workers, steps, cursor = 2, 2, 4, 6 * world_size
    for r in range(world_size):
        base = pastegen.TupleStream(records, SPEC, SEED, start=cursor, rank=r, world_size=world_size, block_size=B, scan=False)
        its = [iter(base.for_worker(w, workers).indices()) for w in range(workers)]
        got = [list(itertools.islice(its[k % workers], B)) for k in range(steps)]
        want = [list(range(cursor + s * B * world_size + r * B, cursor + s * B * world_size + (r + 1) * B)) for s in range(steps)]
        assert got == want


def test_stream_loader_with_workers_matches_the_file(ds, made):
    B, W, r, cursor = 3, 2, 1, 6
    stream = make_stream(ds, batch=1, start=0)  # make_loader re-derives it for this rank, batch and cursor
    loader = make_loader(stream, batch=B, seed=0, cursor=cursor, rank=r, world_size=W, workers=2)
    batches = _batches(loader, 3)
    assert [b["index"].tolist() for b in batches] == [[9, 10, 11], [15, 16, 17], [21, 22, 23]]
    plain = _batches(make_loader(StreamDataset(make_stream(ds, batch=B)), batch=B, seed=0, cursor=cursor, rank=r, world_size=W), 3)
    with pastegen.open_tuples(made) as tf:
        for b, p in zip(batches, plain, strict=True):
            for k in b:
                assert torch.equal(b[k], p[k])
            for j in range(B):
                assert_item_matches_file({k: v[j] for k, v in b.items()}, tf, int(b["index"][j]))


# --- refusals ---------------------------------------------------------------------------------------


def test_refuses_incomplete_files(made, tmp_path):
    unfinished = tmp_path / "unfinished.h5"
    shutil.copy(made, unfinished)
    with h5py.File(unfinished, "r+") as f:
        f.attrs["complete"] = 0
    with pytest.raises(DataError, match=r"incomplete.*pastegen make --resume") as e:
        TupleFileDataset(unfinished)
    assert "\n" not in str(e.value)
    interrupted = tmp_path / "interrupted.h5"
    shutil.copy(unfinished, tmp_path / "interrupted.h5.partial")  # only the writer's temporary file
    with pytest.raises(DataError, match=r"incomplete.*pastegen make --resume"):
        open_training_file(interrupted)


def test_refuses_other_format_versions_missing_and_foreign_files(made, tmp_path):
    newer = tmp_path / "newer.h5"
    shutil.copy(made, newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = pastegen.FORMAT_VERSION + 1
    with pytest.raises(DataError, match=f"version {pastegen.FORMAT_VERSION + 1}.*upgrade pastegen"):
        TupleFileDataset(newer)
    with pytest.raises(DataError, match="does not exist.*pastegen make"):
        TupleFileDataset(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(DataError, match="not an HDF5 file"):
        TupleFileDataset(text)


def test_refuses_non_square_tuples(records, tmp_path):
    out = tmp_path / "wide.h5"
    pastegen.make(out, SourceScan(tuple(records), ()), pastegen.preset("sample", height=32, width=48), count=1, seed=0)
    with pytest.raises(DataError, match="32x48.*square"):
        TupleFileDataset(out)


# --- on the device ----------------------------------------------------------------------------------


def test_prepare_ranges_and_shapes(ds):
    batch = torch.utils.data.default_collate([ds[i] for i in range(3)])
    out = prepare(batch, "cpu")
    assert out["I"].shape == out["composite"].shape == (3, 3, 32, 32)
    assert out["M"].shape == (3, 1, 32, 32) and out["X"].shape == (3, 4, 32, 32)
    for k in ("I", "composite", "M", "X"):
        assert out[k].dtype == torch.float32
    assert out["I"].min() >= -1 and out["I"].max() <= 1 and out["I"].min() < -0.5 and out["I"].max() > 0.5
    torch.testing.assert_close(out["I"], batch["I"].float() / 127.5 - 1)
    assert set(out["M"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(out["X"][:, :3], out["composite"]) and torch.equal(out["X"][:, 3:], out["M"])
    assert torch.equal(out["index"], batch["index"])
    cl = prepare(batch, "cpu", channels_last=True)
    assert cl["X"].is_contiguous(memory_format=torch.channels_last) and torch.equal(cl["X"], out["X"])


def test_truth_items_carry_the_geometric_source_inside_the_mask(records):
    """--truth colours: items gain "truth" = I outside M, T_geometric(I) inside; prepare scales it."""
    plain = list(itertools.islice(iter(StreamDataset(make_stream(list(records), spec=SPEC, seed=SEED, batch=2))), 4))
    stream = make_stream(list(records), spec=SPEC, seed=SEED, batch=2, geometric_source=True)
    items = list(itertools.islice(iter(StreamDataset(stream)), 4))
    for it, p in zip(items, plain, strict=True):
        assert set(it) - set(p) == {"truth"}
        for k in p:
            assert torch.equal(it[k], p[k])
        ref = stream.render(int(it["index"]))
        inside = ref["M"][..., None] != 0
        np.testing.assert_array_equal(it["truth"].numpy().transpose(1, 2, 0), np.where(inside, ref["I_G"], ref["I"]))
    loader = make_loader(stream, batch=2, seed=0, cursor=0, workers=0)  # the flag survives the re-derived stream
    batch = next(loader)
    assert torch.equal(batch["truth"], torch.stack([items[0]["truth"], items[1]["truth"]]))
    out = prepare(batch, "cpu")
    torch.testing.assert_close(out["truth"], batch["truth"].float() / 127.5 - 1)
    outside = out["M"] == 0
    assert torch.equal(out["truth"][outside.expand_as(out["I"])], out["I"][outside.expand_as(out["I"])])
    assert "truth" not in prepare(next(make_loader(make_stream(list(records), spec=SPEC, seed=SEED, batch=2), batch=2, seed=0, cursor=0)), "cpu")



def test_poisson_prior_items(records):
    """--prior poisson: "prior" holds Poisson normal's blend of T(I) (truth: of T_geometric(I)), rounded."""
    from benchmarks.baselines import BASELINES
    from pastegen.pipeline import TupleParams, geometric_only, grown_mask, render

    stream = make_stream(list(records), spec=SPEC, seed=SEED, batch=2, geometric_source=True)
    items = list(itertools.islice(iter(StreamDataset(stream, prior="poisson")), 3))
    plain = list(itertools.islice(iter(StreamDataset(make_stream(list(records), spec=SPEC, seed=SEED, batch=2, geometric_source=True))), 3))
    for it, p in zip(items, plain, strict=True):
        assert set(it) - set(p) == {"prior"} and torch.equal(it["X"], p["X"]) and torch.equal(it["I"], p["I"])
        ref = stream.render(int(it["index"]))
        m = ref["M"].astype(bool)
        grown = grown_mask(TupleParams.from_record(int(it["index"]), ref["source_index"], ref["params"]), 1)
        for key, src, params in (("prior", "I_S", grown), ("truth", "I_G", geometric_only(grown))):
            around = render(ref["I"], params, SPEC).I_S  # T(I) on the mask grown by a pixel
            ring = _dilate4(m) & ~m
            assert around[ring].any()
            source = np.where(m[..., None], ref[src], around)
            want = BASELINES["poisson_normal"](ref["I"], source, m)  # the target outside the mask is I
            np.testing.assert_array_equal(it[key].numpy().transpose(1, 2, 0), want, err_msg=key)
    loader = make_loader(StreamDataset(stream, prior="poisson"), batch=2, seed=0, cursor=0)
    batch = next(loader)
    assert torch.equal(batch["prior"][0], items[0]["prior"])  # make_loader keeps the dataset's prior
    out = prepare(batch, "cpu")
    torch.testing.assert_close(out["prior"], batch["prior"].float() / 127.5 - 1)
    with pytest.raises(ConfigError, match="prior"):
        StreamDataset(stream, prior="laplace")


def test_item_selects_and_transposes_as_numpy_where():
    """``_item``'s one-pass selection equals ``np.where`` then a CHW copy, for any mask dtype and strided input."""
    from pastenet.data import _item

    rng = np.random.default_rng(4)
    for h, w in ((64, 64), (37, 53)):
        I, I_T, I_S, I_G, P_S = rng.integers(0, 256, (5, h, 2 * w, 3), dtype=np.uint8)[:, :, ::2]  # strided views
        for M in ((rng.random((h, w)) < 0.4).astype(np.uint8), rng.random((h, w)) < 0.4, 2 * (rng.random((h, w)) < 0.4).astype(np.int64)):
            inside = M[..., None] != 0
            item = _item(I, I_T, I_S, M, 7, I_G, P_S)
            want = {"I": I, "X": np.where(inside, I_S, I_T), "truth": np.where(inside, I_G, I), "prior": np.where(inside, P_S, I_T)}
            for key, image in want.items():
                assert item[key].is_contiguous() and item[key].dtype == torch.uint8
                np.testing.assert_array_equal(item[key].numpy(), image.transpose(2, 0, 1), err_msg=key)
            np.testing.assert_array_equal(item["M"].numpy(), inside.transpose(2, 0, 1).astype(np.uint8))
            assert int(item["index"]) == 7 and set(_item(I, I_T, I_S, M, 7)) == {"I", "X", "M", "index"}


def _dilate4(m: np.ndarray) -> np.ndarray:
    """The 4-neighbour dilation of a boolean mask."""
    out = m.copy()
    out[1:] |= m[:-1]
    out[:-1] |= m[1:]
    out[:, 1:] |= m[:, :-1]
    out[:, :-1] |= m[:, 1:]
    return out


def test_one_thread_per_worker_limits_every_pool_the_prior_uses():
    """A loader worker's set-up: numba, OpenCV and every BLAS (scipy's too, loaded by it) on one thread."""
    import subprocess
    import sys

    code = (
        "import json, cv2, numba, threadpoolctl\n"
        "from pastenet.data import one_thread_per_worker\n"
        "one_thread_per_worker()\n"
        "pools = [p['num_threads'] for p in threadpoolctl.threadpool_info() if p['user_api'] == 'blas']\n"
        "print(json.dumps([numba.get_num_threads(), cv2.getNumThreads(), pools]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    numba_threads, cv2_threads, blas = json.loads(out.strip().splitlines()[-1])
    assert numba_threads == 1 and cv2_threads == 1 and blas and all(n == 1 for n in blas), out
