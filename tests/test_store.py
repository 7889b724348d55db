"""The HDF5 store: round trips, crash safety (a real SIGKILL), resume, refusals, fork/pickle, verify."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pastegen.errors import (
    CorruptFileError,
    IncompatibleFileError,
    IncompleteFileError,
    OutputExistsError,
    ResumeMismatchError,
    SpecError,
    StoreError,
)
from pastegen.store import (
    ARRAY_NAMES,
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    FORMAT_VERSION,
    MissingFileError,
    StoreLayout,
    StoreWarning,
    TupleFile,
    TupleWriter,
    open_tuples,
    partial_path,
    verify,
)

REPO = Path(__file__).resolve().parents[1]
H, W, N = 32, 48, 10
FIELDS = {
    "geometric/offsets": ((4, 2), "float64"),
    "mask/angle": ((), "float64"),
    "mix/grid": ((10, 10), "uint8"),
    "crop/box": ((4,), "int64"),
    "color_a/flip": ((), "bool"),
}
ATTRS = {
    "spec": json.dumps({"name": "tiny", "sigma": 15.0}),
    "seed": 7,
    "sources": [{"path": "a.jpg", "sha256": "00"}, {"path": "b.jpg", "sha256": "11"}],
    "generator": "pastegen test",
}


def layout(count: int = N) -> StoreLayout:
    return StoreLayout(count=count, height=H, width=W, param_fields=FIELDS)


def make_tuple(i: int) -> tuple[dict, dict, int]:
    """Deterministic tuple ``i``: consistent arrays and parameters of every field's dtype."""
    rng = np.random.default_rng(1000 + i)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    m = np.zeros((H, W), np.uint8)
    y, x = int(rng.integers(0, H // 2)), int(rng.integers(0, W // 2))
    m[y : y + H // 3, x : x + W // 3] = 1
    arrays = {"I": img, "I_T": img * (1 - m)[..., None], "I_S": (255 - img) * m[..., None], "M": m}
    params = {
        "geometric/offsets": rng.normal(0, 15, (4, 2)),
        "mask/angle": float(rng.uniform(0, np.pi)),
        "mix/grid": rng.integers(0, 256, (10, 10)),
        "crop/box": np.array([y, x, y + 5, x + 7]),
        "color_a/flip": bool(i % 2),
    }
    return arrays, params, i % 2


def write_all(path, count: int = N, indices=None, **kw) -> Path:
    with TupleWriter(path, layout(count), attrs=kw.pop("attrs", ATTRS), **kw) as w:
        for i in w.pending() if indices is None else indices:
            a, p, s = make_tuple(i)
            w.write(i, a, p, s)
        return w.commit()


def assert_tuples_equal(path, count: int = N) -> None:
    with open_tuples(path) as tf:
        assert len(tf) == count
        for i in range(count):
            a, p, s = make_tuple(i)
            got = tf[i]
            for name in ARRAY_NAMES:
                assert got[name].dtype == np.uint8
                np.testing.assert_array_equal(got[name], a[name])
            assert got["source_index"] == s
            assert set(got["params"]) == set(FIELDS)
            for name, value in p.items():
                np.testing.assert_array_equal(got["params"][name], value)
                assert got["params"][name].dtype == np.dtype(FIELDS[name][1])


# --- round trips --------------------------------------------------------------------------------


def test_round_trip_arrays_params_and_metadata(tmp_path):
    out = write_all(tmp_path / "out.h5")
    assert out == tmp_path / "out.h5" and out.exists()
    assert not partial_path(out).exists()
    assert_tuples_equal(out)
    with open_tuples(out) as tf:
        assert (tf.height, tf.width) == (H, W)
        assert tf.seed == 7
        assert tf.spec == {"name": "tiny", "sigma": 15.0}
        assert tf.sources == ATTRS["sources"]
        assert tf.skipped == []
        assert tf.attrs["format_version"] == FORMAT_VERSION
        assert tf.attrs["complete"] == 1 and tf.complete
        assert tf.attrs["compression"] == DEFAULT_COMPRESSION
        assert tf.param_fields == {k: (tuple(s), d) for k, (s, d) in FIELDS.items()}
        np.testing.assert_array_equal(tf[-1]["I"], make_tuple(N - 1)[0]["I"])
        np.testing.assert_array_equal(tf.read_array("M", 3), make_tuple(3)[0]["M"])
        assert tf.params(2)["mask/angle"] == make_tuple(2)[1]["mask/angle"]
        with pytest.raises(IndexError):
            tf[N]
        with pytest.raises(IndexError):
            tf[-N - 1]
        with pytest.raises(KeyError):
            tf.read_array("X", 0)
    with h5py.File(out, "r") as f:
        assert f["params/geometric/offsets"].shape == (N, 4, 2)
        assert isinstance(f["params/geometric"], h5py.Group)
        for name in ("I", "I_T", "I_S", "M", "source_index", "written", "params/mix/grid"):
            assert f[name].fletcher32, name
        assert f["I"].chunks == (1, H, W, 3) and f["M"].chunks == (1, H, W)
        assert f["written"][:].all()


def test_attrs_are_json_or_plain_never_pickled(tmp_path):
    attrs = {
        "text": "plain string",
        "looks_like_json": "[1, 2]",
        "count_like": 12,
        "ratio": 0.25,
        "big": 2**70,
        "flag": True,
        "nothing": None,
        "items": [1, 2.5, "x"],
        "nested": {"a": {"b": [1, {"c": None}]}, "t": (1, 2)},
        "np_scalar": np.float32(1.5),
        "np_array": np.arange(3),
    }
    out = write_all(tmp_path / "a.h5", count=2, attrs=attrs)
    with h5py.File(out, "r") as f:
        for name in f.attrs:
            v = f.attrs[name]
            assert isinstance(v, (str, np.integer, np.floating)), (name, type(v))
            assert not isinstance(v, (bytes, np.void))
        assert f.attrs["text"] == "plain string"
        assert f.attrs["looks_like_json"] == "[1, 2]"
        assert f.attrs["count_like"] == 12 and isinstance(f.attrs["count_like"], np.integer)
        assert isinstance(f.attrs["ratio"], np.floating)
        assert json.loads(f.attrs["nested"]) == {"a": {"b": [1, {"c": None}]}, "t": [1, 2]}
    with open_tuples(out) as tf:
        a = tf.attrs
        assert a["text"] == "plain string" and a["looks_like_json"] == "[1, 2]"
        assert a["count_like"] == 12 and a["ratio"] == 0.25 and a["big"] == 2**70
        assert a["flag"] is True and a["nothing"] is None
        assert a["items"] == [1, 2.5, "x"]
        assert a["nested"] == {"a": {"b": [1, {"c": None}]}, "t": [1, 2]}
        assert a["np_scalar"] == 1.5 and a["np_array"] == [0, 1, 2]


def test_attrs_refused(tmp_path):
    with pytest.raises(SpecError, match="reserved"):
        TupleWriter(tmp_path / "x.h5", layout(), attrs={"count": 3})
    with pytest.raises(SpecError, match="cannot be stored"):
        TupleWriter(tmp_path / "x.h5", layout(), attrs={"obj": object()})
    with pytest.raises(SpecError, match="compression"):
        TupleWriter(tmp_path / "x.h5", layout(), attrs={}, compression="zip")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_every_compression_round_trips(tmp_path, compression):
    out = write_all(tmp_path / f"{compression}.h5", count=3, compression=compression)
    with open_tuples(out) as tf:
        assert tf.compression == compression
    assert_tuples_equal(out, count=3)
    assert verify(out).ok


def test_write_validates_its_inputs(tmp_path):
    with TupleWriter(tmp_path / "v.h5", layout(2), attrs={}) as w:
        a, p, s = make_tuple(0)
        with pytest.raises(StoreError, match="must be"):
            w.write(0, {**a, "I": a["I"].astype(np.float32)}, p, s)
        with pytest.raises(StoreError, match="only 0 and 1"):
            w.write(0, {**a, "M": a["M"] * 255}, p, s)
        with pytest.raises(StoreError, match="params"):
            w.write(0, a, {k: v for k, v in p.items() if k != "mask/angle"}, s)
        with pytest.raises(StoreError, match="exactly"):
            w.write(0, a, {**p, "mix/grid": np.full((10, 10), 300)}, s)
        with pytest.raises(IndexError):
            w.write(2, a, p, s)
        w.write(0, a, p, s)
        with pytest.raises(StoreError, match="already written"):
            w.write(0, a, p, s)
        with pytest.raises(IncompleteFileError, match="1 of 2"):
            w.commit()
        w.write(1, *make_tuple(1))
        w.commit()
    assert verify(tmp_path / "v.h5").ok


def test_set_attrs_at_the_end(tmp_path):
    with TupleWriter(tmp_path / "s.h5", layout(2), attrs=ATTRS) as w:
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.set_attrs(skipped=[{"path": "bad.jpg", "reason": "truncated"}], summary={"seconds": 1.5}, note="done")
        w.commit()
    with open_tuples(tmp_path / "s.h5") as tf:
        assert tf.skipped == [{"path": "bad.jpg", "reason": "truncated"}]
        assert tf.attrs["summary"] == {"seconds": 1.5} and tf.attrs["note"] == "done"


# --- overwrite, abandon, resume -----------------------------------------------------------------


def test_refuses_to_overwrite(tmp_path):
    out = write_all(tmp_path / "out.h5", count=2)
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        TupleWriter(out, layout(2), attrs=ATTRS)
    with pytest.raises(OutputExistsError):
        TupleWriter(out, layout(2), attrs=ATTRS, resume=True)
    assert out.read_bytes() == before and not partial_path(out).exists()


def test_overwrite_keeps_the_old_file_until_commit(tmp_path):
    out = write_all(tmp_path / "out.h5", count=2, attrs={"seed": 1})
    with TupleWriter(out, layout(3), attrs={"seed": 2}, overwrite=True) as w:
        for i in w.pending():
            w.write(i, *make_tuple(i))
            with open_tuples(out) as tf:  # the old file is untouched while the new one is written
                assert len(tf) == 2 and tf.seed == 1
        w.commit()
    with open_tuples(out) as tf:
        assert len(tf) == 3 and tf.seed == 2


def _abandon(path, count=N, stop_after=4, **kw):
    with pytest.raises(RuntimeError, match="boom"):
        with TupleWriter(path, layout(count), attrs=kw.pop("attrs", ATTRS), **kw) as w:
            for i in w.pending():
                if i == stop_after:
                    raise RuntimeError("boom")
                w.write(i, *make_tuple(i))


def test_abandoned_writer_leaves_a_partial_and_resume_matches_an_uninterrupted_run(tmp_path):
    ref = write_all(tmp_path / "ref.h5")
    out = tmp_path / "out.h5"
    _abandon(out, stop_after=4)
    assert not out.exists() and partial_path(out).exists()
    with pytest.raises(IncompleteFileError, match="--resume"):
        open_tuples(out)
    with pytest.raises(IncompleteFileError, match="--resume"):
        open_tuples(partial_path(out))
    with open_tuples(partial_path(out), allow_incomplete=True) as tf:  # inspect what was written
        np.testing.assert_array_equal(tf[1]["I"], make_tuple(1)[0]["I"])
        with pytest.raises(IncompleteFileError):
            tf[7]
    with pytest.raises(OutputExistsError, match="--resume"):
        TupleWriter(out, layout(), attrs=ATTRS)
    with TupleWriter(out, layout(), attrs=ATTRS, resume=True) as w:
        assert w.pending() == list(range(4, N)) and w.recovered == 4
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert not partial_path(out).exists()
    assert_tuples_equal(out)
    with open_tuples(ref) as a, open_tuples(out) as b:
        for i in range(N):
            for name in ARRAY_NAMES:
                np.testing.assert_array_equal(a[i][name], b[i][name])
    assert verify(out).ok


def test_resume_refuses_other_settings(tmp_path):
    out = tmp_path / "out.h5"
    _abandon(out)
    before = partial_path(out).read_bytes()
    cases = [
        (dict(attrs={**ATTRS, "seed": 8}), "attribute 'seed'"),
        (dict(attrs={k: v for k, v in ATTRS.items() if k != "sources"}), "attribute 'sources'"),
        (dict(attrs={**ATTRS, "extra": 1}), "attribute 'extra'"),
        (dict(attrs=ATTRS, compression="none"), "compression"),
    ]
    for kw, what in cases:
        with pytest.raises(ResumeMismatchError, match=what):
            TupleWriter(out, layout(), resume=True, **kw)
    with pytest.raises(ResumeMismatchError, match="count"):
        TupleWriter(out, layout(N + 1), attrs=ATTRS, resume=True)
    other = StoreLayout(N, H, W, {**FIELDS, "mask/angle": ((), "float32")})
    with pytest.raises(ResumeMismatchError, match="mask/angle"):
        TupleWriter(out, other, attrs=ATTRS, resume=True)
    assert partial_path(out).read_bytes() == before  # untouched
    # volatile attributes may differ
    with TupleWriter(out, layout(), attrs={**ATTRS, "summary": "x", "jobs": 4}, resume=True) as w:
        assert w.recovered == 4
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(out)


def test_resume_without_partial_is_a_fresh_run_and_overwrite_discards_a_stale_partial(tmp_path):
    out = tmp_path / "out.h5"
    with TupleWriter(out, layout(), attrs=ATTRS, resume=True) as w:
        assert w.pending() == list(range(N)) and w.recovered == 0
        w.close()
    _abandon(tmp_path / "b.h5")
    with TupleWriter(tmp_path / "b.h5", layout(), attrs={"seed": 99}, overwrite=True) as w:
        assert w.pending() == list(range(N))
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert open_tuples(tmp_path / "b.h5").seed == 99


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_resume_starts_over_when_the_partial_cannot_be_opened(tmp_path, damage):
    out = tmp_path / "out.h5"
    part = partial_path(out)
    if damage == "garbage":
        part.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)
    else:
        _abandon(out)
        data = part.read_bytes()
        part.write_bytes(data[: len(data) // 3])
    with pytest.warns(StoreWarning, match="starting over"):
        w = TupleWriter(out, layout(), attrs=ATTRS, resume=True)
    with w:
        assert w.pending() == list(range(N))
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(out)


def test_resume_regenerates_a_flagged_tuple_whose_chunk_is_damaged(tmp_path):
    out = tmp_path / "out.h5"
    _abandon(out, stop_after=6, compression="none")
    part = partial_path(out)
    _flip_byte(part, "I_S", 2)
    with TupleWriter(out, layout(), attrs=ATTRS, compression="none", resume=True) as w:
        assert w.pending() == [2, *range(6, N)]
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(out)


_KILL_CHILD = """
import sys, time
sys.path[:0] = [{repo!r}, {tests!r}]
from test_store import ATTRS, layout, make_tuple
from pastegen.store import TupleWriter
with TupleWriter({out!r}, layout({count}), attrs=ATTRS, flush_every=2) as w:
    for i in w.pending():
        w.write(i, *make_tuple(i))
        print(i, flush=True)
        time.sleep(0.03)
    w.commit()
"""


def test_sigkill_mid_run_leaves_no_final_file_and_resume_completes(tmp_path):
    count = 40
    out = tmp_path / "out.h5"
    code = _KILL_CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), out=str(out), count=count)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        done = -1
        deadline = time.monotonic() + 30
        while done < 12 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            done = int(line)
        assert done >= 12, "the writer did not get going"
        time.sleep(random.uniform(0, 0.1))  # land anywhere in the write/flush cycle
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert partial_path(out).exists()
    with TupleWriter(out, layout(count), attrs=ATTRS, resume=True) as w:
        assert 12 <= w.recovered < count  # flushed tuples (0..11 when "12" was printed) survive the kill
        assert w.pending() == list(range(w.recovered, count))
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(out, count=count)
    assert verify(out).ok


def test_resume_refuses_a_partial_file_another_process_is_writing(tmp_path):
    out = tmp_path / "out.h5"
    _abandon(out)
    holder = "import sys, time, h5py\nf = h5py.File(sys.argv[1], 'r+', locking=True)\nprint('ready', flush=True)\ntime.sleep(30)\n"
    proc = subprocess.Popen([sys.executable, "-c", holder, str(partial_path(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError, match="open in another process"):
            TupleWriter(out, layout(), attrs=ATTRS, resume=True)
        with pytest.raises(StoreError, match="open in another process"):
            TupleWriter(out, layout(), attrs=ATTRS, overwrite=True)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert partial_path(out).exists()


# --- refusals -----------------------------------------------------------------------------------


def test_open_refuses_missing_foreign_wrong_version_and_incomplete_files(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        open_tuples(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(IncompatibleFileError, match="not an HDF5 file"):
        open_tuples(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(IncompatibleFileError, match="not a pastegen tuple file"):
        open_tuples(foreign)
    newer = write_all(tmp_path / "newer.h5", count=2)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(IncompatibleFileError, match=f"version {FORMAT_VERSION + 1}.*reads version {FORMAT_VERSION}"):
        open_tuples(newer)
    unfinished = write_all(tmp_path / "unfinished.h5", count=2)
    with h5py.File(unfinished, "r+") as f:
        f.attrs["complete"] = 0
    with pytest.raises(IncompleteFileError, match="pastegen make --resume"):
        open_tuples(unfinished)
    with pytest.raises(IncompleteFileError):
        verify(unfinished)
    damaged = write_all(tmp_path / "damaged.h5", count=2)
    with h5py.File(damaged, "r+") as f:
        del f["M"]
        f.create_dataset("M", shape=(2, H, W + 1), dtype="u1")
    with pytest.raises(CorruptFileError, match="dataset M has shape"):
        open_tuples(damaged)
    report = verify(damaged)
    assert not report.ok and any("dataset M has shape" in p for p in report.problems)
    for exc in (MissingFileError, IncompatibleFileError, IncompleteFileError):
        assert issubclass(exc, StoreError)


# --- pickling and fork --------------------------------------------------------------------------


def _sums(tf: TupleFile, indices) -> list[int]:
    return [int(tf[i]["I"].sum()) + int(tf[i]["params"]["crop/box"].sum()) for i in indices]


def _child(tf: TupleFile, queue) -> None:
    try:
        queue.put(("ok", _sums(tf, range(len(tf)))))
    except BaseException as e:  # pragma: no cover - reported to the parent
        queue.put(("error", repr(e)))


def test_tuple_file_pickles_by_path_and_works_in_a_forked_child(tmp_path):
    out = write_all(tmp_path / "out.h5")
    tf = open_tuples(out)
    expected = _sums(tf, range(N))  # the parent's handle is open now
    blob = pickle.dumps(tf)
    assert len(blob) < 500 and str(out).encode() in blob
    clone = pickle.loads(blob)
    assert _sums(clone, range(N)) == expected and clone.attrs == tf.attrs
    clone.close()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(tf, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results == [("ok", expected)] * 2
    assert _sums(tf, range(N)) == expected  # the parent still reads after its children did
    tf.close()


# --- verify -------------------------------------------------------------------------------------


def _flip_byte(path: Path, name: str, index: int) -> None:
    with h5py.File(path, "r") as f:
        ds = f[name]
        info = ds.id.get_chunk_info_by_coord((index,) + (0,) * (ds.ndim - 1))
        offset, size = info.byte_offset, info.size
    assert offset is not None and size > 8
    with open(path, "r+b") as fh:
        fh.seek(offset + size // 2)
        b = fh.read(1)
        fh.seek(offset + size // 2)
        fh.write(bytes([b[0] ^ 0xFF]))


def test_verify_passes_a_good_file_and_reports_progress(tmp_path):
    out = write_all(tmp_path / "good.h5")
    seen = []
    report = verify(out, progress=lambda done, total: seen.append((done, total)))
    assert report.ok and report.problems == [] and report.count == N and report.checked == N
    assert seen[-1] == (N, N)


@pytest.mark.parametrize("compression", ["none", DEFAULT_COMPRESSION])
def test_verify_catches_a_flipped_byte_inside_a_chunk(tmp_path, compression):
    out = write_all(tmp_path / "bad.h5", compression=compression)
    _flip_byte(out, "I", 5)
    report = verify(out)
    assert not report.ok and report.checked == N
    assert any(p.startswith("tuple 5: I ") for p in report.problems), report.problems
    assert not any(p.startswith("tuple 4") or p.startswith("tuple 6") for p in report.problems)
    with open_tuples(out) as tf:
        with pytest.raises(CorruptFileError, match="tuple 5"):
            tf[5]
        tf[4]


def test_verify_catches_a_logically_wrong_tuple_and_unflagged_tuples(tmp_path):
    out = tmp_path / "wrong.h5"
    with TupleWriter(out, layout(), attrs=ATTRS) as w:
        for i in w.pending():
            a, p, s = make_tuple(i)
            if i == 3:
                a = {**a, "I_T": a["I"].copy()}  # not I*(1-M)
            if i == 6:
                a = {**a, "I_S": np.full_like(a["I_S"], 9)}  # not zero outside M
            if i == 8:
                a = {"I": a["I"], "I_T": a["I"], "I_S": np.zeros_like(a["I"]), "M": np.zeros_like(a["M"])}
            w.write(i, a, p, s)
        w.commit()
    with h5py.File(out, "r+") as f:
        f["written"][1] = 0
    problems = verify(out).problems
    assert "tuple 3: I_T differs from I*(1-M)" in problems
    assert "tuple 6: I_S is not zero outside M" in problems
    assert "tuple 8: M is empty (no pixel is 1)" in problems
    assert any("not flagged as written (first: 1)" in p for p in problems)
    assert len(problems) == 4, problems
