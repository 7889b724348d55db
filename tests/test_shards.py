"""Sharded generation: the split rule, shard files, ``combine`` into virtual datasets, the CLI.

The issue's "done when": shards 0/3, 1/3 and 2/3 of count=10, made with different ``jobs``,
combined, equal a single run of count=10 in every dataset and run attribute; missing,
overlapping and mismatched shards are refused with clear errors; a missing shard file makes the
combined file fail to open instead of reading zeros.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import h5py
import hdf5plugin  # noqa: F401  (Blosc filters for reading the files directly)
import numpy as np
import pytest
from click.testing import CliRunner

from pastegen.cli import main
from pastegen.errors import (
    IncompleteFileError,
    MissingShardError,
    OutputExistsError,
    ResumeMismatchError,
    ShardError,
)
from pastegen.pipeline import preset
from pastegen.precompute import make, replay_check
from pastegen.shards import check_combined, check_shard, combine, is_combined, parse_shard, shard_range
from pastegen.store import open_tuples, stored_arrays, verify
from pastegen.store.schema import compression_kwargs

ARRAYS = ("I", "I_T", "I_S", "M")
#: The image datasets a shard file stores (I_T is derived).
STORED = stored_arrays()
SPEC = preset("photos", height=40, width=40, sigma=3.0)
COUNT = 10
SEED = 5
#: Attributes a combined file legitimately has of its own.
OWN_ATTRS = {"created", "json_attrs", "run_attrs", "combined_from"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[str]:
    """Five small smooth photos (made in memory, saved as PNG)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k in range(5):
        img = cv2.GaussianBlur((rng.random((70 + 9 * k, 90, 3)) * 255).astype(np.uint8), (0, 0), 2)
        cv2.imwrite(str(folder / f"p{k}.png"), img)
    return sorted(str(p) for p in folder.iterdir())


@pytest.fixture(scope="module")
def run(tmp_path_factory, photos):
    """A single run of COUNT tuples and its three shards (made with jobs 1, 2, 1), in one folder."""
    folder = tmp_path_factory.mktemp("run")
    full = make(folder / "full.h5", photos, SPEC, count=COUNT, seed=SEED).path
    shards = [make(folder / f"part{k}.h5", photos, SPEC, count=COUNT, seed=SEED, shard=(k, 3), jobs=2 if k == 1 else 1) for k in range(3)]
    return folder, full, shards


def read_all(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Every dataset (through h5py: virtual datasets resolved) and the root attributes."""
    data = {}
    with h5py.File(path, "r") as f:
        attrs = dict(f.attrs)

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data[name] = obj[()]

        f.visititems(visit)
    return data, attrs


def assert_same_run(a: Path, b: Path, ignore: set[str] = OWN_ATTRS) -> None:
    da, aa = read_all(a)
    db, ab = read_all(b)
    assert set(da) == set(db)
    for k in da:
        assert da[k].dtype == db[k].dtype, k
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    keys = (set(aa) | set(ab)) - ignore
    assert {k: str(aa.get(k)) for k in keys} == {k: str(ab.get(k)) for k in keys}


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def assert_one_line_error(r, contains: str = "") -> None:
    lines = r.output.splitlines()
    errors = [line for line in lines if "Error" in line or "Traceback" in line]
    assert r.exit_code == 1 and len(errors) == 1 and lines[-1].startswith("Error: "), r.output
    assert contains in lines[-1], r.output


# --- the split rule -------------------------------------------------------------------------------


def test_split_rule_tiles_the_index_range():
    assert [shard_range(10, k, 3) for k in range(3)] == [(0, 3), (3, 6), (6, 10)]
    for count in (1, 2, 7, 10, 101):
        for n in range(1, min(count, 12) + 1):
            blocks = [shard_range(count, k, n) for k in range(n)]
            assert blocks[0][0] == 0 and blocks[-1][1] == count
            assert all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
            lengths = [hi - lo for lo, hi in blocks]
            assert min(lengths) >= 1 and max(lengths) - min(lengths) <= 1
            assert blocks == [((k * count) // n, ((k + 1) * count) // n) for k in range(n)]
    assert parse_shard("2/5") == (2, 5) and parse_shard(" 0 / 1 ") == (0, 1)
    for bad in ("2", "a/b", "1/2/3", "-1/2"):
        with pytest.raises(ShardError, match="K/N"):
            parse_shard(bad)
    for shard, count, what in (((3, 3), 10, "0 <= k < n"), ((0, 0), 10, "0 <= k < n"), ((0, 4), 3, "at most 3 shards"), ((1,), 3, "pair")):
        with pytest.raises(ShardError, match=what):
            check_shard(shard, count)


# --- shard files ----------------------------------------------------------------------------------


def test_shard_files_hold_the_single_run_tuples_under_global_indices(run):
    folder, full, shards = run
    with open_tuples(full) as tf_full:
        for k, r in enumerate(shards):
            lo, hi = shard_range(COUNT, k, 3)
            assert (r.count, r.index_offset, r.total_count, r.shard) == (hi - lo, lo, COUNT, (k, 3))
            assert verify(r.path).ok
            assert replay_check(r.path) == []  # replayed under global indices (and re-drawn from the seed)
            with open_tuples(r.path) as tf:
                assert len(tf) == hi - lo
                assert tf.attrs["shard"] == [k, 3] and tf.attrs["index_offset"] == lo and tf.attrs["total_count"] == COUNT
                for j in range(len(tf)):
                    a, b = tf[j], tf_full[lo + j]
                    for name in ARRAYS:
                        np.testing.assert_array_equal(a[name], b[name])
                    assert a["source_index"] == b["source_index"]
                    for name, v in a["params"].items():
                        np.testing.assert_array_equal(v, b["params"][name])


def test_replay_check_uses_global_indices(run, tmp_path):
    folder, _, shards = run
    # a shard file relabelled as another shard no longer replays: the seed draws other parameters
    bad = tmp_path / "relabelled.h5"
    shutil.copy(shards[1].path, bad)
    with h5py.File(bad, "r+") as f:
        f.attrs["index_offset"] = 0
    problems = replay_check(bad)
    assert problems and all("differ from those the seed draws" in p for p in problems)


def test_interrupted_shard_resumes_to_the_same_file(tmp_path, photos, run):
    _, _, shards = run
    out = tmp_path / "part1.h5"

    def stop_after_first_batch(stage, n, total):
        if stage == "generate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(out, photos, SPEC, count=COUNT, seed=SEED, shard=(1, 3), progress=stop_after_first_batch)
    assert not out.exists() and Path(str(out) + ".partial").exists()
    with pytest.raises(ResumeMismatchError, match="index_offset|shard"):
        make(out, photos, SPEC, count=COUNT, seed=SEED, shard=(2, 3), resume=True)
    make(out, photos, SPEC, count=COUNT, seed=SEED, shard=(1, 3), resume=True)
    assert_same_run(out, shards[1].path, ignore={"created"})


def test_make_refuses_a_bad_shard_before_scanning(tmp_path):
    with pytest.raises(ShardError, match="at most 2 shards"):
        make(tmp_path / "x.h5", ["/nowhere/at/all.png"], SPEC, count=2, shard=(0, 3))
    with pytest.raises(ShardError, match="0 <= k < n"):
        make(tmp_path / "x.h5", ["/nowhere/at/all.png"], SPEC, count=5, shard=(5, 5))


# --- combine --------------------------------------------------------------------------------------


def test_three_shards_combined_equal_a_single_run(run):
    folder, full, shards = run
    out = folder / "combined.h5"
    result = combine(out, [shards[2].path, shards[0].path, shards[1].path])  # any order
    assert result.count == COUNT and result.relative and [s.offset for s in result.shards] == [0, 3, 6]
    assert out.stat().st_size < 64_000  # no pixel copied
    assert is_combined(out) and not is_combined(full) and not is_combined(shards[0].path)
    with h5py.File(out, "r") as f:
        assert "I_T" not in f and f.attrs["derived"] == "I_T" and f.attrs["format_version"] == 2
        for name in (*STORED, "source_index", "written", "params/mask/angle"):
            assert f[name].is_virtual, name
            assert {m.file_name for m in f[name].virtual_sources()} == {"part0.h5", "part1.h5", "part2.h5"}
    assert_same_run(out, full)
    report = verify(out)
    assert report.ok and report.checked == COUNT, report.problems
    assert replay_check(out) == [] and check_combined(out) == []
    with open_tuples(out) as tf, open_tuples(full) as ref:
        assert len(tf) == COUNT and tf.attrs["count"] == COUNT and tf.complete
        assert "shard" not in tf.attrs and "index_offset" not in tf.attrs
        assert [c["path"] for c in tf.attrs["combined_from"]] == ["part0.h5", "part1.h5", "part2.h5"]
        for i in (0, 4, 9):
            np.testing.assert_array_equal(tf[i]["I_S"], ref[i]["I_S"])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_combine_leaves_nothing(run, tmp_path, monkeypatch, error):
    folder, _, shards = run
    for r in shards:
        shutil.copy(r.path, tmp_path / r.path.name)
    before = sorted(p.name for p in tmp_path.iterdir())

    def interrupted(*args, **kwargs):
        raise error("stop")

    monkeypatch.setattr("pastegen.shards._copy_attrs", interrupted)
    with pytest.raises(error):
        combine(tmp_path / "all.h5", sorted(tmp_path.glob("part*.h5")))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no output, no temporary file
    monkeypatch.undo()
    combine(tmp_path / "all.h5", sorted(tmp_path.glob("part*.h5")))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "all.h5"])
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert (tmp_path / "all.h5").stat().st_mode == plain.stat().st_mode  # an ordinary file's mode


def test_combined_folder_can_be_moved(run, tmp_path, monkeypatch):
    folder, full, shards = run
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for r in shards:
        shutil.copy(r.path, moved / r.path.name)
    combine(moved / "all.h5", sorted(moved.glob("part*.h5")))
    final = tmp_path / "moved-again"
    shutil.move(moved, final)
    monkeypatch.chdir(tmp_path)  # neither the old folder nor the working directory holds the shards
    assert_same_run(final / "all.h5", full)
    assert verify(final / "all.h5").ok


def test_shards_outside_the_output_folder_are_mapped_by_absolute_path(run, tmp_path):
    folder, full, shards = run
    out = tmp_path / "abs.h5"
    result = combine(out, [r.path for r in shards])
    assert not result.relative
    with h5py.File(out, "r") as f:
        assert all(os.path.isabs(m.file_name) for m in f["I"].virtual_sources())
    assert_same_run(out, full)


def test_missing_shard_file_is_an_error_not_zeros(run, tmp_path):
    folder, _, shards = run
    work = tmp_path / "w"
    work.mkdir()
    for r in shards:
        shutil.copy(r.path, work / r.path.name)
    combine(work / "all.h5", sorted(work.glob("part*.h5")))
    (work / "part1.h5").unlink()
    with h5py.File(work / "all.h5", "r") as f:  # what plain HDF5 does: fill values, silently
        assert not f["M"][4].any() and not f["written"][4]
    with pytest.raises(MissingShardError, match="part1.h5 is missing"):
        open_tuples(work / "all.h5")
    with pytest.raises(MissingShardError):
        verify(work / "all.h5")
    for args in (("info",), ("verify",), ("preview", str(tmp_path / "p.png"), "--from")):
        assert_one_line_error(cli(*args, str(work / "all.h5")), "part1.h5 is missing")
    assert not (tmp_path / "p.png").exists()


def test_replaced_shard_is_reported_by_check_combined(run, tmp_path, photos):
    folder, _, shards = run
    work = tmp_path / "w"
    work.mkdir()
    for r in shards:
        shutil.copy(r.path, work / r.path.name)
    combine(work / "all.h5", sorted(work.glob("part*.h5")))
    make(work / "part2.h5", photos, SPEC, count=COUNT, seed=SEED + 1, shard=(2, 3), overwrite=True)
    problems = check_combined(work / "all.h5")
    assert len(problems) == 1 and "part2.h5" in problems[0] and "seed" in problems[0]
    r = cli("verify", str(work / "all.h5"))
    assert r.exit_code == 1 and "seed" in r.output


def test_shards_made_where_the_photos_live_elsewhere_combine(run, tmp_path, photos):
    """Another machine mounts the same photos at another path: same tuples, shards combine."""
    folder, full, shards = run
    elsewhere = tmp_path / "mnt" / "photos"
    shutil.copytree(Path(photos[0]).parent, elsewhere)
    moved = sorted(str(p) for p in elsewhere.iterdir())
    other = make(tmp_path / "part1.h5", moved, SPEC, count=COUNT, seed=SEED, shard=(1, 3)).path
    for k in (0, 2):
        shutil.copy(shards[k].path, tmp_path / shards[k].path.name)
    out = combine(tmp_path / "all.h5", [tmp_path / "part0.h5", other, tmp_path / "part2.h5"]).path
    assert_same_run(out, full)  # including the sources attribute: the first shard's paths
    assert check_combined(out) == []


def test_combine_rejects_gaps_overlaps_and_duplicates(run, tmp_path, photos):
    folder, _, shards = run
    p0, p1, p2 = (r.path for r in shards)
    out = tmp_path / "c.h5"
    with pytest.raises(ShardError, match=r"no shard covers global indices 3\.\.5 of 10 \(shard 1/3 missing\?\)"):
        combine(out, [p0, p2])
    with pytest.raises(ShardError, match=r"6\.\.9 of 10 \(shard 2/3 missing\?\)"):
        combine(out, [p0, p1])
    with pytest.raises(ShardError, match="given twice"):
        combine(out, [p0, p1, p1, p2])
    half = make(tmp_path / "half0.h5", photos, SPEC, count=COUNT, seed=SEED, shard=(0, 2)).path  # indices 0..4
    overlap = r"shards overlap: .*half0.h5 \(shard 0/2, global indices 0\.\.4\) and .*part1.h5 \(shard 1/3, global indices 3\.\.5\)"
    with pytest.raises(ShardError, match=overlap):
        combine(out, [half, p1, p2])
    # shards of different n that tile the range are fine
    tail = make(tmp_path / "tail.h5", photos, SPEC, count=COUNT, seed=SEED, shard=(1, 2)).path  # 5..9
    res = combine(tmp_path / "mixed.h5", [half, tail])
    assert res.count == COUNT and verify(res.path).ok
    assert not out.exists() and not list(tmp_path.glob(".c.h5*"))  # nothing left behind by the refusals


def test_combine_rejects_mismatched_shards(run, tmp_path, photos):
    folder, _, shards = run
    p0, p1, p2 = (r.path for r in shards)
    out = tmp_path / "c.h5"
    other_seed = make(tmp_path / "seed.h5", photos, SPEC, count=COUNT, seed=SEED + 1, shard=(1, 3)).path
    with pytest.raises(ShardError, match=r"seed.h5 does not match .*part0.h5: seed is 6 there, 5 in the first shard"):
        combine(out, [p0, other_seed, p2])
    other_sigma = make(tmp_path / "sigma.h5", photos, SPEC.replace(sigma=4.0), count=COUNT, seed=SEED, shard=(1, 3)).path
    with pytest.raises(ShardError, match=r"spec.geometric.sigma is 4.0 there, 3.0 in the first shard"):
        combine(out, [p0, other_sigma, p2])
    fewer = make(tmp_path / "fewer.h5", photos[:4], SPEC, count=COUNT, seed=SEED, shard=(1, 3)).path
    with pytest.raises(ShardError, match=r"sources \(length\) is 4 there, 5 in the first shard"):
        combine(out, [p0, fewer, p2])
    other_count = make(tmp_path / "count.h5", photos, SPEC, count=12, seed=SEED, shard=(1, 3)).path
    with pytest.raises(ShardError, match="run of 12 tuples, the first shard of 10"):
        combine(out, [p0, other_count, p2])
    other_size = make(tmp_path / "size.h5", photos, SPEC.replace(height=32, width=32), count=COUNT, seed=SEED, shard=(1, 3)).path
    with pytest.raises(ShardError, match="32x32 there, 40x40"):
        combine(out, [p0, other_size, p2])
    other_comp = make(tmp_path / "comp.h5", photos, SPEC, count=COUNT, seed=SEED, shard=(1, 3), compression="gzip").path
    with pytest.raises(ShardError, match="compression is 'gzip' there, 'blosc-lz4'"):
        combine(out, [p0, other_comp, p2])
    assert not out.exists()


def as_format_1(src: Path, dst: Path) -> Path:
    """A copy of the format-2 file ``src`` in format 1, as the earlier pastegen wrote it: ``I_T``
    stored like ``I_S`` (same filters, one tuple per chunk), ``format_version`` 1, no ``derived``."""
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        i, m = f["I"][()], f["M"][()]
        n, h, w, _ = i.shape
        f.create_dataset("I_T", data=i * (1 - m[..., None]), chunks=(1, h, w, 3), fletcher32=True, **compression_kwargs(f.attrs["compression"]))
        f.attrs["format_version"] = 1
        del f.attrs["derived"]
    return dst


def test_format_1_shards_combine_and_do_not_mix_with_format_2(run, tmp_path):
    folder, full, shards = run
    old = [as_format_1(r.path, tmp_path / f"part{k}.h5") for k, r in enumerate(shards)]
    with open_tuples(old[0]) as tf:
        assert tf.format_version == 1 and tf.stored == ARRAYS
    out = tmp_path / "mixed.h5"
    mixed = [old[0], shards[1].path, shards[2].path]
    with pytest.raises(ShardError, match=r"part1.h5 does not match .*part0.h5: it is a tuple file of format 2 \(I_T derived, not stored\), "
                       r"the first shard of format 1 \(every array stored\); shards of one run must have one format"):
        combine(out, mixed)
    with pytest.raises(ShardError, match=r"format 1 \(every array stored\), the first shard of format 2"):
        combine(out, [shards[0].path, old[1], old[2]])
    assert not out.exists()
    # format-1 shards still combine (I_T mapped too) and read like the format-2 single run
    combined = combine(tmp_path / "old.h5", old).path
    with h5py.File(combined, "r") as f:
        assert f["I_T"].is_virtual and "derived" not in f.attrs and f.attrs["format_version"] == 1
    report = verify(combined)
    assert report.ok and report.checked == COUNT, report.problems
    assert check_combined(combined) == [] and replay_check(combined) == []
    with open_tuples(combined) as a, open_tuples(full) as b:
        for i in range(COUNT):
            for name in ARRAYS:
                np.testing.assert_array_equal(a[i][name], b[i][name])


def test_combine_rejects_unusable_inputs(run, tmp_path, photos):
    folder, _, shards = run
    p0, p1, p2 = (r.path for r in shards)
    with pytest.raises(ShardError, match="no shard files"):
        combine(tmp_path / "c.h5", [])
    with pytest.raises(Exception, match="does not exist"):
        combine(tmp_path / "c.h5", [p0, tmp_path / "nope.h5", p2])

    def interrupt(stage, n, total):
        if stage == "generate":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(tmp_path / "unfinished.h5", photos, SPEC, count=COUNT, seed=SEED, shard=(1, 3), progress=interrupt)
    with pytest.raises(IncompleteFileError):
        combine(tmp_path / "c.h5", [p0, tmp_path / "unfinished.h5", p2])
    combined = combine(tmp_path / "c.h5", [p0, p1, p2]).path
    with pytest.raises(OutputExistsError, match="--overwrite"):
        combine(combined, [p0, p1, p2])
    combine(combined, [p0, p1, p2], overwrite=True)
    with pytest.raises(ShardError, match="itself a combined file"):
        combine(tmp_path / "d.h5", [combined])
    with pytest.raises(ShardError, match="also given as a shard"):
        combine(p0, [p0, p1, p2], overwrite=True)


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_make_shard_combine_info_verify_preview(tmp_path, photos):
    folder = Path(photos[0]).parent
    common = ("--images", str(folder), "--size", "40", "--sigma", "3", "--seed", str(SEED), "--count", str(COUNT))
    r = cli("make", *common, "-q", str(tmp_path / "full.h5"))
    assert r.exit_code == 0, r.output
    for k in range(3):
        r = cli("make", *common, "--shard", f"{k}/3", str(tmp_path / f"s{k}.h5"))
        assert r.exit_code == 0, r.output
        lo, hi = shard_range(COUNT, k, 3)
        assert f"shard {k}/3: global indices {lo}..{hi - 1} of {COUNT}" in r.output
    r = cli("info", str(tmp_path / "s1.h5"))
    assert r.exit_code == 0 and "shard 1/3: global indices 3..5 of 10" in r.output, r.output
    r = cli("combine", str(tmp_path / "all.h5"), *(str(tmp_path / f"s{k}.h5") for k in (1, 0, 2)))
    assert r.exit_code == 0 and "10 tuples mapped from 3 shard file(s)" in r.output and "relative paths" in r.output, r.output
    assert cli("combine", "-q", "--overwrite", str(tmp_path / "all.h5"), *(str(tmp_path / f"s{k}.h5") for k in range(3))).output == ""
    assert_same_run(tmp_path / "all.h5", tmp_path / "full.h5")
    r = cli("info", str(tmp_path / "all.h5"))
    assert r.exit_code == 0 and "10 tuples of 40x40" in r.output and "combined from 3 shard file(s)" in r.output, r.output
    r = cli("info", "--json", str(tmp_path / "all.h5"))
    assert r.exit_code == 0 and '"combined_from"' in r.output
    r = cli("verify", "--replay", "10", str(tmp_path / "all.h5"))
    assert r.exit_code == 0 and "OK (10 tuples checked, 10 replayed exactly)" in r.output, r.output
    r = cli("verify", "--replay", "4", str(tmp_path / "s2.h5"))
    assert r.exit_code == 0 and "OK" in r.output, r.output
    for name in ("all", "full"):
        r = cli("preview", "--from", str(tmp_path / f"{name}.h5"), "--start", "2", "--count", "4", "--tile", "40", str(tmp_path / f"{name}.png"))
        assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "all.png")), cv2.imread(str(tmp_path / "full.png")))


def test_cli_shard_and_combine_errors(tmp_path, photos):
    folder = Path(photos[0]).parent
    common = ("--images", str(folder), "--size", "40", "--count", "4")
    r = cli("make", *common, "--shard", "4/4", str(tmp_path / "x.h5"))
    assert_one_line_error(r, "0 <= k < n")
    r = cli("make", *common, "--shard", "0/5", str(tmp_path / "x.h5"))
    assert_one_line_error(r, "at most 4 shards")
    r = cli("make", *common, "--shard", "half", str(tmp_path / "x.h5"))
    assert r.exit_code == 2 and "K/N" in r.output
    assert cli("make", *common, "-q", "--shard", "0/2", str(tmp_path / "a.h5")).exit_code == 0
    r = cli("combine", str(tmp_path / "all.h5"), str(tmp_path / "a.h5"))
    assert_one_line_error(r, "no shard covers global indices 2..3 of 4 (shard 1/2 missing?)")
    r = cli("combine", str(tmp_path / "all.h5"), str(tmp_path / "missing.h5"))
    assert_one_line_error(r, "missing.h5 does not exist")
    r = cli("combine", str(tmp_path / "all.h5"))
    assert r.exit_code == 2
    for cmd in ("combine", "make"):
        out = cli(cmd, "--help").output
        assert "Examples:" in out and "--shard" in out
