"""The HDF5 store: round trips, crash safety (a real SIGKILL), resume, refusals, fork/pickle, verify,
format 2 (``I_T`` derived, not stored) and the reading of format-1 files."""

from __future__ import annotations

import contextlib
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
    READABLE_VERSIONS,
    EncodedTuple,
    MissingFileError,
    StoreLayout,
    StoreWarning,
    TupleFile,
    TupleWriter,
    encode_tuple,
    fletcher32,
    open_tuples,
    partial_path,
    stored_arrays,
    uncompressed_datasets,
    verify,
)
from pastegen.store import encode as store_encode
from pastegen.store.schema import compression_kwargs

REPO = Path(__file__).resolve().parents[1]
H, W, N = 32, 48, 10
#: The image datasets a file of this version stores (I_T is derived).
STORED = stored_arrays()
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


def make_tuple(i: int, h: int = H, w: int = W) -> tuple[dict, dict, int]:
    """Deterministic tuple ``i``: consistent arrays and parameters of every field's dtype."""
    rng = np.random.default_rng(1000 + i)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    m = np.zeros((h, w), np.uint8)
    y, x = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    m[y : y + h // 3, x : x + w // 3] = 1
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


@pytest.fixture
def format_1(monkeypatch):
    """Inside ``with format_1():`` the writer writes format 1, the layout before format 2: every
    array stored (``I_T`` too) and ``format_version`` 1. :func:`as_format_1` then drops the
    ``derived`` attribute, which format-1 files do not have (checked against a file of the
    earlier pastegen: the same datasets, filters and attributes)."""

    @contextlib.contextmanager
    def ctx():
        with monkeypatch.context() as m:
            m.setattr(TupleWriter, "write_format", (1, ()))
            yield

    return ctx


def as_format_1(path: Path) -> Path:
    with h5py.File(path, "r+") as f:
        assert f.attrs["format_version"] == 1 and f.attrs["derived"] == "" and "I_T" in f
        del f.attrs["derived"]
    return path


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
        assert tf.attrs["format_version"] == FORMAT_VERSION == 2 and tf.format_version == 2
        assert tf.attrs["derived"] == "I_T" and tf.derived == ("I_T",) and tf.stored == ("I", "I_S", "M") == STORED
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
        for name in ("I", "I_S", "M", "source_index", "written", "params/mix/grid"):
            assert f[name].fletcher32, name
        assert "I_T" not in f  # derived: readers rebuild it from I and M
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


def _tear(path: Path, name: str, row: int) -> None:
    """Change one byte of ``row`` inside its row chunk, as a write cut short leaves it: the chunk's
    checksum fails, the other rows keep their bytes."""
    with h5py.File(path, "r") as f:
        ds = f[name]
        info = ds.id.get_chunk_info_by_coord((row,) + (0,) * (ds.ndim - 1))
        row_bytes = int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize
        at = info.byte_offset + (row % ds.chunks[0]) * row_bytes  # (h5py gives the coordinate asked for as chunk_offset)
    _xor_byte(path, at, 0x5A)


@pytest.mark.parametrize("name", ["written", "source_index", "params/mask/angle"])
def test_resume_keeps_the_flushed_tuples_of_a_row_chunk_torn_by_a_kill(tmp_path, name):
    # A process killed while the writer rewrote a row chunk in place leaves its checksum failing;
    # the rows of tuples flagged written are the bytes they were, and those tuples are kept.
    out = tmp_path / "out.h5"
    _abandon(out, stop_after=6)
    part = partial_path(out)
    _tear(part, name, 8)  # a row not yet flagged: part of the interrupted write
    with h5py.File(part, "r") as f:
        from pastegen.store.rows import read_rows_tolerant

        assert read_rows_tolerant(f[name])[2], "the chunk's checksum should fail"
    with TupleWriter(out, layout(), attrs=ATTRS, resume=True) as w:
        assert w.recovered == 6 and w.pending() == list(range(6, N))
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
from test_store import ATTRS, H, W, layout, make_tuple
from pastegen.store import DEFAULT_COMPRESSION, TupleWriter, encode_tuple
with TupleWriter({out!r}, layout({count}), attrs=ATTRS, flush_every=2) as w:
    for i in w.pending():
        a, p, s = make_tuple(i)
        if {encoded!r}:
            a = encode_tuple(a, (H, W), DEFAULT_COMPRESSION)
        w.write(i, a, p, s)
        print(i, flush=True)
        time.sleep(0.03)
    w.commit()
"""


@pytest.mark.parametrize("encoded", [False, True], ids=["arrays", "encoded"])
def test_sigkill_mid_run_leaves_no_final_file_and_resume_completes(tmp_path, encoded):
    count = 40
    out = tmp_path / "out.h5"
    code = _KILL_CHILD.format(repo=str(REPO), tests=str(REPO / "tests"), out=str(out), count=count, encoded=encoded)
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
    with pytest.raises(IncompatibleFileError, match=f"version {FORMAT_VERSION + 1}.*reads versions 1 and 2; upgrade pastegen"):
        open_tuples(newer)
    assert READABLE_VERSIONS == (1, 2)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 0
    with pytest.raises(IncompatibleFileError, match="version 0.*reads versions 1 and 2; generate the file again"):
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


def _xor_byte(path: Path, at: int, bits: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(at)
        b = fh.read(1)
        fh.seek(at)
        fh.write(bytes([b[0] ^ bits]))


def _flip_byte(path: Path, name: str, index: int) -> None:
    with h5py.File(path, "r") as f:
        ds = f[name]
        info = ds.id.get_chunk_info_by_coord((index,) + (0,) * (ds.ndim - 1))
        offset, size = info.byte_offset, info.size
    assert offset is not None and size > 8
    _xor_byte(path, offset + size // 2, 0xFF)


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
        with pytest.raises(CorruptFileError, match="tuple 5: I cannot be read"):  # I_T is rebuilt from the damaged I
            tf.read_array("I_T", 5)
        tf.read_array("I_S", 5)  # the other arrays of the tuple still read
        tf[4]


@pytest.mark.parametrize("version", [1, 2])
def test_verify_catches_a_logically_wrong_tuple_and_unflagged_tuples(tmp_path, version, format_1):
    """Format 1 stores I_T, so a wrong one is on disk for verify to find; format 2 refuses it
    when it is written (it would be lost) and cannot hold one."""
    out = tmp_path / "wrong.h5"
    with format_1() if version == 1 else contextlib.nullcontext():
        with TupleWriter(out, layout(), attrs=ATTRS) as w:
            for i in w.pending():
                a, p, s = make_tuple(i)
                if i == 3:
                    wrong = {**a, "I_T": a["I"].copy()}  # not I*(1-M)
                    if version == 1:
                        a = wrong
                    else:
                        with pytest.raises(StoreError, match=r"tuple 3: I_T differs from I\*\(1-M\)"):
                            w.write(i, wrong, p, s)
                if i == 6:
                    a = {**a, "I_S": np.full_like(a["I_S"], 9)}  # not zero outside M
                if i == 8:
                    a = {"I": a["I"], "I_T": a["I"], "I_S": np.zeros_like(a["I"]), "M": np.zeros_like(a["M"])}
                w.write(i, a, p, s)
            w.commit()
    if version == 1:
        as_format_1(out)
    with h5py.File(out, "r+") as f:
        f["written"][1] = 0
    problems = verify(out).problems
    if version == 1:
        assert "tuple 3: I_T differs from I*(1-M)" in problems
    assert "tuple 6: I_S is not zero outside M" in problems
    assert "tuple 8: M is empty (no pixel is 1)" in problems
    assert any("not flagged as written (first: 1)" in p for p in problems)
    assert len(problems) == 3 + (version == 1), problems


# --- tuples encoded outside the writer ----------------------------------------------------------


#: Compressions whose encoded chunks are byte-identical to HDF5's. Not lzf: h5py's LZF filter does
#: not clear its hash table, so even HDF5's own output depends on earlier calls (same data, other bytes).
BYTE_IDENTICAL = tuple(c for c in COMPRESSIONS if c != "lzf")


def _fletcher32_reference(data: bytes) -> int:
    """Line-by-line port of HDF5's H5_checksum_fletcher32 (slow; for short inputs)."""
    n, s1, s2, k = len(data) // 2, 0, 0, 0
    while n:
        t = min(n, 360)
        n -= t
        for _ in range(t):
            s1 += (data[k] << 8) | data[k + 1]
            k += 2
            s2 += s1
        s1, s2 = (s1 & 0xFFFF) + (s1 >> 16), (s2 & 0xFFFF) + (s2 >> 16)
    if len(data) % 2:
        s1 += data[k] << 8
        s2 += s1
        s1, s2 = (s1 & 0xFFFF) + (s1 >> 16), (s2 & 0xFFFF) + (s2 >> 16)
    s1, s2 = (s1 & 0xFFFF) + (s1 >> 16), (s2 & 0xFFFF) + (s2 >> 16)
    return (s2 << 16) | s1


def _fletcher32_numba(data: np.ndarray) -> int:
    from pastegen.store._fletcher_numba import fletcher32_sums

    nw = data.size // 2
    words = np.ascontiguousarray(data[: 2 * nw]).view("<u2")
    words.flags.writeable = False
    s1, iw = (int(x) for x in fletcher32_sums(words))
    if data.size % 2:
        s1, iw = s1 + int(data[-1]), iw + nw * int(data[-1])
    return store_encode._combine(s1, iw, nw + data.size % 2)


def test_fletcher32_numpy_and_numba_agree_on_large_inputs(monkeypatch):
    rng = np.random.default_rng(5)
    monkeypatch.setattr(store_encode, "_numba_state", [None])  # numpy
    for n in (4096 * 2 * 3, 4096 * 2 * 3 + 1, 1_000_003, 2_621_440):
        data = rng.integers(0, 256, n, dtype=np.uint8)
        data[: n // 3] = 255  # long runs of words that are multiples of 65535
        assert fletcher32(data) == _fletcher32_numba(data)


def _chunks(path, name: str, count: int) -> list[tuple[int, bytes]]:
    with h5py.File(path, "r") as f:
        ds = f[name]
        return [(int(m), bytes(d)) for m, d in (ds.id.read_direct_chunk((i,) + (0,) * (ds.ndim - 1)) for i in range(count))]


def _write_encoded(path, count: int = N, compression: str = DEFAULT_COMPRESSION, encoded=lambda i: True, **kw) -> Path:
    with TupleWriter(path, layout(count), attrs=ATTRS, compression=compression, **kw) as w:
        for i in w.pending():
            a, p, s = make_tuple(i)
            w.write(i, encode_tuple(a, layout(count), compression) if encoded(i) else a, p, s)
        return w.commit()


@pytest.mark.parametrize(
    "length", [0, 1, 2, 3, 4, 5, 359, 360, 719, 720, 721, 722, 1441, 8191, 8192, 8193, 16384, 16385, 40001]
)
@pytest.mark.parametrize("impl", ["numpy", "numba"])
def test_fletcher32_equals_hdf5s_on_odd_and_even_lengths(tmp_path, length, impl, monkeypatch):
    from pastegen.store._fletcher_numba import fletcher32_sums

    monkeypatch.setattr(store_encode, "_numba_state", [fletcher32_sums if impl == "numba" else None])
    rng = np.random.default_rng(length)
    kinds = {
        "random": rng.integers(0, 256, length, dtype=np.uint8),
        "ones": np.full(length, 255, np.uint8),  # sums that are multiples of 65535
        "zeros": np.zeros(length, np.uint8),
        "last": np.r_[np.zeros(max(length - 1, 0), np.uint8), np.full(min(length, 1), 7, np.uint8)],
    }
    path = tmp_path / "f.h5"
    if length:
        with h5py.File(path, "w") as f:  # what HDF5's own fletcher32 filter stores after the data
            for kind, data in kinds.items():
                f.create_dataset(kind, data=data, chunks=(length,), fletcher32=True)
    for kind, data in kinds.items():
        got = fletcher32(data.tobytes())
        assert got == fletcher32(memoryview(data)) == fletcher32(bytearray(data.tobytes()))
        if length <= 2000:
            assert got == _fletcher32_reference(data.tobytes()), kind
        if length:
            with h5py.File(path, "r") as f:
                _, chunk = f[kind].id.read_direct_chunk((0,))
            assert chunk[:-4] == data.tobytes()
            assert int.from_bytes(chunk[-4:], "little") == got, (kind, hex(got))


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_encoded_writes_give_the_same_file_as_array_writes(tmp_path, compression):
    ref = write_all(tmp_path / "ref.h5", compression=compression)
    out = _write_encoded(tmp_path / "enc.h5", compression=compression)
    assert_tuples_equal(out)
    assert verify(out).ok
    masks = set()
    for name in STORED:
        mine, hdf5s = _chunks(out, name, N), _chunks(ref, name, N)
        if compression in BYTE_IDENTICAL:  # the stored chunks are exactly what HDF5 wrote itself
            assert mine == hdf5s, name
        masks.update(m for m, _ in mine)
    # the random I does not compress: blosc and lzf skip their filter for it (mask 1), not for M
    assert masks == ({0} if compression in ("none", "gzip") else {0, 1})


def test_blosc_through_hdf5s_own_pipeline_when_the_library_cannot_be_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(store_encode, "_blosc_state", [None, "test"])
    assert "in-memory" in store_encode.encoder_backend("blosc-lz4")
    ref = write_all(tmp_path / "ref.h5", count=3)
    out = _write_encoded(tmp_path / "enc.h5", count=3)
    for name in STORED:
        assert _chunks(out, name, 3) == _chunks(ref, name, 3)
    assert_tuples_equal(out, count=3)
    # the in-memory pipeline survives being renewed (a fresh file every so often)
    monkeypatch.setattr(store_encode._Pipeline, "_RENEW_AFTER", 2)
    a = make_tuple(0)[0]
    first = encode_tuple(a, (H, W), "blosc-zstd")
    assert all(encode_tuple(a, (H, W), "blosc-zstd") == first for _ in range(5))


def _hdf5s_own_chunk(path, array: np.ndarray, compression: str) -> tuple[int, bytes]:
    """The chunk HDF5's own filter pipeline stores for ``array`` (plain h5py + hdf5plugin)."""
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("d", shape=(1, *array.shape), dtype="u1", chunks=(1, *array.shape), fletcher32=True, **compression_kwargs(compression))
        ds[0] = array
        m, d = ds.id.read_direct_chunk((0,) * ds.ndim)
    return int(m), bytes(d)


def test_real_images_encode_byte_identically(tmp_path):
    """Smooth, compressible images (multi-block blosc frames), every filter, larger chunks.

    Chunks of compressed datasets are byte-identical to HDF5's own; datasets of the per-compression
    rule (``UNCOMPRESSED``: ``I`` under blosc-lz4) are stored unfiltered (filter mask 1, the raw bytes
    and their checksum), by array writes and encoded writes alike, and read back by plain h5py.
    """
    h, w = 192, 256
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx // 8 * 9) % 256, (yy // 4 * 5) % 256, ((xx + yy) // 16 * 3) % 256], -1)
    img = (img + np.random.default_rng(0).integers(0, 2, img.shape)).astype(np.uint8)  # a little noise
    m = ((yy - 90) ** 2 + (xx - 120) ** 2 < 60**2).astype(np.uint8)
    arrays = {"I": img, "I_T": img * (1 - m)[..., None], "I_S": (img // 2) * m[..., None], "M": m}
    lay = StoreLayout(count=1, height=h, width=w)
    assert uncompressed_datasets("blosc-lz4") == ("I",) and all(not uncompressed_datasets(c) for c in COMPRESSIONS if c != "blosc-lz4")
    for compression in COMPRESSIONS:
        raw_names = uncompressed_datasets(compression)
        ref, out = tmp_path / f"ref-{compression}.h5", tmp_path / f"enc-{compression}.h5"
        for path, value in ((ref, arrays), (out, encode_tuple(arrays, lay, compression))):
            with TupleWriter(path, lay, compression=compression) as wr:
                wr.write(0, value, {}, 0)
                wr.commit()
        for name in STORED:
            mine = _chunks(out, name, 1)[0]
            if compression in BYTE_IDENTICAL:
                assert mine == _chunks(ref, name, 1)[0], (compression, name)  # array writes follow the same rule
            if name in raw_names:
                assert mine == (1, arrays[name].tobytes() + fletcher32(arrays[name].tobytes()).to_bytes(4, "little")), (compression, name)
            else:
                if compression in BYTE_IDENTICAL:  # exactly what HDF5's own pipeline stores
                    assert mine == _hdf5s_own_chunk(tmp_path / "own.h5", arrays[name], compression), (compression, name)
                if compression != "none":
                    assert mine[0] == 0  # compressed, not skipped
        with h5py.File(out, "r") as f:  # plain h5py + hdf5plugin, and the rule recorded
            assert f.attrs["uncompressed"] == ",".join(raw_names) and f.attrs["compression"] == compression
            for name in STORED:
                np.testing.assert_array_equal(f[name][0], arrays[name])
            # the documented rule for plain h5py readers rebuilds I_T exactly
            i_t = f["I"][0] * (1 - f["M"][0][..., None])
            assert i_t.dtype == np.uint8 and "I_T" not in f
            np.testing.assert_array_equal(i_t, arrays["I_T"])
        with open_tuples(out) as tf:
            for name in ARRAY_NAMES:
                np.testing.assert_array_equal(tf[0][name], arrays[name])
        assert verify(out).ok and verify(ref).ok


def test_verify_checks_the_uncompressed_rule(tmp_path):
    out = tmp_path / "rule.h5"
    with TupleWriter(out, layout(3), attrs=ATTRS, compression="blosc-lz4") as w:
        for i in range(3):
            a, p, s = make_tuple(i)
            img = np.full((H, W, 3), 50 + i, np.uint8)  # compressible
            w.write(i, {**a, "I": img, "I_T": img * (1 - a["M"])[..., None]}, p, s)
        w.commit()
    assert verify(out).ok
    with h5py.File(out, "r") as f:
        img = f["I"][1]
    mask, data = _hdf5s_own_chunk(tmp_path / "own.h5", img, "blosc-lz4")
    assert mask == 0
    with h5py.File(out, "r+") as f:  # tuple 1's I stored compressed, against the file's rule
        f["I"].id.write_direct_chunk((1, 0, 0, 0), data, mask)
    problems = verify(out).problems
    assert problems == ["tuple 1: I chunk is compressed, but the file stores I unfiltered (attribute uncompressed)"], problems
    with open_tuples(out) as tf:  # still readable: the rule is about storage, not content
        np.testing.assert_array_equal(tf[1]["I"], img)


def test_resume_of_a_partial_file_from_before_the_uncompressed_rule(tmp_path):
    """A .partial written before the rule (I compressed, no ``uncompressed`` attribute) resumes:
    the salvaged I chunks are stored again unfiltered, so the finished file follows the rule."""
    out = tmp_path / "old.h5"
    imgs = [np.full((H, W, 3), 40 + i, np.uint8) for i in range(N)]

    def tup(i):
        a, p, s = make_tuple(i)
        return {**a, "I": imgs[i], "I_T": imgs[i] * (1 - a["M"])[..., None]}, p, s

    w = TupleWriter(out, layout(), attrs=ATTRS, compression="blosc-lz4", flush_every=1)
    for i in range(4):
        w.write(i, *tup(i))
    w.close()
    with h5py.File(partial_path(out), "r+") as f:  # as the earlier pastegen left it
        del f.attrs["uncompressed"]
        for i in range(4):
            f["I"].id.write_direct_chunk((i, 0, 0, 0), *reversed(_hdf5s_own_chunk(tmp_path / "own.h5", imgs[i], "blosc-lz4")))
        assert [f["I"].id.get_chunk_info(i).filter_mask for i in range(4)] == [0] * 4
    with TupleWriter(out, layout(), attrs=ATTRS, compression="blosc-lz4", resume=True) as w:
        assert w.recovered == 4
        for i in w.pending():
            w.write(i, *tup(i))
        w.commit()
    with h5py.File(out, "r") as f:
        assert f.attrs["uncompressed"] == "I"
        assert [f["I"].id.get_chunk_info(i).filter_mask for i in range(N)] == [1] * N
    assert verify(out).ok
    with open_tuples(out) as tf:
        for i in range(N):
            np.testing.assert_array_equal(tf[i]["I"], imgs[i])


def test_mixed_encoded_and_array_writes_in_one_file_and_resume(tmp_path):
    out = _write_encoded(tmp_path / "mixed.h5", encoded=lambda i: i % 3 != 0, flush_every=3)
    assert_tuples_equal(out)
    assert verify(out).ok
    ref = write_all(tmp_path / "ref.h5")
    for name in STORED:
        assert _chunks(out, name, N) == _chunks(ref, name, N)
    # an interrupted run of encoded writes resumes (salvage copies the chunks) and finishes with arrays
    part_out = tmp_path / "resumed.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with TupleWriter(part_out, layout(), attrs=ATTRS) as w:
            for i in range(5):
                a, p, s = make_tuple(i)
                w.write(i, encode_tuple(a, (H, W), DEFAULT_COMPRESSION), p, s)
            raise RuntimeError("boom")
    with TupleWriter(part_out, layout(), attrs=ATTRS, resume=True) as w:
        assert w.recovered == 5 and w.pending() == list(range(5, N))
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(part_out)
    assert verify(part_out).ok


def test_flags_of_encoded_tuples_follow_the_flush(tmp_path):
    out = tmp_path / "flags.h5"
    with TupleWriter(out, layout(), attrs=ATTRS, flush_every=4) as w:
        for i in range(6):
            a, p, s = make_tuple(i)
            w.write(i, encode_tuple(a, (H, W), DEFAULT_COMPRESSION), p, s)
        flags = w._f["written"][:]  # what the file holds (the writer keeps unflushed flags in memory)
        assert flags[:4].tolist() == [1] * 4 and not flags[4:].any()  # 4 and 5 wait for the next flush
        w.close()


def test_a_corrupted_direct_written_chunk_is_caught(tmp_path):
    out = _write_encoded(tmp_path / "bad.h5")
    _flip_byte(out, "I_S", 5)
    report = verify(out)
    assert not report.ok and report.checked == N
    assert [p for p in report.problems if p.startswith("tuple 5: I_S ")], report.problems
    assert not any(p.startswith("tuple 4") or p.startswith("tuple 6") for p in report.problems)
    with open_tuples(out) as tf:
        with pytest.raises(CorruptFileError, match="tuple 5"):
            tf[5]
    # bytes damaged between the worker and the writer: the checksum no longer matches
    damaged = tmp_path / "damaged.h5"
    with TupleWriter(damaged, layout(2), attrs=ATTRS) as w:
        for i in range(2):
            a, p, s = make_tuple(i)
            enc = encode_tuple(a, (H, W), DEFAULT_COMPRESSION)
            if i == 1:
                mask, data = enc.chunks["M"]
                data = bytearray(data)
                data[len(data) // 2] ^= 0x10
                enc = EncodedTuple(enc.height, enc.width, enc.compression, {**enc.chunks, "M": (mask, bytes(data))})
            w.write(i, enc, p, s)
        w.commit()
    problems = verify(damaged).problems
    assert len(problems) == 1 and problems[0].startswith("tuple 1: M fails its checksum"), problems


def test_encoded_tuples_are_checked(tmp_path):
    a, p, s = make_tuple(0)
    with pytest.raises(StoreError, match="only 0 and 1"):
        encode_tuple({**a, "M": a["M"] * 3}, (H, W), "none")
    with pytest.raises(StoreError, match="must be"):
        encode_tuple(a, (H, W + 1), "none")
    with pytest.raises(StoreError, match="exactly"):
        encode_tuple({k: v for k, v in a.items() if k != "M"}, (H, W), "none")
    with pytest.raises(SpecError, match="compression"):
        encode_tuple(a, (H, W), "zip")
    enc = encode_tuple(a, (H, W), DEFAULT_COMPRESSION)
    with TupleWriter(tmp_path / "x.h5", layout(2), attrs=ATTRS) as w:
        bad = [
            (encode_tuple(a, (H, W), "gzip"), "compression gzip"),
            (EncodedTuple(H, W + 1, DEFAULT_COMPRESSION, enc.chunks), "encoded for"),
            (EncodedTuple(H, W, DEFAULT_COMPRESSION, {k: v for k, v in enc.chunks.items() if k != "I"}), "exactly"),
            (EncodedTuple(H, W, DEFAULT_COMPRESSION, {**enc.chunks, "M": (2, enc.chunks["M"][1])}), "filter mask 2"),
            (EncodedTuple(H, W, DEFAULT_COMPRESSION, {**enc.chunks, "M": (1, enc.chunks["M"][1])}), "expected"),
            (EncodedTuple(H, W, DEFAULT_COMPRESSION, {**enc.chunks, "M": "x"}), "filter_mask, bytes"),
        ]
        i_t = store_encode.encode_chunk(a["I_T"], DEFAULT_COMPRESSION)
        bad.append((EncodedTuple(H, W, DEFAULT_COMPRESSION, {**enc.chunks, "I_T": i_t}), r"exactly I, I_S, M \(I_T is not stored\)"))
        for value, what in bad:
            with pytest.raises(StoreError, match=what):
                w.write(0, value, p, s)
        assert w.pending() == [0, 1]  # nothing was written by the refused calls
        w.write(0, enc, p, s)
        with pytest.raises(StoreError, match="already written"):
            w.write(0, enc, p, s)
        w.write(1, *make_tuple(1))
        w.commit()
    assert verify(tmp_path / "x.h5").ok


def test_encoded_tuple_pickles_as_plain_bytes():
    a = make_tuple(0)[0]
    enc = encode_tuple(a, (H, W), DEFAULT_COMPRESSION)
    assert all(type(d) is bytes and type(m) is int for m, d in enc.chunks.values())
    blob = pickle.dumps(enc, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(blob) < enc.nbytes + 500
    assert pickle.loads(blob) == enc


def _encode_in_worker(i: int) -> tuple[int, EncodedTuple]:
    return i, encode_tuple(make_tuple(i)[0], (H, W), DEFAULT_COMPRESSION)


def test_encoding_in_joblib_workers(tmp_path):
    from joblib import Parallel, delayed

    results = Parallel(n_jobs=2, backend="loky")(delayed(_encode_in_worker)(i) for i in range(N))
    with TupleWriter(tmp_path / "par.h5", layout(), attrs=ATTRS) as w:
        for i, enc in results:
            _, p, s = make_tuple(i)
            w.write(i, enc, p, s)
        w.commit()
    ref = write_all(tmp_path / "ref.h5")
    for name in STORED:
        assert _chunks(tmp_path / "par.h5", name, N) == _chunks(ref, name, N)


# --- format 2: I_T derived, not stored; format-1 files still read -------------------------------


def test_format_2_rebuilds_I_T_with_the_dtype_shape_and_values_of_a_stored_one(tmp_path):
    out = write_all(tmp_path / "v2.h5")
    with h5py.File(out, "r") as f:
        assert "I_T" not in f and f.attrs["derived"] == "I_T" and f.attrs["format_version"] == 2
    with open_tuples(out) as tf:
        for i in range(N):
            want = make_tuple(i)[0]["I_T"]
            for got in (tf.read_array("I_T", i), tf[i]["I_T"], tf.read_arrays(i, ("I_T",))["I_T"]):
                assert got.dtype == np.uint8 and got.shape == (H, W, 3) and got.flags.writeable
                np.testing.assert_array_equal(got, want)
        got = tf.read_arrays(3, ("M", "I_T"))
        assert list(got) == ["M", "I_T"]  # in the order asked, I read only to rebuild I_T
        assert list(tf.read_arrays(3)) == list(ARRAY_NAMES) and list(tf[3])[:4] == list(ARRAY_NAMES)
        with pytest.raises(KeyError, match="unknown array"):
            tf.read_arrays(0, ("I", "X"))
        assert sum(1 for _ in tf) == N


def test_write_refuses_a_wrong_I_T_and_accepts_arrays_without_it(tmp_path):
    a, p, s = make_tuple(0)
    off_by_one = a["I_T"].copy()
    off_by_one[0, 0, 0] ^= 1
    with TupleWriter(tmp_path / "w.h5", layout(2), attrs=ATTRS) as w:
        for wrong in (off_by_one, np.zeros_like(a["I_T"]), a["I"]):
            with pytest.raises(StoreError, match=r"tuple 0: I_T differs from I\*\(1-M\); tuple files do not store I_T"):
                w.write(0, {**a, "I_T": wrong}, p, s)
            with pytest.raises(StoreError, match=r"I_T differs"):
                encode_tuple({**a, "I_T": wrong}, (H, W), DEFAULT_COMPRESSION)
        assert w.pending() == [0, 1]  # nothing written by the refused calls
        with pytest.raises(StoreError, match="I_T may be left out"):
            w.write(0, {k: v for k, v in a.items() if k != "M"}, p, s)
        w.write(0, {k: v for k, v in a.items() if k != "I_T"}, p, s)  # the stored arrays only
        a1, p1, s1 = make_tuple(1)
        w.write(1, encode_tuple({k: v for k, v in a1.items() if k != "I_T"}, (H, W), DEFAULT_COMPRESSION), p1, s1)
        w.commit()
    assert_tuples_equal(tmp_path / "w.h5", count=2)
    assert verify(tmp_path / "w.h5").ok


def test_chunk_arena_holds_no_room_for_I_T():
    from pastegen.store.encode import ChunkArena, encode_into

    arena = ChunkArena(H, W)
    assert arena.names == STORED and len(arena.sizes) == 3
    assert arena.buf.nbytes < (2 * H * W * 3 + H * W) + 3 * 68  # I, I_S, M (+ checksums and alignment)
    with pytest.raises(KeyError):
        arena.image("I_T")
    a = make_tuple(0)[0]
    enc = encode_into(arena, a, DEFAULT_COMPRESSION)  # make's arrays include I_T: ignored
    assert set(enc.chunks) == set(STORED)
    assert {k: (m, bytes(d)) for k, (m, d) in enc.chunks.items()} == dict(encode_tuple(a, (H, W), DEFAULT_COMPRESSION).chunks)


def test_a_format_1_file_still_reads_and_verifies(tmp_path, format_1):
    with format_1():
        out = as_format_1(write_all(tmp_path / "v1.h5"))
    with h5py.File(out, "r") as f:
        assert {"I", "I_T", "I_S", "M"} <= set(f) and "derived" not in f.attrs
    with open_tuples(out) as tf:
        assert tf.format_version == 1 and tf.derived == () and tf.stored == ARRAY_NAMES
    assert_tuples_equal(out)  # the stored I_T
    report = verify(out)
    assert report.ok and report.checked == N, report.problems
    # verify still reads and checks the stored I_T of format 1
    _flip_byte(out, "I_T", 4)
    problems = verify(out).problems
    assert len(problems) == 1 and problems[0].startswith("tuple 4: I_T fails its checksum"), problems


def test_open_refuses_derived_arrays_it_cannot_rebuild_and_a_format_1_file_that_names_any(tmp_path, format_1):
    other = write_all(tmp_path / "other.h5", count=2)
    with h5py.File(other, "r+") as f:
        f.attrs["derived"] = "I_T,I_S"
    with pytest.raises(IncompatibleFileError, match="does not store I_S and this pastegen .* cannot rebuild it"):
        open_tuples(other)
    with pytest.raises(IncompatibleFileError, match="cannot rebuild"):
        verify(other)
    with format_1():
        odd = as_format_1(write_all(tmp_path / "odd.h5", count=2))
    with h5py.File(odd, "r+") as f:
        f.attrs["derived"] = "I_T"
    with pytest.raises(CorruptFileError, match="format 1 file, which stores every array"):
        open_tuples(odd)
    # a format-2 file without its derived attribute looks for the I_T dataset, and says it is missing
    lost = write_all(tmp_path / "lost.h5", count=2)
    with h5py.File(lost, "r+") as f:
        del f.attrs["derived"]
    with pytest.raises(CorruptFileError, match="has no 'I_T' dataset"):
        open_tuples(lost)
    # a stray I_T dataset in a file that derives it is reported by verify (readers ignore it)
    stray = write_all(tmp_path / "stray.h5", count=2)
    with h5py.File(stray, "r+") as f:
        f.create_dataset("I_T", shape=(2, H, W, 3), dtype="u1", fletcher32=True)
    with open_tuples(stray) as tf:
        np.testing.assert_array_equal(tf[1]["I_T"], make_tuple(1)[0]["I_T"])
    assert verify(stray).problems == ["dataset I_T is present, but the file derives I_T (attribute derived) and readers ignore it"]


def test_resume_of_a_format_1_partial_starts_over_and_gives_the_same_tuples(tmp_path, format_1):
    ref = write_all(tmp_path / "ref.h5")
    out = tmp_path / "out.h5"
    with format_1():
        _abandon(out, stop_after=6)
    as_format_1(partial_path(out))
    # other settings are still refused first, and the format-1 partial file is left untouched
    before = partial_path(out).read_bytes()
    with pytest.raises(ResumeMismatchError, match="attribute 'seed'"):
        TupleWriter(out, layout(), attrs={**ATTRS, "seed": 8}, resume=True)
    assert partial_path(out).read_bytes() == before
    with pytest.warns(StoreWarning, match=r"tuple format 1 \(derived arrays: none\), this pastegen writes format 2 \(derived: I_T\); starting over"):
        w = TupleWriter(out, layout(), attrs=ATTRS, resume=True)
    with w:
        assert w.recovered == 0 and w.pending() == list(range(N))  # no format-1 tuple copied across
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    with h5py.File(out, "r") as f:
        assert "I_T" not in f and f.attrs["format_version"] == 2 and f.attrs["derived"] == "I_T"
    assert_tuples_equal(out)
    for name in STORED:
        assert _chunks(out, name, N) == _chunks(ref, name, N)
    assert verify(out).ok
    # a partial of this format with other derived arrays (none) starts over too
    with pytest.MonkeyPatch.context() as m:
        m.setattr(TupleWriter, "write_format", (2, ()))
        _abandon(tmp_path / "b.h5", stop_after=3)
    with pytest.warns(StoreWarning, match=r"tuple format 2 \(derived arrays: none\)"):
        w = TupleWriter(tmp_path / "b.h5", layout(), attrs=ATTRS, resume=True)
    with w:
        assert w.pending() == list(range(N))
        for i in w.pending():
            w.write(i, *make_tuple(i))
        w.commit()
    assert_tuples_equal(tmp_path / "b.h5")


def test_format_2_files_are_smaller_than_format_1_files_of_the_same_tuples(tmp_path, format_1):
    for compression in ("blosc-lz4", "none"):
        v2 = write_all(tmp_path / f"v2-{compression}.h5", compression=compression)
        with format_1():
            v1 = as_format_1(write_all(tmp_path / f"v1-{compression}.h5", compression=compression))
        with h5py.File(v1, "r") as f1, h5py.File(v2, "r") as f2:
            assert "I_T" in f1 and "I_T" not in f2
            i_t = f1["I_T"].id.get_storage_size()
            assert i_t > 0
            for name in STORED:  # the stored datasets take the same bytes
                assert f1[name].id.get_storage_size() == f2[name].id.get_storage_size(), name
        saved = v1.stat().st_size - v2.stat().st_size
        assert saved >= i_t, (compression, saved, i_t)  # the whole of I_T (and its chunk index)
        with open_tuples(v1) as a, open_tuples(v2) as b:
            for i in range(N):
                for name in ARRAY_NAMES:
                    np.testing.assert_array_equal(a[i][name], b[i][name])


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="needs posix_fadvise")
def test_each_sync_drops_the_pages_of_chunk_data_and_only_those(tmp_path, monkeypatch):
    # write-behind: once synced, the whole pages of the tuples' chunks leave the page cache, so a
    # long make does not fill it; no page of HDF5's metadata or of the rows is dropped: each flush
    # rewrites parts of those, which would first be read back from the disk
    calls = []
    real = os.posix_fadvise

    def spy(fd, offset, length, advice):
        calls.append((os.fstat(fd).st_ino, offset, length, advice))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)
    h, w, n = 256, 256, 16
    out = tmp_path / "wb.h5"
    with TupleWriter(out, StoreLayout(count=n, height=h, width=w, param_fields=FIELDS), attrs=ATTRS, flush_every=100) as wr:
        for i in range(n):
            a, p, s = make_tuple(i, h, w)
            wr.write(i, encode_tuple(a, (h, w), DEFAULT_COMPRESSION), p, s)
            if i % 4 == 3:
                wr.flush()
                wr._behind.wait()  # one sync per flush here, so that every flush's pages are dropped
        wr.commit()
    ino = os.stat(out).st_ino
    dropped = sorted((o, o + length) for i, o, length, advice in calls if i == ino and advice == os.POSIX_FADV_DONTNEED)
    chunks = []
    with h5py.File(out, "r") as f:
        for name in STORED:
            for k in range(f[name].id.get_num_chunks()):
                info = f[name].id.get_chunk_info(k)
                chunks.append((info.byte_offset, info.byte_offset + info.size))
    data: list[list[int]] = []  # runs of adjacent chunks
    for a, b in sorted(chunks):
        if data and data[-1][1] == a:
            data[-1][1] = b
        else:
            data.append([a, b])
    page = os.sysconf("SC_PAGE_SIZE")
    assert dropped and all(a % page == 0 and b % page == 0 for a, b in dropped)
    assert all(any(lo <= a and b <= hi for lo, hi in data) for a, b in dropped)  # chunk data only
    whole_pages = sum(max(0, hi // page * page - -(-lo // page) * page) for lo, hi in data)
    assert sum(b - a for a, b in dropped) >= 0.85 * whole_pages  # nearly all of it
    with open_tuples(out) as tf:  # dropping clean pages changes nothing on disk
        for i in range(n):
            a, _, _ = make_tuple(i, h, w)
            for name in ("I", "I_T", "I_S", "M"):
                np.testing.assert_array_equal(tf.read_array(name, i), a[name])


def test_write_behind_takes_back_to_back_chunks_as_one_run_less_the_small_data_slack():
    from pastegen.store.writer import _PAGE, _SMALL_DATA_SLACK, _WriteBehind

    wb = _WriteBehind()
    big = 10 * _PAGE
    wb.chunk_written(1000, 1000 + big, big)  # grew the file by its size: a run starts
    wb.chunk_written(1000 + big, 1000 + 2 * big, big)  # back to back: the same run
    wb.chunk_written(1000 + 2 * big, 1000 + 2 * big, 300)  # went into free space: the run ends
    wb.chunk_written(1000 + 2 * big, 1000 + 3 * big + 100, big)  # grew by more (metadata too): no run
    wb.chunk_written(9 * big, 10 * big, big)  # a new run, ended by the flush
    wb.chunk_written(20 * big, 20 * big + _PAGE, _PAGE)  # too short once the slack is taken off
    wb._end_run()
    assert wb._written == [[1000, 1000 + 2 * big - _SMALL_DATA_SLACK], [9 * big, 10 * big - _SMALL_DATA_SLACK]]


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="needs fdatasync")
def test_each_flush_syncs_the_file_in_the_background_and_commit_waits_for_it(tmp_path, monkeypatch):
    # write-behind: an fdatasync of the file runs in a thread after a flush (at most one at a
    # time), so the host's cache of the disk is written along the way, not all in commit's fsync
    import threading

    synced = []
    real = os.fdatasync

    def spy(fd):
        synced.append((threading.current_thread().name, os.fstat(fd).st_ino))
        time.sleep(0.01)  # still running at the next flush: that one starts none
        return real(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    out = write_all(tmp_path / "bg.h5", flush_every=1)
    ino = os.stat(out).st_ino
    mine = [name for name, i in synced if i == ino]
    assert mine and all(name == "pastegen-write-behind" for name in mine)
    assert len(mine) < N + 1  # skipped while one was running
    assert not [t for t in threading.enumerate() if t.name == "pastegen-write-behind"]  # joined before the close
    assert_tuples_equal(out)


@pytest.mark.skipif(not hasattr(os, "fdatasync"), reason="needs fdatasync")
@pytest.mark.parametrize("when", ["write", "commit"])
def test_a_failed_background_sync_is_raised_not_lost(tmp_path, monkeypatch, when):
    # Linux reports a failed write-back once: the thread's error must reach the caller
    import errno

    def failing(fd):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", failing)
    out = tmp_path / "eio.h5"
    with pytest.raises(OSError, match="Input/output error"):
        with TupleWriter(out, layout(), attrs=ATTRS, flush_every=1 if when == "write" else 100) as w:
            for i in range(N):
                w.write(i, *make_tuple(i))
            w.commit()
    assert not out.exists()  # never committed
    if when == "write":  # raised at the flush after the failed one: the run stopped early
        monkeypatch.undo()
        with TupleWriter(out, layout(), attrs=ATTRS, resume=True) as w:
            assert 0 < len(w.pending()) < N
            for i in w.pending():
                w.write(i, *make_tuple(i))
            w.commit()
        assert_tuples_equal(out)


def test_the_written_flags_reach_the_file_before_the_write_behind_starts(tmp_path, monkeypatch):
    # a write into a page the background fdatasync is writing waits for the disk: on the project's
    # virtual disk the flags' write after the sync started stalled each flush for 14-24 ms
    import pastegen.store.writer as writer_module

    seen = []
    real = writer_module._WriteBehind.after_flush

    def spy(self, f):
        seen.append(int(f["written"][:].sum()))  # what the file holds as the write-behind starts
        return real(self, f)

    monkeypatch.setattr(writer_module._WriteBehind, "after_flush", spy)
    out = write_all(tmp_path / "order.h5", flush_every=2)
    assert seen[: N // 2] == [2 * (k + 1) for k in range(N // 2)]  # every flush's flags, already written
    assert_tuples_equal(out)


def test_row_blocks_stay_in_memory_across_flushes(tmp_path, monkeypatch):
    # the parameter rows of a chunk are read from the file once, not after every flush (a read
    # behind the queued tuple writes once write-behind dropped the pages)
    reads = []
    real = h5py.Dataset.__getitem__

    def spy(self, key):
        if self.name.startswith("/params/"):
            reads.append((self.name, repr(key)))
        return real(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    n = 40
    out = write_all(tmp_path / "rows.h5", count=n, flush_every=1)
    monkeypatch.undo()
    per_field = {}
    for name, key in reads:
        per_field.setdefault(name, []).append(key)
    assert per_field and all(len(keys) == len(set(keys)) for keys in per_field.values())  # each block read once
    with open_tuples(out) as tf:
        for i in range(n):
            _, p, s = make_tuple(i)
            got = tf.params(i)
            for field, value in p.items():
                np.testing.assert_array_equal(got[field], value)
