"""pastenet.checkpoint: round trip, keep-last-K, atomic saves, damage and refusals."""

from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from pastenet import checkpoint as ckpt
from pastenet.checkpoint import (
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_generator_weights,
    read_model_record,
    save_checkpoint,
)
from pastenet.errors import CheckpointError

RECORD = {"resolution": 32, "channels": [4, 8]}


def make_modules(seed: int = 0, width: int = 6) -> dict[str, nn.Module]:
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.BatchNorm2d(width), nn.Conv2d(width, 3, 1))
    D = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5), nn.LeakyReLU(0.2), nn.Linear(5, 1))
    return {"G": G, "D": D}


def make_optimizers(modules):
    return {name: torch.optim.Adam(m.parameters(), lr=1e-2, betas=(0.0, 0.99)) for name, m in modules.items()}


def train(modules, opts, steps, start=0):
    for s in range(start, start + steps):
        g = torch.Generator().manual_seed(s)
        x = torch.randn(2, 4, 4, 4, generator=g)
        loss = modules["D"](modules["G"](x)).mean() + modules["G"](x).square().mean()
        for o in opts.values():
            o.zero_grad()
        loss.backward()
        for o in opts.values():
            o.step()


def state_of(opts, step, cursor):
    return {
        "step": step,
        "optimizers": {name: o.state_dict() for name, o in opts.items()},
        "cursor": cursor,
        "options": {"lr": 1e-2, "batch": 2, "preset": "tiny", "betas": [0.0, 0.99], "note": None},
    }


def save(run, step, modules, opts, keep=3):
    return save_checkpoint(run, step, modules=modules, state=state_of(opts, step, step * 4), model_record=RECORD, keep=keep)


def assert_same_tensors(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_round_trip_gives_identical_tensors_and_an_identical_continuation(tmp_path):
    run = tmp_path / "run"
    modules = make_modules()
    opts = make_optimizers(modules)
    train(modules, opts, 2)
    path = save(run, 2, modules, opts)
    assert path == run / "checkpoints" / "step-00000002"
    assert sorted(p.name for p in path.iterdir()) == ["meta.json", "state.pt", "weights.safetensors"]
    meta = json.loads((path / "meta.json").read_text())
    assert meta["step"] == 2 and meta["format_version"] == ckpt.FORMAT_VERSION
    assert set(meta["sha256"]) == {"weights.safetensors", "state.pt"}

    fresh = make_modules(seed=1)
    fresh_opts = make_optimizers(fresh)
    state = load_checkpoint(run, modules=fresh)  # a run directory: its latest checkpoint
    for name in modules:
        assert_same_tensors(modules[name].state_dict(), fresh[name].state_dict())
        fresh_opts[name].load_state_dict(state["optimizers"][name])
        saved = state["optimizers"][name]["state"][0]
        assert torch.equal(saved["exp_avg"], opts[name].state_dict()["state"][0]["exp_avg"])
    assert state["step"] == 2 and state["cursor"] == 8 and state["options"]["betas"] == [0.0, 0.99]

    train(modules, opts, 3, start=2)
    train(fresh, fresh_opts, 3, start=2)
    for name in modules:
        assert_same_tensors(modules[name].state_dict(), fresh[name].state_dict())
        assert_same_tensors(opts[name].state_dict()["state"][0], fresh_opts[name].state_dict()["state"][0])


def test_model_record_and_generator_weights_for_inference(tmp_path):
    modules = make_modules()
    path = save(tmp_path, 5, modules, make_optimizers(modules))
    for where in (tmp_path, path, path / "weights.safetensors"):
        assert read_model_record(where) == RECORD
        sd, record = load_generator_weights(where)
        assert record == RECORD
        assert_same_tensors(sd, modules["G"].state_dict())


def test_keeps_the_last_k(tmp_path):
    modules = make_modules()
    opts = make_optimizers(modules)
    for step in (1, 2, 3, 4, 5):
        save(tmp_path, step, modules, opts, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004", "step-00000005"]
    assert latest_checkpoint(tmp_path).name == "step-00000005"
    save(tmp_path, 5, modules, opts, keep=2)  # saving a step again replaces it
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000004", "step-00000005"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000004", "step-00000005"]
    assert latest_checkpoint(tmp_path / "empty") is None


@pytest.mark.parametrize("fail", ["replace", "write"])
def test_a_crash_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch, fail):
    modules = make_modules()
    opts = make_optimizers(modules)
    train(modules, opts, 1)
    save(tmp_path, 1, modules, opts)
    before = {k: v.clone() for k, v in modules["G"].state_dict().items()}
    train(modules, opts, 1, start=1)

    def boom(*args, **kwargs):
        raise OSError("disk on fire")

    if fail == "replace":
        monkeypatch.setattr(ckpt.os, "replace", boom)
    else:
        monkeypatch.setattr(ckpt.torch, "save", boom)
    with pytest.raises(CheckpointError, match="disk on fire"):
        save(tmp_path, 2, modules, opts)
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001"]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000001"]
    fresh = make_modules(seed=3)
    assert load_checkpoint(tmp_path, modules=fresh)["step"] == 1
    assert_same_tensors(fresh["G"].state_dict(), before)


def test_a_killed_save_leaves_a_temporary_dir_that_is_ignored_and_then_removed(tmp_path):
    modules = make_modules()
    opts = make_optimizers(modules)
    save(tmp_path, 1, modules, opts)
    stale = tmp_path / "checkpoints" / ".tmp-step-00000002-123-abcd"
    stale.mkdir()
    (stale / "weights.safetensors").write_bytes(b"half")
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000001"]
    save(tmp_path, 3, modules, opts)
    assert not stale.exists()


def test_damaged_or_missing_files_are_refused(tmp_path):
    modules = make_modules()
    path = save(tmp_path, 1, modules, make_optimizers(modules))
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="weights.safetensors does not match its sha256") as e:
        load_checkpoint(path, modules=make_modules())
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="sha256"):
        load_generator_weights(path)
    weights.unlink()
    with pytest.raises(CheckpointError, match="no weights.safetensors"):
        load_checkpoint(path, modules=make_modules())
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope", modules=make_modules())
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_checkpoint(_empty(tmp_path), modules={})


def _empty(tmp_path):
    d = tmp_path / "empty-run"
    d.mkdir()
    return d


class Custom:
    pass


@pytest.mark.parametrize(
    "bad, where",
    [
        ({"fn": lambda x: x}, r"state\['fn'\] is a builtins.function"),
        ({"nested": {"obj": [1, Custom()]}}, r"state\['nested'\]\['obj'\]\[1\] is a .*Custom"),
        ({"arr": __import__("numpy").zeros(2)}, "numpy.ndarray"),
        ({(1, 2): 3}, "key"),
    ],
)
def test_state_with_other_objects_is_refused_at_save_time(tmp_path, bad, where):
    modules = make_modules()
    with pytest.raises(CheckpointError, match=where):
        save_checkpoint(tmp_path, 1, modules=modules, state=bad, model_record=RECORD)
    assert list_checkpoints(tmp_path) == []
    with pytest.raises(CheckpointError, match="state\\['step'\\]"):
        save_checkpoint(tmp_path, 1, modules=modules, state={"step": 2}, model_record=RECORD)


def test_weights_that_do_not_fit_are_refused(tmp_path):
    modules = make_modules()
    path = save(tmp_path, 1, modules, make_optimizers(modules))
    with pytest.raises(CheckpointError, match=r"G\.0\.weight has shape \(6, 4, 3, 3\), the module expects \(7, 4, 3, 3\)"):
        load_checkpoint(path, modules=make_modules(width=7))
    with pytest.raises(CheckpointError, match="module 'D'"):
        load_checkpoint(path, modules={"G": make_modules()["G"]})
    bigger = make_modules()
    bigger["G"].append(nn.Conv2d(3, 3, 1))
    with pytest.raises(CheckpointError, match=r"missing key G\.3\.weight"):
        load_checkpoint(path, modules=bigger)
    smaller = make_modules()
    del smaller["G"][2]
    with pytest.raises(CheckpointError, match=r"unexpected key G\.2\.(weight|bias) "):
        load_checkpoint(path, modules=smaller)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_state_file_is_read_with_weights_only(tmp_path):
    modules = make_modules()
    path = save(tmp_path, 1, modules, make_optimizers(modules))
    state_pt = path / "state.pt"
    torch.save({"format": ckpt.FORMAT_NAME, "format_version": 1, "step": 1, "state": {"x": Evil()}}, state_pt)
    # re-record the checksum so only the weights_only guard stands in the way
    meta = json.loads((path / "meta.json").read_text())
    meta["sha256"]["state.pt"] = ckpt._sha256(state_pt)
    (path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path, modules=make_modules())


def test_a_folder_of_runs_resolves_to_the_newest_run_with_a_checkpoint(tmp_path):
    from pastenet.checkpoint import resolve_checkpoint

    net = torch.nn.Linear(2, 2)
    older = save_checkpoint(tmp_path / "00000-tiny-a" / "checkpoints", 5, modules={"G": net}, state={}, model_record={})
    (tmp_path / "00002-tiny-c").mkdir()  # newest, but nothing saved yet
    newer = save_checkpoint(tmp_path / "00001-tiny-b" / "checkpoints", 3, modules={"G": net}, state={}, model_record={})
    assert resolve_checkpoint(tmp_path) == newer
    assert resolve_checkpoint(tmp_path / "00000-tiny-a") == older
