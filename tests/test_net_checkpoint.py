"""pastenet.checkpoint: round trip, keep-last-K, atomic saves, damage and refusals."""

from __future__ import annotations

import json
import os
import re

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


# --- resolve_weights: every accepted input, and what it refuses --------------------------------------


def _two_runs(tmp_path):
    """``runs/00000-a`` (steps 2 and 4) and ``runs/00001-b`` (step 3); the checkpoints."""
    net = torch.nn.Linear(2, 2)
    runs = tmp_path / "runs"
    a2 = save_checkpoint(runs / "00000-a", 2, modules={"G": net}, state={}, model_record={})
    a4 = save_checkpoint(runs / "00000-a", 4, modules={"G": net}, state={}, model_record={})
    b3 = save_checkpoint(runs / "00001-b", 3, modules={"G": net}, state={}, model_record={})
    return runs, a2, a4, b3


def test_resolve_weights_accepts_every_kind_of_path(tmp_path):
    from pastenet.checkpoint import WEIGHT_KINDS, resolve_weights

    runs, a2, a4, b3 = _two_runs(tmp_path)
    run_a = runs / "00000-a"
    cases = {  # path -> (kind, checkpoint, run, step)
        a2: ("checkpoint", a2, run_a, 2),
        run_a / "checkpoints": ("checkpoints", a4, run_a, 4),
        run_a: ("run", a4, run_a, 4),
        runs: ("runs", b3, runs / "00001-b", 3),
        a2 / "weights.safetensors": ("file", a2, run_a, 2),
    }
    for path, (kind, ck, run, step) in cases.items():
        for given in (path, str(path)):
            ref = resolve_weights(given)
            assert (ref.kind, ref.checkpoint, ref.run_dir, ref.step, ref.zoo_name) == (kind, ck, run, step, None), path
            assert ref.weights == ck / "weights.safetensors" and ref.location == ck and ref.path == path
            assert ref.kind in WEIGHT_KINDS and ref.name == run.name
            assert ref.sha256() == json.loads((ck / "meta.json").read_text())["sha256"]["weights.safetensors"]
    bare = tmp_path / "exported.safetensors"
    bare.write_bytes((a2 / "weights.safetensors").read_bytes())
    ref = resolve_weights(bare)
    assert (ref.kind, ref.weights, ref.checkpoint, ref.run_dir, ref.step, ref.location, ref.name) == ("file", bare, None, None, None, bare, "exported")
    # a checkpoint outside a run folder: no run, its step from meta.json
    moved = tmp_path / "kept" / "best"
    moved.parent.mkdir()
    os.replace(a2, moved)
    ref = resolve_weights(moved)
    assert (ref.kind, ref.checkpoint, ref.run_dir, ref.step, ref.name) == ("checkpoint", moved, None, 2, "best")


def test_resolve_weights_takes_zoo_names_only_where_no_path_exists(tmp_path, monkeypatch, fake_zoo):
    import hashlib

    from pastenet.checkpoint import resolve_weights
    from pastenet.errors import CheckpointNotFoundError, ZooError

    monkeypatch.chdir(tmp_path)
    weights = fake_zoo("my-net", b"shipped", steps=12)
    ref = resolve_weights("my-net")
    assert (ref.kind, ref.weights, ref.checkpoint, ref.run_dir, ref.step, ref.zoo_name, ref.name) == ("zoo", weights, None, None, 12, "my-net", "my-net")
    assert ref.location == weights and ref.sha256() == hashlib.sha256(b"shipped").hexdigest()
    with pytest.raises(CheckpointNotFoundError, match="my-net does not exist$"):
        resolve_weights("my-net", zoo=False)  # the loaders of pastenet.checkpoint take paths only
    with pytest.raises(CheckpointNotFoundError, match="not a model-zoo name.*pastenet models"):
        resolve_weights("other-net")
    (tmp_path / "my-net").mkdir()  # a folder of that name wins over the zoo
    with pytest.raises(CheckpointNotFoundError, match="holds no complete checkpoint"):
        resolve_weights("my-net")
    (tmp_path / "my-net").rmdir()
    weights.write_bytes(b"damaged")
    with pytest.raises(ZooError, match="damaged"):
        resolve_weights("my-net")


def test_resolve_weights_refuses_with_typed_errors(tmp_path):
    from pastenet.checkpoint import resolve_checkpoint, resolve_weights
    from pastenet.errors import CheckpointNotFoundError

    with pytest.raises(CheckpointNotFoundError, match="nothing does not exist") as e:
        resolve_weights(tmp_path / "nothing")
    assert isinstance(e.value, CheckpointError) and "\n" not in str(e.value)
    empty = tmp_path / "empty"
    (empty / "00000-run" / "checkpoints").mkdir(parents=True)  # a run that saved nothing yet
    for folder in (empty, empty / "00000-run", empty / "00000-run" / "checkpoints"):
        with pytest.raises(CheckpointNotFoundError, match="holds no complete checkpoint"):
            resolve_weights(folder)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match="not a checkpoint") as e:
        resolve_weights(tmp_path / "notes.txt")
    assert not isinstance(e.value, CheckpointNotFoundError)
    bare = tmp_path / "model.safetensors"
    bare.write_bytes(b"x")
    assert resolve_weights(bare).checkpoint is None
    with pytest.raises(CheckpointError, match="bare weights file, not a checkpoint"):
        resolve_checkpoint(bare)  # load_checkpoint needs a checkpoint's state, which a bare file lacks


# --- wrongly typed or non-finite weights; --init-from with a weights file --------------------------


def _retamper(path, key, change):
    """Replace tensor ``key`` of a checkpoint's weights with ``change(tensor)`` and re-record its sha256."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    weights = path / "weights.safetensors" if path.is_dir() else path
    with safe_open(str(weights), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors[key] = change(tensors[key])
    save_file(tensors, str(weights), metadata=meta)
    if path.is_dir():
        record = json.loads((path / "meta.json").read_text())
        record["sha256"]["weights.safetensors"] = ckpt._sha256(weights)
        (path / "meta.json").write_text(json.dumps(record))
    return weights


#: Ways to spoil a weight tensor, with what the refusal says (also used by test_net_paste).
BAD = {
    "bool": (lambda t: t > 0, "dtype torch.bool"),
    "int32": (lambda t: t.to(torch.int32), "dtype torch.int32"),
    "float16": (lambda t: t.to(torch.float16), "dtype torch.float16"),
    "float64": (lambda t: t.to(torch.float64), "dtype torch.float64"),
    "nan": (lambda t: t.index_fill(0, torch.tensor([0]), float("nan")), "NaN or infinite"),
    "inf": (lambda t: t.index_fill(0, torch.tensor([0]), float("inf")), "NaN or infinite"),
    "-inf": (lambda t: t.index_fill(0, torch.tensor([0]), float("-inf")), "NaN or infinite"),
}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("key", ["G.0.weight", "D.1.weight", "G_ema.2.bias"])
def test_resume_refuses_wrongly_typed_or_non_finite_weights(tmp_path, bad, key):
    change, match = BAD[bad]
    modules = {**make_modules(), "G_ema": make_modules(seed=3)["G"]}
    path = save_checkpoint(tmp_path, 1, modules=modules, state={}, model_record=RECORD)
    _retamper(path, key, change)
    fresh = {**make_modules(seed=1), "G_ema": make_modules(seed=2)["G"]}
    pattern = rf"weights\.safetensors.*{re.escape(key)}.*{match}"
    with pytest.raises(CheckpointError, match=pattern) as info:
        load_checkpoint(path, modules=fresh)
    assert "\n" not in str(info.value)
    if key.startswith("G"):  # paste's loader too (it reads G_ema when present)
        with pytest.raises(CheckpointError, match=pattern):
            load_generator_weights(path, name=key.partition(".")[0])


@pytest.mark.parametrize("bad", list(BAD))
def test_generator_weights_refuse_wrongly_typed_or_non_finite_tensors(tmp_path, bad):
    change, match = BAD[bad]
    modules = make_modules()
    path = save(tmp_path, 1, modules, make_optimizers(modules))
    _retamper(path, "G.2.weight", change)
    with pytest.raises(CheckpointError, match=rf"{path.name}.weights\.safetensors.*G\.2\.weight.*{match}"):
        load_generator_weights(path)
    load_generator_weights(path, name="D")  # the other module's weights are fine


def test_batch_norm_counters_keep_their_integer_dtype(tmp_path):
    modules = make_modules()
    path = save(tmp_path, 1, modules, make_optimizers(modules))
    sd, _ = load_generator_weights(path)
    assert sd["1.num_batches_tracked"].dtype == torch.int64
    _retamper(path, "G.1.num_batches_tracked", lambda t: t.to(torch.float32))
    with pytest.raises(CheckpointError, match=r"G\.1\.num_batches_tracked has dtype torch\.float32"):
        load_checkpoint(path, modules=make_modules())


def _networks(seed: int):
    from pastenet.config import ModelConfig
    from pastenet.models import Discriminator, Generator

    config = ModelConfig(resolution=32, channels=(4, 8), dilations=(1,), d_channels=(4, 8), d_local_channels=(4,), d_features=8)
    torch.manual_seed(seed)
    return config, Generator(config), Discriminator(config)


def test_init_from_accepts_a_weights_file_of_any_name(tmp_path):
    import shutil

    from pastenet.train.loop import _init_from

    config, G, D = _networks(0)
    _, G_ema, _ = _networks(5)
    path = save_checkpoint(tmp_path / "run", 3, modules={"G": G, "D": D}, state={}, model_record=config.to_record())
    bare = tmp_path / "x.safetensors"
    shutil.copy(path / "weights.safetensors", bare)
    for where in (bare, path, path / "weights.safetensors", tmp_path / "run"):
        _, G2, D2 = _networks(1)
        _init_from(str(where), G2, D2, config)
        assert_same_tensors(G2.state_dict(), G.state_dict())
        assert_same_tensors(D2.state_dict(), D.state_dict())

    with_ema = save_checkpoint(tmp_path / "ema", 3, modules={"G": G, "D": D, "G_ema": G_ema}, state={}, model_record=config.to_record())
    shutil.copy(with_ema / "weights.safetensors", bare)
    _, G2, D2 = _networks(1)
    _init_from(str(bare), G2, D2, config)
    assert_same_tensors(G2.state_dict(), G_ema.state_dict())  # the averaged weights win

    only_g = save_checkpoint(tmp_path / "g", 3, modules={"G": G}, state={}, model_record=config.to_record())
    shutil.copy(only_g / "weights.safetensors", bare)
    with pytest.raises(CheckpointError, match=r"x\.safetensors: it holds no D"):
        _init_from(str(bare), *_networks(1)[1:], config)
    _, G2, D2 = _networks(1)
    before = {k: v.clone() for k, v in D2.state_dict().items()}
    _init_from(str(bare), G2, D2, config, need_D=False)  # a reconstruction run: G alone will do
    assert_same_tensors(G2.state_dict(), G.state_dict())
    assert_same_tensors(D2.state_dict(), before)  # D left as it was

    shutil.copy(path / "weights.safetensors", bare)
    _retamper(bare, "D.head.weight", lambda t: t.to(torch.float64))
    with pytest.raises(CheckpointError, match=r"x\.safetensors.*D\.head\.weight has dtype torch\.float64"):
        _init_from(str(bare), *_networks(1)[1:], config)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError, match="safetensors"):
        _init_from(str(tmp_path / "notes.txt"), *_networks(1)[1:], config)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"channels": [100000, 8]}, r"channels\[0\] = 100000 exceeds the maximum of 2048"),
        ({"d_local_channels": [4, 9999]}, r"d_local_channels\[1\] = 9999 exceeds"),
        ({"dilations": [1] * 1000}, "dilations has 1000 entries"),
        ({"dilations": [100000]}, r"dilations\[0\] = 100000 exceeds the maximum of 256"),
        ({"resolution": 1 << 20}, "resolution must be between 16 and 16384"),
        ({"d_features": 10**9}, "d_features must be between 1 and 4096"),
        ({"resolution": 16384, "d_channels": [2048], "d_features": 4096}, "weights .G and D., more than the 500,000,000"),
        ({"channels": ["a", 8]}, r"channels\[0\] must be an integer, got 'a'"),
        ({"channels": 8}, "channels must be a non-empty sequence"),
        ({"resolution": 32.5}, "resolution must be an integer"),
        ({"noise": "yes"}, "noise must be true or false"),
        ({"slope": None}, "slope must be a finite number"),
    ],
)
def test_model_records_are_bounded_and_typed(change, match):
    from pastenet.config import ConfigError, model_from_record

    record = {"resolution": 32, "channels": [4, 8], "dilations": [1], "d_channels": [4, 8], "d_local_channels": [4], "d_features": 8}
    assert model_from_record(record).parameter_count > 0
    with pytest.raises(ConfigError, match=match) as info:
        model_from_record({**record, **change})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="JSON object"):
        model_from_record([1, 2])


def test_parameter_count_matches_the_networks():
    from pastenet.config import PRESETS
    from pastenet.models import Discriminator, Generator

    for name, config in PRESETS.items():
        if name == "paper-512":  # 84 M weights: slow to build in a unit test
            continue
        count = sum(p.numel() for m in (Generator(config), Discriminator(config)) for p in m.parameters())
        assert config.parameter_count == count


def _full_disk_error(kind: str) -> BaseException:
    """What a write raises when the disk fills up: torch.save, safetensors, or a plain OSError."""
    import errno

    from safetensors import SafetensorError

    if kind == "torch.save":
        return RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
    if kind == "safetensors":
        return SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("kind", ["torch.save", "safetensors", "oserror"])
def test_a_full_disk_while_saving_is_a_checkpoint_error_and_keeps_the_previous_ones(tmp_path, monkeypatch, kind):
    import safetensors.torch

    modules = make_modules()
    opts = make_optimizers(modules)
    save(tmp_path, 1, modules, opts)
    before = {k: v.clone() for k, v in modules["G"].state_dict().items()}
    train(modules, opts, 1, start=1)

    def full(*args, **kwargs):
        raise _full_disk_error(kind)

    if kind == "safetensors":
        monkeypatch.setattr(safetensors.torch, "save_file", full)
    else:
        monkeypatch.setattr(ckpt.torch, "save", full)
    with pytest.raises(CheckpointError, match=r"cannot save the checkpoint of step 2 .*MiB free on that disk.*previous checkpoints are intact") as e:
        save(tmp_path, 2, modules, opts)
    monkeypatch.undo()
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000001"]  # no half-written one
    fresh = make_modules(seed=3)
    assert load_checkpoint(tmp_path, modules=fresh)["step"] == 1
    assert_same_tensors(fresh["G"].state_dict(), before)


def test_a_failed_save_of_the_same_step_again_keeps_the_checkpoint_it_would_replace(tmp_path, monkeypatch):
    modules = make_modules()
    opts = make_optimizers(modules)
    save(tmp_path, 2, modules, opts)
    before = {k: v.clone() for k, v in modules["G"].state_dict().items()}
    train(modules, opts, 1, start=2)
    real = os.replace

    def replace(src, dst):  # moving the old step-2 aside works; putting the new one in place fails
        if os.path.basename(str(src)).startswith(".tmp-step-"):
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", replace)
    with pytest.raises(CheckpointError, match="No space left"):
        save(tmp_path, 2, modules, opts)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000002"]
    fresh = make_modules(seed=3)
    assert load_checkpoint(tmp_path, modules=fresh)["step"] == 2
    assert_same_tensors(fresh["G"].state_dict(), before)


def test_init_from_another_resolution_loads_g_alone_for_a_reconstruction_run(tmp_path):
    """G is fully convolutional: a low-resolution run's G starts a higher one (D fits one resolution: refused with it)."""
    from pastenet.models import Generator
    from pastenet.train.loop import _init_from

    config, G, D = _networks(0)
    low = config.replace(resolution=16)
    path = save_checkpoint(tmp_path / "low", 3, modules={"G": G, "D": D}, state={}, model_record=low.to_record())
    _, G2, D2 = _networks(1)
    before = {k: v.clone() for k, v in D2.state_dict().items()}
    _init_from(str(path), G2, D2, config, need_D=False)
    assert_same_tensors(G2.state_dict(), G.state_dict())
    assert_same_tensors(D2.state_dict(), before)  # D (built for 32) starts afresh
    with pytest.raises(CheckpointError, match=r"trained at resolution 16, this run at 32; only a run with --alpha 0"):
        _init_from(str(path), *_networks(1)[1:], config)
    wider = config.replace(channels=(4, 16))
    with pytest.raises(CheckpointError, match="differs from this run's"):
        _init_from(str(path), Generator(wider), D2, wider, need_D=False)
