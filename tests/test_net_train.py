"""The trainer: run folders, exact resume, interruption, fine-tuning, multi-process, learning."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

import pastegen
from pastenet.checkpoint import latest_checkpoint, list_checkpoints
from pastenet.errors import CheckpointError, ConfigError, DataError, ResumeError
from pastenet.train import TrainOptions, train

if TYPE_CHECKING:
    import click.testing

SIZE = 64
TIMING = {"it_s", "samples_s", "peak_mem_mb"}


@pytest.fixture(scope="module")
def tuples(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net-data") / "tuples.h5"
    spec = pastegen.preset("sample", height=SIZE, width=SIZE)
    pastegen.make(path, pastegen.sample_image_paths(), spec, count=24, seed=3)
    return path


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _options(data: Path, out: Path, **changes) -> TrainOptions:
    base = dict(
        data=str(data), preset="tiny", steps=6, batch=3, device="cpu", workers=0, out=str(out),
        log_every=2, sample_every=3, checkpoint_every=3, keep=5, grid_size=4, progress=False,
    )
    base.update(changes)
    return TrainOptions(**base)


def _weights(run_dir: Path, step: int | None = None) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    ckpt = latest_checkpoint(run_dir / "checkpoints") if step is None else run_dir / "checkpoints" / f"step-{step:08d}"
    return load_file(str(ckpt / "weights.safetensors"))


def _state(run_dir: Path) -> dict:
    return torch.load(latest_checkpoint(run_dir / "checkpoints") / "state.pt", weights_only=True)["state"]


def _stats(run_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in TIMING} for line in lines]


def _assert_same_state(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["cursor"] == b["cursor"]
    for key in ("opt_G", "opt_D"):
        sa, sb = a[key]["state"], b[key]["state"]
        assert sa.keys() == sb.keys()
        for i in sa:
            for name, value in sa[i].items():
                assert torch.equal(value, sb[i][name]), (key, i, name)


def test_run_folder_contents(tuples, tmp_path):
    result = train(_options(tuples, tmp_path))
    run = result.run_dir
    assert run.parent == tmp_path and run.name.startswith("00000-tiny-")
    assert result.step == 6 and not result.interrupted
    options = json.loads((run / "options.json").read_text())
    assert options["model"]["resolution"] == SIZE and options["steps"] == 6 and options["preset"] == "tiny"
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [2, 4, 6]
    for key in ("l1", "loss_d", "loss_g", "it_s", "samples_s", "peak_mem_mb"):
        assert all(np.isfinite(s[key]) for s in stats), key
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step-00000003.png", "step-00000006.png"]
    from PIL import Image

    grid = np.asarray(Image.open(run / "samples" / "step-00000006.png"))
    assert grid.shape[0] > 4 * SIZE and grid.shape[1] > 3 * SIZE  # 4 rows of (X, Y, I)
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step-00000003", "step-00000006"]
    assert list(run.glob("events.out.tfevents.*")), "no TensorBoard events"
    # a second run gets the next number
    again = train(_options(tuples, tmp_path, steps=1))
    assert again.run_dir.name.startswith("00001-")


def test_resume_is_exact(tuples, tmp_path):
    straight = train(_options(tuples, tmp_path / "a", steps=8, checkpoint_every=4))
    first = train(_options(tuples, tmp_path / "b", steps=4, checkpoint_every=4))
    resumed = train(resume=first.run_dir, changes={"steps": 8})
    assert resumed.run_dir == first.run_dir and resumed.step == 8
    wa, wb = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    _assert_same_state(_state(straight.run_dir), _state(resumed.run_dir))
    assert _stats(straight.run_dir) == _stats(resumed.run_dir)
    recorded = json.loads((resumed.run_dir / "options.json").read_text())
    assert recorded["steps"] == 8


def test_interrupt_saves_and_resumes_exactly(tuples, tmp_path):
    straight = train(_options(tuples, tmp_path / "a", steps=6, checkpoint_every=100))

    def interrupt(step, total, stats):
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = train(_options(tuples, tmp_path / "b", steps=6, checkpoint_every=100), progress=interrupt)
    assert stopped.interrupted and stopped.step == 3  # the signal lands after step 2; step 3 finishes
    assert [p.name for p in list_checkpoints(stopped.run_dir / "checkpoints")] == ["step-00000003"]
    resumed = train(resume=stopped.run_dir)
    assert resumed.step == 6
    wa, wb = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_errors(tuples, tmp_path):
    with pytest.raises(ResumeError, match="no such run folder"):
        train(resume=tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ResumeError, match="not a run folder"):
        train(resume=tmp_path / "plain")
    run = train(_options(tuples, tmp_path, steps=3)).run_dir
    with pytest.raises(ResumeError, match="batch"):
        train(resume=run, changes={"batch": 4, "steps": 6})
    with pytest.raises(ResumeError, match="larger --steps"):
        train(resume=run)
    for ckpt in list_checkpoints(run / "checkpoints"):
        import shutil

        shutil.rmtree(ckpt)
    with pytest.raises(ResumeError, match="no complete checkpoint"):
        train(resume=run, changes={"steps": 6})
    with pytest.raises(ConfigError):
        train(_options(tuples, tmp_path), resume=run)


def test_init_from_fine_tunes_from_weights(tuples, tmp_path):
    source = train(_options(tuples, tmp_path, steps=3)).run_dir
    tuned = train(_options(tuples, tmp_path, steps=1, init_from=str(source), lr_g=1e-12, lr_d=1e-12))
    assert tuned.run_dir != source and tuned.step == 1
    before, after = _weights(source), _weights(tuned.run_dir)
    for key in before:  # a learning rate of 1e-12 leaves the loaded weights (almost) unchanged
        assert torch.allclose(before[key], after[key], atol=1e-6), key
    with pytest.raises(CheckpointError):
        train(_options(tuples, tmp_path, steps=1, init_from=str(source), preset="small-256"))


def test_loss_falls_when_overfitting(tmp_path):
    path = tmp_path / "five.h5"
    pastegen.make(path, pastegen.sample_image_paths(), pastegen.preset("sample", height=32, width=32), count=4, seed=1)
    options = TrainOptions(
        data=str(path), preset="tiny", steps=80, batch=4, device="cpu", workers=0, out=str(tmp_path), lr_g=2e-3,
        log_every=10, sample_every=1000, checkpoint_every=1000, progress=False,
    )
    options = options.replace(model={**_tiny32(), "resolution": 32})
    result = train(options)
    stats = _stats(result.run_dir)
    assert stats[-1]["l1"] < 0.6 * stats[0]["l1"], [s["l1"] for s in stats]


def _tiny32() -> dict:
    from pastenet.config import preset

    return preset("tiny", resolution=32, local_window=16, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32)).to_record()


def test_auto_threads_leave_the_data_workers_their_cores():
    from pastenet.train.backend import cpu_threads

    assert cpu_threads(0, workers=2, cores=2, current=2) == 1  # this machine: 2 cores, 2 workers
    assert cpu_threads(0, workers=0, cores=2, current=2) == 2
    assert cpu_threads(0, workers=2, cores=16, current=16) == 14
    assert cpu_threads(0, workers=2, processes=2, cores=16, current=16) == 6  # torchrun: each its share
    assert cpu_threads(0, workers=2, cores=16, current=4) == 4  # OMP_NUM_THREADS stays an upper bound
    assert cpu_threads(0, workers=8, cores=4, current=4) == 1  # at least one
    assert cpu_threads(3, workers=2, cores=2, current=2) == 3  # a count given is taken as it is


def test_only_workers_that_poisson_blend_count_as_busy(tmp_path, monkeypatch):
    from pastenet.train.backend import training_threads

    stream = dict(stream=True, dataset="sample", preset="colormap", workers=2, out=str(tmp_path))
    assert training_threads(TrainOptions(**stream, prior="poisson"), cores=2, current=2) == 1
    assert training_threads(TrainOptions(**stream), cores=2, current=2) == 2  # rendering alone: light
    assert training_threads(TrainOptions(**stream, prior="poisson", threads=2), cores=2, current=2) == 2
    # with data echoing the workers prepare ECHO times fewer tuples: WORKERS // ECHO of them are busy
    assert training_threads(TrainOptions(**stream, prior="poisson", batch=8, echo=2), cores=2, current=2) == 1
    assert training_threads(TrainOptions(**stream, prior="poisson", batch=8, echo=4), cores=2, current=2) == 2
    assert training_threads(TrainOptions(**{**stream, "workers": 13}, prior="poisson", batch=8, echo=4), cores=16, current=16) == 13
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert training_threads(TrainOptions(**stream, prior="poisson"), cores=16, current=16) == 6


@pytest.mark.parametrize("threads", [2, 0])
def test_training_runs_on_the_chosen_threads_and_restores_the_count(tuples, tmp_path, threads):
    seen = []
    before = torch.get_num_threads()
    train(_options(tuples, tmp_path, steps=2, threads=threads), progress=lambda *a: seen.append(torch.get_num_threads()))
    assert seen == [threads or before] * 2  # auto: never more than the process had (the fixture's 1)
    assert torch.get_num_threads() == before


def test_dry_run_resolves_without_writing(tuples, tmp_path):
    result = train(_options(tuples, tmp_path / "runs"), dry_run=True)
    assert result.run_dir is None and result.options.model["resolution"] == SIZE
    assert not (tmp_path / "runs").exists()


def test_resolution_must_match_the_file(tuples, tmp_path):
    with pytest.raises(ConfigError, match="--resolution 32"):
        train(_options(tuples, tmp_path, resolution=32), dry_run=True)
    assert train(_options(tuples, tmp_path, resolution=SIZE), dry_run=True).options.model["resolution"] == SIZE


def test_bad_data_is_a_data_error(tmp_path):
    with pytest.raises(DataError):
        train(_options(tmp_path / "missing.h5", tmp_path))
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(DataError):
        train(_options(junk, tmp_path))


def test_options_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="preset"):
        TrainOptions(data="x.h5", preset="huge")
    with pytest.raises(ConfigError, match="tuple file"):
        TrainOptions()
    with pytest.raises(ConfigError, match="test split"):
        TrainOptions(stream=True, dataset="faces", split="test")
    with pytest.raises(ConfigError):
        TrainOptions(data="x.h5", batch=0)


def test_map_stride_overrides_the_presets_and_is_checked():
    o = TrainOptions(stream=True, dataset="faces", preset="colormap", map_stride=2)
    assert o.model_config(256).map_stride == 2 and o.model_config(256).resolution == 256
    assert TrainOptions(stream=True, dataset="faces", preset="colormap").model_config(256).map_stride == 4
    with pytest.raises(ConfigError, match="multiple of map_stride"):
        TrainOptions(stream=True, dataset="faces", preset="colormap", map_stride=3).model_config(256)
    with pytest.raises(ConfigError, match="map_stride"):
        TrainOptions(stream=True, dataset="faces", preset="colormap", map_stride=0)
    recorded = o.replace(model=o.model_config(256).to_record())  # a run's record wins over the option
    assert recorded.replace(map_stride=4).model_config(256).map_stride == 2


def test_one_table_of_options_makes_the_command_line_and_the_checks():
    """Defaults, help texts and bounds are written once (TrainOptions' fields): the command's options
    are made from them, the dataclass checks the same bounds, and a renamed key still loads."""
    import dataclasses

    from pastenet.cli import train as command
    from pastenet.train.options import RENAMED, cli_options

    params = {p.name: p for p in command.params}
    specs = cli_options()
    assert {s.field for s in specs} | {"data", "split", "spec_preset", "model", "grid_size"} == {f.name for f in dataclasses.fields(TrainOptions)}
    for spec in specs:
        param = params[spec.param]
        assert param.help == spec.help and param.help, spec.field
        assert param.default == (False if spec.kind is bool else spec.default), spec.field
    assert params["drift_gamma"].opts == ["--gamma"] and params["quiet"].opts == ["-q", "--quiet"]
    assert RENAMED == {"gamma": "drift_gamma"}
    with pytest.raises(ConfigError, match=r"beta1 must be in \[0, 1\), got 1"):
        TrainOptions(data="x.h5", beta1=1.0)
    with pytest.raises(ConfigError, match="sigma must be non-negative"):
        TrainOptions(stream=True, dataset="sample", sigma=-1.0)
    with pytest.raises(ConfigError, match="lr_g must be positive"):
        TrainOptions(data="x.h5", lr_g=0.0)
    with pytest.raises(ConfigError, match="recon must be one of image, mask"):
        TrainOptions(data="x.h5", recon="l2")
    from pastenet.train import options_from_record

    record = TrainOptions(data="x.h5", drift_gamma=0.25).to_record()
    record["gamma"] = record.pop("drift_gamma")  # the old key
    assert options_from_record(record).drift_gamma == 0.25
    with pytest.raises(ConfigError, match="both 'gamma'"):
        options_from_record(dict(record, drift_gamma=0.5))


def test_gan_step_takes_explicit_settings():
    from pastenet.config import preset
    from pastenet.models import Discriminator, Generator
    from pastenet.train.distributed import World
    from pastenet.train.networks import gan_step_kwargs
    from pastenet.train.step import GanStep

    config = preset("tiny", resolution=32, local_window=16, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32))
    G, D = Generator(config), Discriminator(config)
    kwargs = gan_step_kwargs(TrainOptions(data="-", lr_g=1e-3, beta1=0.5, drift_gamma=0.5, ema_kimg=1.0, batch=4), World(size=2))
    assert kwargs["betas"] == (0.5, 0.9) and kwargs["drift_gamma"] == 0.5 and kwargs["ema_beta"] == 0.5 ** (8 / 1000)
    step = GanStep(G, D, config, torch.device("cpu"), World(), **kwargs)
    assert step.opt_g.defaults["lr"] == 1e-3 and step.opt_g.defaults["betas"] == (0.5, 0.9)
    with pytest.raises(ValueError, match="ema_beta"):
        GanStep(G, D, config, torch.device("cpu"), World(), **dict(kwargs, ema_beta=None), G_ema=G)


def test_reduce_mean_and_any_rank_in_one_process():
    from pastenet.train.distributed import any_rank, reduce_mean

    x = torch.tensor([1.0, float("nan"), 2.5])
    assert reduce_mean(x) is x  # no process group: untouched, bit for bit
    assert any_rank(True) is True and any_rank(False) is False


def _agreement_worker(rank: int, world: int, init_file: str, queue) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        from pastenet.train.distributed import any_rank, reduce_mean

        mean = reduce_mean(torch.tensor([float(rank), 10.0 * rank], dtype=torch.float64)).tolist()
        queue.put((rank, mean, any_rank(rank == 1), any_rank(False), any_rank(True)))
    finally:
        torch.distributed.destroy_process_group()


def test_reduce_mean_and_any_rank_over_two_gloo_processes(tmp_path):
    """The logged figures are every process's mean; a flag raised on one process is seen by all."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_agreement_worker, args=(r, 2, str(tmp_path / "init"), queue)) for r in range(2)]
    for p in procs:
        p.start()
    try:
        results = sorted(queue.get(timeout=120) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    assert results == [(0, [0.5, 5.0], True, False, True), (1, [0.5, 5.0], True, False, True)]


def test_stream_training(tmp_path):
    options = TrainOptions(
        stream=True, dataset="sample", preset="tiny", steps=2, batch=2, device="cpu", workers=0, out=str(tmp_path),
        log_every=1, sample_every=2, checkpoint_every=2, grid_size=2, progress=False,
    )
    options = options.replace(model={**_tiny32(), "resolution": 32})
    result = train(options)
    assert result.step == 2 and (result.run_dir / "samples" / "step-00000002.png").exists()
    assert json.loads((result.run_dir / "options.json").read_text())["stream"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, options_record: dict, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from pastenet.train import options_from_record

    result = train(options_from_record(options_record))
    if rank == 0:
        queue.put(str(result.run_dir))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_equal_one_process_with_twice_the_batch(tuples, tmp_path):
    """W processes with batch B average to the gradients of one process with batch W·B.

    With Adam's β1 = 0 the first moment after a step is that step's gradient, so the checkpoint
    holds the (averaged) gradients of step 2: D's must match one process with twice the batch to
    float precision. (Parameters are a weak check: Adam moves each by about ±lr, whatever the
    gradient's size.)
    """
    import torch.multiprocessing as mp

    single = train(_options(tuples, tmp_path / "one", steps=2, batch=4, checkpoint_every=2))
    options = _options(tuples, tmp_path / "two", steps=2, batch=2, checkpoint_every=2)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, port, options.to_record(), queue)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    run = Path(queue.get(timeout=5))
    one, two = _state(single.run_dir), _state(run)
    assert two["cursor"] == one["cursor"] == 2 * 4
    grads_one = [s["exp_avg"] for s in one["opt_D"]["state"].values()]
    grads_two = [s["exp_avg"] for s in two["opt_D"]["state"].values()]
    scale = max(float(g.abs().max()) for g in grads_one)
    for a, b in zip(grads_one, grads_two, strict=True):
        assert torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale)
    # one process with rank 0's share of the batch alone (same weights and noise) does not match
    other = train(_options(tuples, tmp_path / "other", steps=2, batch=2, checkpoint_every=2))
    grads_other = [s["exp_avg"] for s in _state(other.run_dir)["opt_D"]["state"].values()]
    assert not all(torch.allclose(a, b, rtol=1e-3, atol=1e-5 * scale) for a, b in zip(grads_one, grads_other, strict=True))


def _nan_worker(rank: int, world: int, port: int, options_record: dict, queue) -> None:
    """Train with rank 1's reported loss not finite from step 2 on; report how training ended."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from pastenet.train import options_from_record
    from pastenet.train.step import GanStep

    real = GanStep.__call__

    def step(self, batch, s):
        terms = real(self, batch, s)
        if rank == 1 and s >= 2:
            terms["l1"] = terms["l1"] * float("nan")
        return terms

    GanStep.__call__ = step
    try:
        train(options_from_record(options_record))
        queue.put((rank, "finished"))
    except FloatingPointError as e:
        queue.put((rank, str(e).split(":")[0]))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_a_loss_not_finite_on_one_process_stops_every_process(tuples, tmp_path):
    import torch.multiprocessing as mp

    options = _options(tuples, tmp_path, steps=8, batch=2, log_every=2, checkpoint_every=100, sample_every=100)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_nan_worker, args=(r, 2, port, options.to_record(), queue)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        if p.is_alive():  # a process left waiting for the other: the bug this guards against
            p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(queue.get(timeout=5) for _ in procs) == [(0, "step 4"), (1, "step 4")]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_channels_last(tuples, tmp_path):
    result = train(_options(tuples, tmp_path, device="cuda", steps=4, amp="auto", channels_last="auto"))
    assert result.step == 4 and np.isfinite(result.stats["l1"])
    resumed = train(resume=result.run_dir, changes={"steps": 6})
    assert resumed.step == 6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_stream_colormap_prior_bf16_resumes(tmp_path):
    """The zoo recipe's path on CUDA: streamed tuples with the Poisson prior, the affine head in bf16, channels_last, EMA."""
    options = TrainOptions(
        stream=True, dataset="sample", preset="colormap", steps=3, batch=2, device="cuda", workers=1, out=str(tmp_path),
        log_every=1, sample_every=3, checkpoint_every=3, grid_size=2, progress=False, alpha=0.0, recon="mask", border_weight=2.0,
        color_mix="0:1,1:1", geometric_mix="0:1,1:1", resolution=64, truth="colours", prior="poisson", tone=0.5, ema_kimg=0.01,
        amp="auto", channels_last="auto",
    ).replace(model=_colormap64())
    result = train(options)
    assert result.step == 3 and all(np.isfinite(row["l1"]) for row in _stats(result.run_dir))
    resumed = train(resume=result.run_dir, changes={"steps": 5})
    assert resumed.step == 5
    from pastenet.paste import load_generator

    assert load_generator(result.run_dir, device="cuda").config.prior == "poisson"


@pytest.mark.slow
def test_compiled_colormap_generator_trains(tuples, tmp_path):
    """``--compile``: the colour-map G under torch.compile (static shapes, Inductor's C++ backend here) trains."""
    result = train(_options(tuples, tmp_path, preset="colormap", alpha=0.0, recon="mask", model=_colormap64(), compile=True, steps=2,
                            batch=3, sample_every=2, checkpoint_every=2))
    assert result.step == 2 and all(np.isfinite(row["l1"]) for row in _stats(result.run_dir))


def test_training_speed_benchmark_runs(monkeypatch):
    """benchmarks/training_speed.py: one timed step and the FLOP count of the tiny preset."""
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.syspath_prepend(str(repo))
    from benchmarks import training_speed

    row = training_speed.measure("tiny", 2, torch.device("cpu"), steps=1, warmup=1, repeats=1, amp=False, channels_last=False, compile_g=False)
    assert row["it_s"] > 0 and row["G_params"] == 288395
    flops = training_speed.count_flops("tiny", torch.device("cpu"))
    assert 1e9 < flops < 1e11  # about 1.6 GFLOP per sample at 128x128


def _colormap64() -> dict:
    from pastenet.config import preset

    return preset("colormap", resolution=64, local_window=32, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32)).to_record()


def test_reconstruction_only_colormap_resumes_exactly(tuples, tmp_path):
    # alpha = 0 (beyond the paper): D is never run or updated, G's update is still exact on resume.
    changes = dict(preset="colormap", alpha=0.0, recon="mask", border_weight=2.0, beta1=0.9, model=_colormap64())
    straight = train(_options(tuples, tmp_path / "a", steps=6, checkpoint_every=3, **changes))
    first = train(_options(tuples, tmp_path / "b", steps=3, checkpoint_every=3, **changes))
    resumed = train(resume=first.run_dir, changes={"steps": 6})
    wa, wb = _weights(straight.run_dir), _weights(resumed.run_dir)
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    d0 = _weights(straight.run_dir, 3)
    assert all(torch.equal(wa[k], d0[k]) for k in wa if k.startswith("D."))  # D untouched
    assert not all(torch.equal(wa[k], d0[k]) for k in wa if k.startswith("G."))
    assert set(_stats(straight.run_dir)[-1]) == {"step", "l1", "loss_g"}
    resolved = train(_options(tuples, tmp_path / "c", preset="colormap", alpha=0.0), dry_run=True).options
    assert resolved.model["work_side"] == SIZE and resolved.model["output"] == "affine"  # the data's pixel scale


def test_stream_with_strength_mixtures_and_two_datasets(tmp_path):
    options = TrainOptions(
        stream=True, dataset="sample,sample", preset="colormap", steps=2, batch=2, device="cpu", workers=0, out=str(tmp_path),
        log_every=1, sample_every=2, checkpoint_every=2, grid_size=2, progress=False, alpha=0.0,
        color_mix="0:1,1:1", geometric_mix="0.5", resolution=64, truth="colours", prior="poisson", tone=0.5,
    )
    options = options.replace(model=_colormap64())
    result = train(options)
    assert result.step == 2 and result.run_dir.name.endswith("stream-sample-sample")
    import hashlib

    import pastegen
    from pastegen.components import strength, tone

    spec = pastegen.preset("sample", height=64, width=64, strength=strength.strength_spec("0:1,1:1", "0.5"), tone=tone.ToneSpec(probability=0.5))
    recorded = json.loads((result.run_dir / "data.json").read_text())["spec_sha256"]
    assert recorded == hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()  # the streamed spec draws tone changes
    from pastenet.paste import load_generator

    assert load_generator(result.run_dir, device="cpu").config.prior == "poisson"  # recorded for paste
    with pytest.raises(ConfigError):
        TrainOptions(stream=True, dataset="sample", color_mix="2:1")
    with pytest.raises(ConfigError):
        TrainOptions(data="x.h5", color_mix="0:1")  # a file's tuples are fixed: use pastegen make
    with pytest.raises(ConfigError, match="tone"):
        TrainOptions(data="x.h5", tone=0.3)
    with pytest.raises(ConfigError):
        TrainOptions(stream=True, dataset="sample", tone=1.5)
    with pytest.raises(ConfigError):
        TrainOptions(data="x.h5", border_weight=1.0)  # needs recon mask
    with pytest.raises(ConfigError, match="needs --stream"):
        TrainOptions(data="x.h5", truth="colours")  # T_geometric(I) is rendered beside streamed tuples
    with pytest.raises(ConfigError, match="truth must be"):
        TrainOptions(stream=True, dataset="sample", truth="photo")
    with pytest.raises(ConfigError, match="needs --stream"):
        TrainOptions(data="x.h5", preset="colormap", prior="poisson")
    with pytest.raises(ConfigError, match="colour-map preset"):
        TrainOptions(stream=True, dataset="sample", preset="tiny", prior="poisson")


def _exported_colormap64(tmp_path, name: str):
    """A 2-step --alpha 0 colour-map run at 64 px, its options and its G exported to a zoo file."""
    from pastenet.zoo.export import export_model

    options = TrainOptions(
        stream=True, dataset="sample", preset="colormap", steps=2, batch=2, device="cpu", workers=0, out=str(tmp_path / "runs"),
        log_every=1, sample_every=2, checkpoint_every=2, grid_size=2, progress=False, alpha=0.0, resolution=64,
        truth="colours", prior="poisson", recon="mask", model=_colormap64(),
    )  # fmt: skip
    run = train(options)
    entry = export_model(run.run_dir, name, to=tmp_path / "zoo", golden=False)
    return options, run, tmp_path / "zoo" / "weights" / entry.file


def _assert_g_starts_from(run_dir, tuned_dir) -> None:
    """``tuned_dir``'s G equals ``run_dir``'s exported (averaged) G."""
    exported, after = _weights(run_dir), _weights(tuned_dir)
    for key in (k for k in after if k.startswith("G.")):
        source = exported.get("G_ema" + key[1:], exported[key])
        assert torch.allclose(source, after[key], atol=1e-6), key


def test_a_reconstruction_fine_tune_starts_from_an_exported_g(tmp_path):
    """--init-from a zoo model's weights (G alone): an --alpha 0 run loads them; a GAN run, which needs D, refuses."""
    options, first, weights = _exported_colormap64(tmp_path, "init-test")
    tuned = train(options.replace(init_from=str(weights), steps=1, lr_g=1e-12))
    assert tuned.step == 1
    _assert_g_starts_from(first.run_dir, tuned.run_dir)
    with pytest.raises(CheckpointError, match="no D"):
        train(options.replace(init_from=str(weights), steps=1, alpha=1e-4))


def test_a_reconstruction_run_starts_from_a_lower_resolution_runs_g(tmp_path):
    """Progressive training: a 64-px run's exported G starts a 128-px --alpha 0 run (whose D starts afresh)."""
    options, low, weights = _exported_colormap64(tmp_path, "low")
    high = train(options.replace(resolution=128, model=None, init_from=str(weights), steps=1, lr_g=1e-12, out=str(tmp_path / "high")))
    assert high.options.model["resolution"] == 128 and high.step == 1
    _assert_g_starts_from(low.run_dir, high.run_dir)
    with pytest.raises(CheckpointError, match="trained at resolution 64, this run at 128"):
        train(options.replace(resolution=128, model=None, init_from=str(low.run_dir), steps=1, alpha=1e-4, out=str(tmp_path / "gan")))


@pytest.mark.parametrize("alpha", [0.0, 1e-4])
def test_the_reconstruction_compares_y_with_the_batch_truth(alpha):
    """--truth colours: L1 against batch["truth"] (T_geometric(I) inside M), not I; D still sees I."""
    from pastenet.config import preset
    from pastenet.losses import masked_l1
    from pastenet.models import Discriminator, Generator, predict
    from pastenet.train.distributed import World
    from pastenet.train.networks import gan_step_kwargs
    from pastenet.train.step import GanStep

    torch.manual_seed(0)
    config = preset("colormap", resolution=64, local_window=32, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32))
    G, D = Generator(config), Discriminator(config)
    I = torch.rand(2, 3, 64, 64) * 2 - 1
    M = torch.zeros(2, 1, 64, 64)
    M[:, :, 16:40, 20:44] = 1
    comp = torch.where(M > 0, (I * 0.5 + 0.3).clamp(-1, 1), I)
    truth = torch.where(M > 0, I.roll(3, dims=-1), I)
    batch = {"I": I, "composite": comp, "M": M, "X": torch.cat([comp, M], 1), "truth": truth}
    options = TrainOptions(stream=True, dataset="sample", preset="colormap", alpha=alpha, recon="mask", truth="colours")
    with torch.no_grad():
        Y = predict(G, comp, M)
    terms = GanStep(G, D, config, torch.device("cpu"), World(), **gan_step_kwargs(options, World()))(batch, 0)
    assert terms["l1"].item() == pytest.approx(masked_l1(Y, truth, M).item(), rel=1e-5)
    assert abs(masked_l1(Y, I, M).item() - terms["l1"].item()) > 1e-3


def test_a_compiled_generator_is_used_even_when_falsy():
    # torch.compile's wrapper raises on len() and an empty Sequential is falsy: neither may be
    # mistaken for "no compiled G".
    from pastenet.config import preset
    from pastenet.models import Discriminator, Generator
    from pastenet.train.distributed import World
    from pastenet.train.networks import gan_step_kwargs
    from pastenet.train.step import GanStep

    config = preset("colormap", resolution=64, local_window=32, d_channels=(8, 16, 32, 64), d_local_channels=(8, 16, 32))
    G, D = Generator(config), Discriminator(config)
    stand_in = torch.nn.Sequential()
    options = TrainOptions(data="-", preset="colormap")
    step = GanStep(G, D, config, torch.device("cpu"), World(), compiled_G=stand_in, **gan_step_kwargs(options, World()))
    assert step.G_run is stand_in



def test_ema_of_g_resumes_exactly_and_is_what_paste_loads(tuples, tmp_path):
    """--ema-kimg: G_ema = β·G_ema + (1 − β)·G after every G step, saved, resumed exactly, loaded by paste."""
    from pastenet.checkpoint import load_generator_weights, module_names
    from pastenet.paste import load_generator

    changes = dict(preset="colormap", alpha=0.0, recon="mask", beta1=0.9, model=_colormap64(), ema_kimg=0.01)
    straight = train(_options(tuples, tmp_path / "a", steps=6, checkpoint_every=1, **changes))
    first = train(_options(tuples, tmp_path / "b", steps=3, checkpoint_every=3, **changes))
    resumed = train(resume=first.run_dir, changes={"steps": 6})
    wa, wb = _weights(straight.run_dir), _weights(resumed.run_dir)
    assert wa.keys() == wb.keys() and module_names(straight.run_dir) == {"G", "D", "G_ema"}
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key
    beta = 0.5 ** (3 / 10)  # batch 3, half-life 10 samples
    w5 = _weights(straight.run_dir, 5)
    g_keys = [k for k in wa if k.startswith("G.")]
    for k in g_keys:
        e = "G_ema" + k[1:]
        torch.testing.assert_close(wa[e], w5[e] * beta + wa[k] * (1 - beta), rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(wa["G_ema" + k[1:]], wa[k]) for k in g_keys)  # an average, not a copy
    sd, _ = load_generator_weights(straight.run_dir)  # G_ema by default
    assert all(torch.equal(sd[k[2:]], wa["G_ema" + k[1:]]) for k in g_keys)
    assert all(torch.equal(load_generator_weights(straight.run_dir, name="G")[0][k[2:]], wa[k]) for k in g_keys)
    params = dict(load_generator(straight.run_dir, device="cpu").generator.named_parameters())
    assert all(torch.equal(params[k[2:]], wa["G_ema" + k[1:]]) for k in g_keys if k[2:] in params)
    with pytest.raises(ConfigError, match="ema_kimg"):
        TrainOptions(data="x.h5", ema_kimg=-1)


# -- resume safety: the data, the checkpoint named, the run folder's lock, full disks, signals ----------


def _make_tuples(path: Path, *, seed: int = 3, count: int = 24) -> Path:
    spec = pastegen.preset("sample", height=SIZE, width=SIZE)
    pastegen.make(path, pastegen.sample_image_paths(), spec, count=count, seed=seed, overwrite=True)
    return path


def test_resume_refuses_a_tuple_file_regenerated_with_other_settings(tuples, tmp_path):
    import shutil

    data = tmp_path / "data" / "tuples.h5"
    data.parent.mkdir()
    shutil.copy(tuples, data)
    run = train(_options(data, tmp_path / "runs", steps=3)).run_dir
    record = json.loads((run / "data.json").read_text())
    assert record["path"] == str(data) and record["seed"] == 3 and record["count"] == 24 and record["kind"] == "file"
    _make_tuples(data, seed=4)  # the same path, another seed
    with pytest.raises(ResumeError, match=r"training data differs .*seed was 3, now 4") as e:
        train(resume=run, changes={"steps": 6})
    assert "\n" not in str(e.value) and run.name in str(e.value)
    _make_tuples(data, seed=3, count=12)  # the same path, another count
    with pytest.raises(ResumeError, match=r"count was 24, now 12"):
        train(resume=run, changes={"steps": 6})
    _make_tuples(data, seed=3, count=24)  # the same settings again: the same data, resumed
    assert train(resume=run, changes={"steps": 4}).step == 4


def test_resume_refuses_a_relative_data_path_resolved_from_another_folder(tuples, tmp_path, monkeypatch):
    import shutil

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(tuples, tmp_path / name / "tuples.h5")  # the same bytes: only the path differs
    monkeypatch.chdir(tmp_path / "a")
    run = train(_options(Path("tuples.h5"), tmp_path / "runs", steps=3)).run_dir
    monkeypatch.chdir(tmp_path / "b")
    with pytest.raises(ResumeError, match=r"path was '.*/a/tuples.h5', now '.*/b/tuples.h5'.*folder the run was started in"):
        train(resume=run, changes={"steps": 6})
    monkeypatch.chdir(tmp_path / "a")
    assert train(resume=run, changes={"steps": 4}).step == 4


def test_a_run_without_a_data_record_resumes_with_a_warning_and_is_recorded(tuples, tmp_path):
    run = train(_options(tuples, tmp_path, steps=3)).run_dir
    (run / "data.json").unlink()  # a run folder of an older pastenet
    with pytest.warns(UserWarning, match="no record of its training data"):
        assert train(resume=run, changes={"steps": 4}).step == 4
    assert json.loads((run / "data.json").read_text())["path"] == str(tuples)


def test_resume_of_a_stream_refuses_other_photos(tmp_path):
    import shutil

    photos = tmp_path / "photos"
    photos.mkdir()
    for p in pastegen.sample_image_paths():
        shutil.copy(p, photos / Path(p).name)
    options = TrainOptions(
        stream=True, images=str(photos), preset="tiny", steps=1, batch=2, device="cpu", workers=0, out=str(tmp_path / "runs"),
        log_every=1, sample_every=1, checkpoint_every=1, grid_size=2, progress=False,
    )
    run = train(options.replace(model={**_tiny32(), "resolution": 32})).run_dir
    record = json.loads((run / "data.json").read_text())
    assert record["kind"] == "stream" and record["sources"] == len(pastegen.sample_image_paths())
    sorted(photos.iterdir())[0].unlink()
    with pytest.raises(ResumeError, match=r"sources was \d+, now \d+; sources_sha256 was"):
        train(resume=run, changes={"steps": 2})


def test_resume_from_a_named_checkpoint_refuses_while_newer_ones_exist(tuples, tmp_path):
    straight = train(_options(tuples, tmp_path / "a", steps=6, checkpoint_every=3))
    run = train(_options(tuples, tmp_path / "b", steps=6, checkpoint_every=3)).run_dir
    named = run / "checkpoints" / "step-00000003"
    with pytest.raises(ResumeError, match=r"newer checkpoints \(step-00000006\).*move them out"):
        train(resume=named, changes={"steps": 9})
    assert [p.name for p in list_checkpoints(run)] == ["step-00000003", "step-00000006"]  # nothing deleted
    with pytest.raises(ResumeError, match="no complete checkpoint step-00000004"):
        train(resume=run / "checkpoints" / "step-00000004", changes={"steps": 9})
    with pytest.raises(ResumeError, match="not a checkpoint of"):
        train(resume=run / "samples", changes={"steps": 9})
    (run / "checkpoints" / "step-00000006").rename(tmp_path / "aside")  # moved aside: step 3 is the newest
    resumed = train(resume=named, changes={"steps": 6})
    assert resumed.step == 6 and [p.name for p in list_checkpoints(run)] == ["step-00000003", "step-00000006"]
    wa, wb = _weights(straight.run_dir), _weights(run)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_run_in_use_by_another_process_is_refused(tuples, tmp_path):
    from pastenet.train.rundir import lock_run, run_in_use

    run = train(_options(tuples, tmp_path, steps=3)).run_dir
    assert run_in_use(run) is None
    with lock_run(run):  # what a process training in the folder holds (a second open file: a second holder)
        message = run_in_use(run)
        assert message is not None and "in use by another process" in message
        with pytest.raises(ResumeError, match=rf"{run.name} is in use by another process \(pid {os.getpid()} on .*\)") as e:
            train(resume=run, changes={"steps": 6})
        assert "interrupted" not in str(e.value) and "\n" not in str(e.value)
        before = (run / "stats.jsonl").read_text()
    assert (run / "stats.jsonl").read_text() == before  # the refused resume touched nothing
    assert train(resume=run, changes={"steps": 4}).step == 4


def _cli(*args) -> click.testing.Result:
    from click.testing import CliRunner

    from pastenet.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _failing_second_call(real, error: BaseException):
    calls = {"n": 0}

    def fn(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise error
        return real(*args, **kwargs)

    return fn


@pytest.mark.parametrize("what", ["torch.save", "safetensors", "sample png"])
def test_a_full_disk_is_one_error_line_and_keeps_the_last_checkpoint(tuples, tmp_path, monkeypatch, what):
    import errno

    import safetensors.torch
    from safetensors import SafetensorError

    import pastenet.train.loop as loop
    from pastenet.checkpoint import load_checkpoint

    if what == "torch.save":  # what torch.save raises when the disk fills up
        failure = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534")
        monkeypatch.setattr(torch, "save", _failing_second_call(torch.save, failure))
    elif what == "safetensors":
        error = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        monkeypatch.setattr(safetensors.torch, "save_file", _failing_second_call(safetensors.torch.save_file, error))
    else:
        error = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.png"))
        monkeypatch.setattr(loop, "save_png", _failing_second_call(loop.save_png, error))
    result = _cli("train", tuples, "--preset", "tiny", "--steps", 6, "--batch", 2, "--device", "cpu", "--workers", 0,
                  "--out", tmp_path, "--checkpoint-every", 3, "--sample-every", 3, "-q")
    monkeypatch.undo()
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), result.output
    (run,) = tmp_path.glob("0*")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000003"]  # no half-written one
    if what == "sample png":
        assert "No space left on device" in lines[0] and "checkpoint is intact" in lines[0]
    else:
        assert "MiB free on that disk" in lines[0] and f"continue from step-00000003 with: pastenet train --resume {run}" in lines[0]
    from pastenet.config import model_from_record
    from pastenet.models import Discriminator, Generator

    config = model_from_record(json.loads((run / "options.json").read_text())["model"])
    assert load_checkpoint(run, modules={"G": Generator(config), "D": Discriminator(config)})["step"] == 3


def _wait_for(predicate, proc, timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the training process ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out: {proc.communicate()}")
        time.sleep(0.2)


@pytest.mark.parametrize("sig, status, twice", [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, False), (signal.SIGINT, 130, True)])
def test_an_interrupted_cli_run_exits_non_zero_and_prints_how_to_resume(tuples, tmp_path, sig, status, twice):
    """SIGINT / SIGTERM: a checkpoint, exit status 128 + the signal, the resume command (also with -q).

    A second SIGINT stops at once (no checkpoint now), also with status 130 and the command.
    """
    import subprocess
    import sys
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    args = [sys.executable, "-m", "pastenet.cli", "train", str(tuples), "--preset", "tiny", "--steps", "100000", "--batch", "2",
            "--device", "cpu", "--workers", "0", "--out", str(tmp_path), "--checkpoint-every", "1", "--sample-every", "100000", "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_for(lambda: any(tmp_path.glob("0*/checkpoints/step-*/meta.json")), proc, timeout=240)
        (run,) = tmp_path.glob("0*")
        if sig == signal.SIGINT and not twice:  # meanwhile, a second process may not resume the run it is training
            def never(step, total, stats):
                raise AssertionError("resumed a run another process is training")

            with pytest.raises(ResumeError, match=rf"{run.name} is in use by another process \(pid {proc.pid} "):
                train(resume=run, changes={"steps": 200000}, progress=never)
        proc.send_signal(sig)
        if twice:
            time.sleep(0.05)
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == status, err
    assert out == ""
    assert f"pastenet train --resume {run}" in err, err
    assert f"Continue with: pastenet train --resume {run}" in err or twice, err
    assert list_checkpoints(run)


def test_a_second_ctrl_c_handled_just_after_an_interrupted_run_returned_still_exits_130(tmp_path, monkeypatch):
    """A signal is handled at the interpreter's next check, which can fall just after ``train`` returned.

    That second Ctrl-C (the checkpoint is already saved) must not become click's "Aborted!" with
    status 1: the run reports its checkpoint and exits 130, and later Ctrl-Cs are ignored.
    """
    import pastenet.train as train_module
    from pastenet.train.loop import TrainResult

    class LateInterrupt(TrainResult):
        """An interrupted result whose first read raises KeyboardInterrupt (the late second Ctrl-C)."""

        raised = False

        @property
        def interrupted(self) -> bool:  # type: ignore[override]
            if not LateInterrupt.raised:
                LateInterrupt.raised = True
                raise KeyboardInterrupt
            return True

        @interrupted.setter
        def interrupted(self, value: bool) -> None:
            pass

    run = tmp_path / "00000-tiny-tuples"
    late = LateInterrupt(run_dir=run, options=TrainOptions(data="x.h5"), step=7, signal=int(signal.SIGINT))
    monkeypatch.setattr(train_module, "train", lambda *args, **kwargs: late)
    before = signal.getsignal(signal.SIGINT)
    try:
        result = _cli("train", tmp_path / "tuples.h5", "--device", "cpu", "-q")
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    assert LateInterrupt.raised
    assert result.exit_code == 130, result.output
    assert f"interrupted at step 7; checkpoint saved. Continue with: pastenet train --resume {run}" in result.output
    assert "Aborted" not in result.output


def test_learning_rate_schedule_is_constant_then_a_half_cosine_to_zero():
    from pastenet.train.step import LearningRateSchedule

    assert [LearningRateSchedule(10)(s) for s in range(10)] == [1.0] * 10  # the paper's constant rates
    ramp = LearningRateSchedule(10, 0.4)
    assert ramp.start == 6
    factors = [ramp(s) for s in range(10)]
    assert factors[:7] == [1.0] * 7  # the ramp's first step still has the full rate
    assert factors[7:] == pytest.approx([0.5 * (1 + math.cos(math.pi * t / 4)) for t in (1, 2, 3)])
    assert all(a > b for a, b in zip(factors[6:], factors[7:], strict=False))
    assert LearningRateSchedule(10, 1.0)(0) == 1.0 and LearningRateSchedule(10, 1.0)(9) < 0.03
    with pytest.raises(ConfigError):
        TrainOptions(data="x.h5", lr_rampdown=1.5)


def test_a_ramp_down_reaches_the_optimisers_and_a_resume_before_it_equals_a_fresh_run(tuples, tmp_path):
    # a run of 3 steps at constant rates, resumed to 6 steps with the last half ramped down, equals a fresh
    # 6-step run with that ramp; and differs from a 6-step run at constant rates
    ramped = train(_options(tuples, tmp_path / "a", steps=6, checkpoint_every=3, lr_rampdown=0.5))
    constant = train(_options(tuples, tmp_path / "c", steps=6, checkpoint_every=3))
    first = train(_options(tuples, tmp_path / "b", steps=3, checkpoint_every=3))
    resumed = train(resume=first.run_dir, changes={"steps": 6, "lr_rampdown": 0.5})
    wa, wb, wc = _weights(ramped.run_dir), _weights(resumed.run_dir), _weights(constant.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    assert json.loads((resumed.run_dir / "options.json").read_text())["lr_rampdown"] == 0.5
    # the rates the optimisers used at the last step: base x the ramp's factor
    assert _state(ramped.run_dir)["opt_G"]["param_groups"][0]["lr"] == pytest.approx(2e-4 * 0.5 * (1 + math.cos(math.pi * 2 / 3)))


def test_a_resume_that_would_change_a_ramp_already_begun_is_refused(tuples, tmp_path):
    run = train(_options(tuples, tmp_path, steps=4, checkpoint_every=4, lr_rampdown=0.5)).run_dir  # ramp from step 2
    with pytest.raises(ResumeError, match="ramp down from step 2"):
        train(resume=run, changes={"steps": 8})
    with pytest.raises(ResumeError, match="ramp down"):
        train(resume=run, changes={"steps": 8, "lr_rampdown": 0.75})
    run = train(_options(tuples, tmp_path / "constant", steps=4, checkpoint_every=4)).run_dir
    with pytest.raises(ResumeError, match="ramp down from step 2"):
        train(resume=run, changes={"steps": 8, "lr_rampdown": 0.75})  # its ramp would start at step 2, before step 4
    assert train(resume=run, changes={"steps": 8, "lr_rampdown": 0.5}).step == 8  # from step 4 on: allowed
