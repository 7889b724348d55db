"""Data echoing (``--echo K``): each fresh tuple serves K steps, the batches depend only on the step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import pastegen
from pastenet.data import TupleFileDataset, make_loader
from pastenet.errors import ConfigError, ResumeError
from pastenet.train import TrainOptions, train
from pastenet.train.echo import ECHO_LAG, EchoBatches, first_fresh_step, flip_item

pytestmark = pytest.mark.usefixtures("torch_one_thread")

SIZE = 64


def _group(step: int, fresh: int) -> dict[str, torch.Tensor]:
    """A fake fresh group of step ``step``: distinct images, its tuples' indices."""
    index = torch.arange(step * fresh, (step + 1) * fresh)
    x = index.view(-1, 1, 1, 1).float() * 100 + torch.arange(8.0).view(1, 1, 1, 8)
    return {"X": x.expand(fresh, 3, 2, 8).clone(), "M": (x[:, :, :, :] > 0).expand(fresh, 1, 2, 8).clone(), "index": index}


def _fresh(first: int, fresh: int):
    step = first
    while True:
        yield _group(step, fresh)
        step += 1


def test_flip_mirrors_images_only():
    g = _group(3, 2)
    f = flip_item(g)
    assert torch.equal(f["X"], g["X"].flip(-1)) and torch.equal(f["M"], g["M"].flip(-1))
    assert torch.equal(f["index"], g["index"])


@pytest.mark.parametrize("echo", [2, 3, 4])
def test_each_step_takes_its_fresh_group_and_earlier_ones_a_lag_apart(echo):
    fresh, steps = 2, 4 * ECHO_LAG + 5
    batches = EchoBatches(_fresh(0, fresh), echo=echo, start=0)
    for s in range(steps):
        b = next(batches)
        assert b["X"].shape[0] == echo * fresh
        for e in range(echo):
            source = s - e * ECHO_LAG if s >= e * ECHO_LAG else s
            want = _group(source, fresh)
            if e % 2:
                want = flip_item(want)
            part = {k: v[e * fresh : (e + 1) * fresh] for k, v in b.items()}
            assert all(torch.equal(part[k], want[k]) for k in want), (s, e)


def test_after_the_first_steps_every_tuple_is_used_echo_times_never_twice_in_a_batch():
    echo, fresh, steps = 3, 2, 6 * ECHO_LAG
    batches = EchoBatches(_fresh(0, fresh), echo=echo, start=0)
    uses: dict[int, int] = {}
    for s in range(steps):
        index = next(batches)["index"].tolist()
        if s >= (echo - 1) * ECHO_LAG:
            assert len(set(index)) == len(index)
        for i in index:
            uses[i] = uses.get(i, 0) + 1
    settled = [i for i in range((echo - 1) * ECHO_LAG * fresh, (steps - (echo - 1) * ECHO_LAG) * fresh)]
    assert settled and all(uses[i] == echo for i in settled)


@pytest.mark.parametrize("start", [1, ECHO_LAG - 1, ECHO_LAG, 2 * ECHO_LAG + 3, 5 * ECHO_LAG])
def test_starting_at_a_step_continues_as_an_uninterrupted_run(start):
    echo, fresh = 3, 2
    straight = EchoBatches(_fresh(0, fresh), echo=echo, start=0)
    expected = [next(straight) for _ in range(start + ECHO_LAG + 2)][start:]
    first = first_fresh_step(start, echo)
    assert first == max(0, start - (echo - 1) * ECHO_LAG)
    resumed = EchoBatches(_fresh(first, fresh), echo=echo, start=start)
    for want in expected:
        got = next(resumed)
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_echo_one_passes_the_fresh_batches_through_and_bad_values_are_refused():
    batches = EchoBatches(_fresh(0, 3), echo=1, start=0)
    assert torch.equal(next(batches)["index"], torch.arange(3))
    with pytest.raises(ValueError):
        EchoBatches(_fresh(0, 3), echo=0, start=0)


def test_close_reaches_the_fresh_loader():
    closed = []

    class Fresh:
        def __next__(self):
            return _group(0, 1)

        def close(self):
            closed.append(True)

    with EchoBatches(Fresh(), echo=2, start=0) as batches:
        next(batches)
    assert closed == [True]


# --- in the trainer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuples(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("echo-data") / "tuples.h5"
    spec = pastegen.preset("sample", height=SIZE, width=SIZE)
    pastegen.make(path, pastegen.sample_image_paths(), spec, count=24, seed=3)
    return path


def _options(data: Path, out: Path, **changes) -> TrainOptions:
    base = dict(
        data=str(data), preset="tiny", steps=6, batch=4, echo=2, device="cpu", workers=0, out=str(out),
        log_every=2, sample_every=100, checkpoint_every=3, keep=5, grid_size=2, progress=False,
    )
    base.update(changes)
    return TrainOptions(**base)


def test_the_echo_must_divide_the_batch_and_is_recorded(tuples, tmp_path):
    with pytest.raises(ConfigError, match="must divide the batch"):
        _options(tuples, tmp_path, batch=5, echo=2)
    assert _options(tuples, tmp_path, batch=6, echo=3).fresh_batch == 2
    assert TrainOptions(data="x.h5").echo == 1  # the paper's: every tuple once


def test_the_loader_reads_fresh_positions_of_the_data_order(tuples, tmp_path):
    from pastenet.train.datasource import build_data
    from pastenet.train.distributed import World

    options = _options(tuples, tmp_path, batch=4, echo=2)
    data = build_data(options, World())
    reference = make_loader(TupleFileDataset(tuples), batch=2, seed=options.seed, cursor=0)
    fresh = [next(reference)["index"] for _ in range(ECHO_LAG + 3)]
    with data.loader(options, World(), torch.device("cpu"), start=ECHO_LAG + 2) as loader:
        b = next(loader)
    assert torch.equal(b["index"], torch.cat([fresh[ECHO_LAG + 2], fresh[2]]))
    reference.close()


def test_a_run_with_echoes_resumes_exactly_past_the_lag(tuples, tmp_path):
    steps, stop = ECHO_LAG + 8, ECHO_LAG + 2
    straight = train(_options(tuples, tmp_path / "a", steps=steps, checkpoint_every=stop))
    first = train(_options(tuples, tmp_path / "b", steps=stop, checkpoint_every=stop))
    resumed = train(resume=first.run_dir, changes={"steps": steps})
    assert resumed.step == steps
    from safetensors.torch import load_file

    from pastenet.checkpoint import latest_checkpoint

    wa = load_file(str(latest_checkpoint(straight.run_dir / "checkpoints") / "weights.safetensors"))
    wb = load_file(str(latest_checkpoint(resumed.run_dir / "checkpoints") / "weights.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    state = torch.load(latest_checkpoint(resumed.run_dir / "checkpoints") / "state.pt", weights_only=True)["state"]
    assert state["cursor"] == steps * 2  # fresh positions: steps x batch / echo
    assert json.loads((resumed.run_dir / "options.json").read_text())["echo"] == 2
    # and echoes change the training: the same run without them differs
    plain = train(_options(tuples, tmp_path / "c", steps=steps, checkpoint_every=stop, echo=1))
    wc = load_file(str(latest_checkpoint(plain.run_dir / "checkpoints") / "weights.safetensors"))
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_a_resume_may_not_change_the_echo(tuples, tmp_path):
    first = train(_options(tuples, tmp_path / "b", steps=3, checkpoint_every=3))
    with pytest.raises((ResumeError, ConfigError), match="echo"):
        train(resume=first.run_dir, changes={"steps": 6, "echo": 1})
