"""``TupleStream``: tuples by global index, equal to make's; the rank x worker split; exact resume.

A torch DataLoader is simulated (pastegen must not import torch): each worker batches its own
items into ``batch_size`` groups and the loader collects the workers' batches round robin, in
order, skipping exhausted workers, as ``DataLoader(in_order=True)`` does for an IterableDataset.
"""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pastegen.errors import SpecError
from pastegen.pipeline import TrainingTuple, TupleGenerator, preset
from pastegen.precompute import make, scan_for_make
from pastegen.sources import DEFAULT_MAX_PIXELS, SourceImage
from pastegen.store import open_tuples
from pastegen.stream import TupleStream, shard_of, stream_indices

ARRAYS = ("I", "I_T", "I_S", "M")
SPEC = preset("photos", height=32, width=32, sigma=3.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Four good photos and two bad files (make skips them; so must the stream)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for k in range(4):
        img = cv2.GaussianBlur((rng.random((60 + 7 * k, 80, 3)) * 255).astype(np.uint8), (0, 0), 2)
        cv2.imwrite(str(folder / f"p{k}.png"), img)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image\n")
    return folder


@pytest.fixture(scope="module")
def paths(folder) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


@pytest.fixture(scope="module")
def made(tmp_path_factory, paths) -> Path:
    return make(tmp_path_factory.mktemp("made") / "m.h5", paths, SPEC, count=14, seed=7).path


def assert_item_equal(item: dict, ref: dict) -> None:
    for name in ARRAYS:
        assert item[name].dtype == ref[name].dtype
        np.testing.assert_array_equal(item[name], ref[name], err_msg=name)
    assert item["source_index"] == ref["source_index"]
    assert set(item["params"]) == set(ref["params"])
    for name, value in ref["params"].items():
        got = item["params"][name]
        assert np.asarray(got).dtype == np.asarray(value).dtype and np.shape(got) == np.shape(value), name
        np.testing.assert_array_equal(got, value, err_msg=name)


def test_streamed_tuples_equal_the_file_make_writes(paths, made):
    stream = TupleStream(paths, SPEC, seed=7, stop=14)
    assert len(stream) == 14 and stream.cursor == 0
    assert {Path(s.path).name for s in stream.skipped} == {"empty.png", "notes.png"}
    items = list(stream)
    assert [it["index"] for it in items] == list(range(14)) and stream.position == 14 and stream.cursor is None
    with open_tuples(made) as tf:
        assert [s.to_dict() for s in stream.sources] == tf.attrs["sources"]
        for item in items:
            assert_item_equal(item, tf[item["index"]])
        # a window of the index range, and the file's own source records as the sources
        records = [SourceImage(**s) for s in tf.attrs["sources"]]
        for item in TupleStream(records, SPEC, seed=7, start=9, stop=12):
            assert_item_equal(item, tf[item["index"]])


def test_sources_given_as_scan_records_or_unscanned_paths(paths):
    scan = scan_for_make(paths, SPEC, max_pixels=DEFAULT_MAX_PIXELS, jobs=1, strict=False, progress=None)
    good = [p for p in paths if Path(p).name.startswith("p")]
    ref = list(TupleStream(paths, SPEC, seed=2, stop=6))
    for sources, kw in ((scan, {}), (list(scan.images), {}), (good, {"scan": False})):
        got = list(TupleStream(sources, SPEC, seed=2, stop=6, **kw))
        for a, b in zip(got, ref, strict=True):
            assert_item_equal(a, b)
    with pytest.raises(SpecError, match="not a mix"):
        TupleStream([good[0], scan.images[1]], SPEC)


def test_shards_partition_the_index_range():
    for start, stop, s_count, block in itertools.product((0, 5), (5, 17, 40), (1, 2, 3, 6), (1, 2, 4)):
        got = [list(stream_indices(start, stop, s, s_count, block)) for s in range(s_count)]
        flat = sorted(itertools.chain.from_iterable(got))
        assert flat == list(range(start, stop)), (start, stop, s_count, block)  # no duplicate, no gap
        for idx in got:
            assert idx == sorted(idx)
    # the shard id: s = worker * world_size + rank
    ids = {shard_of(r, 2, w, 3) for r in range(2) for w in range(3)}
    assert ids == {(s, 6) for s in range(6)}
    assert shard_of(rank=1, world_size=2, worker=0, num_workers=3) == (1, 6)
    for bad in ({"rank": 2, "world_size": 2}, {"worker": 3, "num_workers": 3}, {"world_size": 0}):
        with pytest.raises(SpecError):
            shard_of(**bad)


def fake_loader(stream: TupleStream, num_workers: int, batch_size: int):
    """Batches of global indices as torch's DataLoader (in order, workers batching) yields them."""
    workers = [iter(stream.for_worker(w, num_workers).indices()) for w in range(num_workers)]
    active = list(range(num_workers))
    while active:
        for w in list(active):
            batch = list(itertools.islice(workers[w], batch_size))
            if not batch:
                active.remove(w)
                continue
            yield batch


@pytest.mark.parametrize("world_size,num_workers,batch", [(1, 1, 1), (1, 3, 4), (2, 1, 3), (2, 3, 2), (3, 2, 5)])
def test_loader_sees_index_order_and_resume_is_exact(paths, world_size, num_workers, batch):
    base = TupleStream([np.zeros((40, 40, 3), np.uint8) + 9], SPEC, seed=0, start=3, block_size=batch)
    ranks = [TupleStream(base.sources, SPEC, seed=0, start=3, rank=r, world_size=world_size, block_size=batch) for r in range(world_size)]
    loaders = [fake_loader(s, num_workers, batch) for s in ranks]
    m = 7  # batches each rank consumes before "stopping"
    consumed = [[i for b in itertools.islice(ld, m) for i in b] for ld in loaders]
    for r, seq in enumerate(consumed):
        assert seq == sorted(seq)  # each rank reads its indices in increasing order
        blocks = {(i - 3) // batch for i in seq}
        assert all(b % world_size == r for b in blocks)  # rank r gets the blocks b = r mod world_size
    total = sum(len(c) for c in consumed)
    assert total == m * batch * world_size
    assert sorted(itertools.chain.from_iterable(consumed)) == list(range(3, 3 + total))  # a prefix: no gap
    # resume: new streams from start + consumed continue exactly where the job stopped
    resumed = [fake_loader(s.advanced(total), num_workers, batch) for s in ranks]
    after = [[i for b in itertools.islice(ld, m) for i in b] for ld in resumed]
    straight = [fake_loader(s, num_workers, batch) for s in ranks]
    whole = [[i for b in itertools.islice(ld, 2 * m) for i in b] for ld in straight]
    for r in range(world_size):
        assert consumed[r] + after[r] == whole[r]


def test_finite_stream_lengths_and_loader_end(paths):
    for world_size, num_workers, batch in ((1, 2, 3), (2, 2, 2), (3, 1, 4)):
        seen = []
        for r in range(world_size):
            s = TupleStream(paths, SPEC, seed=0, start=2, stop=25, rank=r, world_size=world_size, block_size=batch)
            got = [i for b in fake_loader(s, num_workers, batch) for i in b]
            assert got == sorted(got) and len(s) == len(got)
            assert sum(len(s.for_worker(w, num_workers)) for w in range(num_workers)) == len(got)
            seen += got
        assert sorted(seen) == list(range(2, 25))


def test_state_dict_resumes_one_stream_exactly(paths):
    a = TupleStream(paths, SPEC, seed=4, start=1, rank=1, world_size=2, block_size=2)
    first = [it["index"] for it in itertools.islice(a, 5)]
    assert first == [3, 4, 7, 8, 11] and a.position == 5 and a.cursor == 12
    state = a.state_dict()
    b = TupleStream(paths, SPEC, seed=4, start=1, rank=1, world_size=2, block_size=2)
    b.load_state_dict(state)
    nxt = list(itertools.islice(b, 3))
    assert [it["index"] for it in nxt] == [12, 15, 16]
    ref = TupleGenerator(b.sources, SPEC, 4)
    for it in nxt:
        t = ref[it["index"]]
        np.testing.assert_array_equal(it["I_S"], t.I_S)
    with pytest.raises(SpecError, match="seed"):
        TupleStream(paths, SPEC, seed=5, start=1, rank=1, world_size=2, block_size=2).load_state_dict(state)
    with pytest.raises(SpecError, match="shard"):
        TupleStream(paths, SPEC, seed=4, start=1, rank=0, world_size=2, block_size=2).load_state_dict(state)


def test_infinite_stream_types_and_pickling(paths):
    s = TupleStream(paths, SPEC, seed=3, start=10**9, dtype=np.float32)
    with pytest.raises(TypeError, match="infinite"):
        len(s)
    item = next(iter(s))
    assert item["index"] == 10**9 and item["I"].dtype == np.float32 and item["M"].dtype == np.float32
    u8 = TupleStream(paths, SPEC, seed=3, start=10**9).render(10**9)
    np.testing.assert_array_equal(item["I"], u8["I"].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(item["M"], u8["M"])
    t = next(iter(TupleStream(paths, SPEC, seed=3, start=5, as_tuple=True)))
    assert isinstance(t, TrainingTuple) and t.params.index == 5
    # a worker gets a pickled copy: same tuples, fresh position
    w = pickle.loads(pickle.dumps(TupleStream(paths, SPEC, seed=3, stop=8).for_worker(1, 2)))
    assert [it["index"] for it in w] == [1, 3, 5, 7]
    with pytest.raises(SpecError):
        TupleStream(paths, SPEC, dtype=np.int16)
    with pytest.raises(SpecError, match="stop"):
        TupleStream(paths, SPEC, start=5, stop=4)


def test_stream_works_in_a_spawned_worker_process(paths, made):
    """A stream pickled into another interpreter yields the file's tuples (what a loader worker does)."""
    s = TupleStream(paths, SPEC, seed=7, stop=14).for_worker(2, 3)
    code = (
        "import pickle, sys; s = pickle.loads(sys.stdin.buffer.read()); "
        "sys.stdout.buffer.write(pickle.dumps([(it['index'], it['I_S'].tobytes()) for it in s]))"
    )
    out = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(s), capture_output=True, check=True)
    got = pickle.loads(out.stdout)
    assert [i for i, _ in got] == [2, 5, 8, 11]
    with open_tuples(made) as tf:
        for i, data in got:
            assert data == tf[i]["I_S"].tobytes()


def test_geometric_source_is_the_warped_content_with_its_own_colours(paths):
    """I_G = T_geometric(I)·M: the colour transforms replaced by the identity, all else the same."""
    from pastegen.components import geometric
    from pastegen.pipeline import geometric_only, quantize, render

    plain = TupleStream(paths, SPEC, 7)
    with_g = TupleStream(paths, SPEC, 7, geometric_source=True)
    changed = 0
    for i in range(6):
        a, b = plain.render(i), with_g.render(i)
        assert_item_equal(b, a)  # the tuple itself does not change
        assert set(b) - set(a) == {"I_G"} and b["I_G"].dtype == np.uint8
        params = with_g._make_generator().sample_params(i)
        q = geometric_only(params)
        assert q.geometric == params.geometric and q.mask == params.mask and q.crop == params.crop
        np.testing.assert_array_equal(b["I_G"], render(b["I"], q, SPEC).I_S)
        m = b["M"][..., None].astype(bool)
        assert not b["I_G"][~np.broadcast_to(m, b["I_G"].shape)].any()  # zero outside M, as I_S
        warped = quantize(geometric.apply(b["I"], params.geometric, border=SPEC.geometric.border) / np.float32(255)) * m
        assert np.abs(b["I_G"].astype(int) - warped.astype(int)).max() <= 1  # the geometric part alone
        changed += int(np.abs(b["I_G"].astype(int) - b["I_S"].astype(int)).max() > 8)  # T's colours are gone
    assert changed >= 5
    floats = TupleStream(paths, SPEC, 7, geometric_source=True, dtype=np.float32).render(2)
    np.testing.assert_allclose(floats["I_G"], with_g.render(2)["I_G"] / np.float32(255))
    with pytest.raises(SpecError, match="geometric_source"):
        TupleStream(paths, SPEC, 7, geometric_source=True, as_tuple=True)
