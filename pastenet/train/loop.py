"""The training loop: :func:`train` (one D update and one G update per step, paper section 3.3).

Each step ``s`` (0-based) of a job of ``W`` processes with ``B`` samples each:

1. reads the global batch positions ``[s·B·W, (s+1)·B·W)`` of the data order (this process's
   slice ``r·B .. (r+1)·B``; see :mod:`pastenet.data`); with ``--echo K`` (beyond the paper)
   ``B/K`` fresh positions per process and ``K − 1`` groups of earlier steps' tuples
   (:mod:`pastenet.train.echo`);
2. draws the GAN's noise (noise images, gradient-penalty ε) for the *global* batch from a
   ``torch.Generator`` seeded by ``(seed, s)`` and takes this process's slice, so a resumed run
   needs no saved random state and W processes compute what one process with batch W·B would;
3. runs G once: ``Y = X_rgb + G(X)·M`` (the paper's ``(G(X) + T(I))·M + I·(1−M)``);
4. updates D on ``E[D(Y)] − E[D(I)] + λ·GP + γ·E[D(I)²]`` with Y detached;
5. updates G on ``L1(Y, I) − α·E[D(Y)]`` with the updated D.

Gradients and the logged figures are averaged over processes, and a stop (a signal, a
non-finite loss, a checkpoint that cannot be saved) is taken by every process
(:mod:`pastenet.train.distributed`). Resuming from the
checkpoint of step N continues bit-identically on the same device and thread count: N steps,
resume, N steps equal 2N steps.

A resume continues the run's newest checkpoint, or the one named when it is the newest; it
refuses other data than the run's (:func:`data_identity`, recorded in ``data.json``) and a run
another process is training (the run folder's lock, :func:`~pastenet.train.rundir.lock_run`).

:func:`train` is a short sequence of set-up steps, each in the module of its job (the run to
train: :mod:`~pastenet.train.resume`; the process group and device:
:mod:`~pastenet.train.backend`; the data: :mod:`~pastenet.train.datasource`; the model and
networks: :mod:`~pastenet.train.networks`), then :class:`_Loop`, the per-step driver: one
:class:`~pastenet.train.step.GanStep` a step, then what is due (stats, sample grid, checkpoint,
stop).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data import prepare
from ..devices import resolve_device
from .backend import Backend, start_backend, torch_threads, training_threads
from .datasource import TrainingData, build_data, data_description, data_identity
from .distributed import any_rank
from .networks import Networks, build_networks, resolve_model
from .networks import init_from as _init_from  # noqa: F401 - its old name, still importable
from .options import TrainOptions
from .resume import RunPlan, check_run_data, check_schedule, plan_run, restore_state
from .rundir import StatsLog, open_run_dir, save_png
from .signals import StopFlag
from .snapshots import CheckpointWriter, sample_grid, to_uint8_image
from .stats import LossMeter, all_finite
from .step import step_seed

__all__ = ["train", "TrainResult", "data_identity", "resolve_device", "step_seed", "to_uint8_image"]

ProgressFn = Callable[[int, int, Mapping[str, float]], None]


@dataclass
class TrainResult:
    """What :func:`train` did."""

    run_dir: Path | None  # None for a dry run
    options: TrainOptions  # the resolved options
    step: int  # steps completed
    stats: dict[str, float] = field(default_factory=dict)  # the last logged figures
    interrupted: bool = False  # stopped early by SIGINT / SIGTERM (a checkpoint was saved)
    checkpoint: Path | None = None  # the last checkpoint written
    signal: int | None = None  # the signal that stopped it (signal.SIGINT or SIGTERM), when interrupted


def train(
    options: TrainOptions | None = None,
    *,
    resume: str | os.PathLike | None = None,
    changes: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train the copy-paste GAN.

    Parameters
    ----------
    options : TrainOptions, optional
        The run's options (a new run). Not allowed with ``resume``.
    resume : path, optional
        A run folder to continue from its newest checkpoint, with its recorded options and on its
        recorded data; or one of its checkpoints (``RUN/checkpoints/step-N``), which must then be
        the newest: a run continued from an older checkpoint would overwrite the newer ones and
        rotate them away, so they must be moved out of ``RUN/checkpoints`` first (the continued run
        then writes its checkpoints, samples and stats as usual, from step N on).
    changes : mapping, optional
        With ``resume``: options to change; only :data:`~pastenet.train.options.RESUMABLE_CHANGES`
        may differ from the recorded ones (e.g. a larger ``steps``).
    dry_run : bool
        Resolve the options (data resolution, model) and return without training or writing.
    progress : callable, optional
        ``progress(step, steps, stats)`` after every step (on the main process).

    Returns
    -------
    TrainResult
        ``interrupted`` and ``signal`` say whether SIGINT or SIGTERM stopped it (after saving a
        checkpoint of the step it was on).

    Raises
    ------
    ResumeError
        With ``resume``: no usable checkpoint; a checkpoint that is not the run's newest; changed
        options other than :data:`~pastenet.train.options.RESUMABLE_CHANGES`; other data than the
        run's (the message names what differs; a run folder without a data record, written by an
        older pastenet, is resumed with a warning and its data recorded then); or another process
        training in the run folder (it holds the folder's lock, see
        :func:`~pastenet.train.rundir.lock_run`).
    CheckpointError
        A checkpoint that cannot be saved (e.g. a full disk): the previous checkpoints are intact.
    ConfigError, DataError
        Invalid options; unusable training data.
    FloatingPointError
        A logged loss is not finite (on any process: every process stops).

    Notes
    -----
    The run folder is locked (``flock`` on ``RUN/.lock``) from its creation, or from the start of
    a resume, until this function returns; the lock goes with the process however it ends.
    """
    with ExitStack() as locks:
        plan = plan_run(options, resume, changes, dry_run=dry_run, locks=locks)
        world, device = start_backend(plan.options)
        if device.type == "cpu":
            locks.enter_context(torch_threads(training_threads(plan.options)))
        data = build_data(plan.options, world)
        check_run_data(plan, data.identity, warn=world.main and not dry_run)
        config = resolve_model(plan.options, data.resolution, new_run=not plan.resumed)
        options = plan.options.replace(model=config.to_record())
        if dry_run:
            return TrainResult(run_dir=None, options=options, step=0)
        backend = Backend.of(world, device, options)
        nets = build_networks(options, config, backend, fine_tune=not plan.resumed)
        start = restore_state(plan, nets.modules, nets.runner, device=device, world=world, steps=options.steps, fresh_batch=options.fresh_batch)
        check_schedule(plan, start)
        run_dir = _open_run_dir(plan, options, data, start, locks) if world.main else plan.run_dir
        saver = CheckpointWriter(run_dir, nets.modules, nets.runner, options, config, world, device)
        return _Loop(options, backend, nets, data, saver, run_dir, progress).run(start, resumed=plan.resumed)


def _open_run_dir(plan: RunPlan, options: TrainOptions, data: TrainingData, start: int, locks: ExitStack) -> Path:
    """The main process's run folder: the resumed one, or a new one (locked); options and data recorded.

    The data's identity is recorded for a new run, and for a resumed run made before data
    records (:func:`~pastenet.train.resume.check_run_data` warned).
    """
    return open_run_dir(
        plan.run_dir,
        out=options.out,
        description=f"{options.preset}-{data_description(options)}",
        start=start,
        options=options.to_record(),
        data=data.identity if plan.recorded_data is None else None,
        locks=locks,
    )


class _Loop:
    """The per-step driver: one update a step, then what is due (stats, samples, checkpoint, stop).

    Parameters
    ----------
    options : TrainOptions
    backend : Backend
    nets : Networks
    data : TrainingData
    saver : CheckpointWriter
    run_dir : Path or None
        None on the other processes of a new run (only the main one writes).
    progress : callable, optional
        ``progress(step, steps, stats)`` after every step (on the main process).
    """

    def __init__(
        self, options: TrainOptions, backend: Backend, nets: Networks, data: TrainingData, saver: CheckpointWriter,
        run_dir: Path | None, progress: ProgressFn | None,
    ) -> None:  # fmt: skip
        self.options, self.backend, self.nets, self.data, self.saver = options, backend, nets, data, saver
        self.run_dir, self.progress = run_dir, progress
        self.world, self.device = backend.world, backend.device
        self.log: StatsLog | None = None
        self.grid_batch = data.grid_batch()

    def run(self, start: int, *, resumed: bool) -> TrainResult:
        """Train from step ``start`` to ``options.steps``, or until a signal; close the log and loader."""
        result = TrainResult(run_dir=self.run_dir, options=self.options, step=start)
        loader = self.data.loader(self.options, self.world, self.device, start=start)
        if self.world.main and self.run_dir is not None:
            self.log = StatsLog(self.run_dir, purge_step=start if resumed else None)
        meter = LossMeter(start)
        try:
            try:
                with StopFlag() as stop:
                    for s in range(start, self.options.steps):
                        if self._step(loader, s, meter, stop, result):
                            break
            finally:
                if self.log is not None:
                    self.log.close()
                close = getattr(loader, "close", None)
                if close is not None:
                    close()
        except KeyboardInterrupt as e:  # a second SIGINT stops at once (also while closing): the last complete checkpoint stays
            setattr(e, "run_dir", self.run_dir)  # noqa: B010 - for the command's message (an attribute KeyboardInterrupt does not declare)
            raise
        return result

    def _step(self, loader: Iterator[Any], s: int, meter: LossMeter, stop: StopFlag, result: TrainResult) -> bool:
        """Run step ``s`` and what is due after it; whether training stops here (a signal)."""
        o = self.options
        batch = prepare(next(loader), self.device, channels_last=self.backend.channels_last)
        meter.add(self.nets.runner(batch, s))  # tensors: no device sync until a log step
        step = s + 1
        last = step == o.steps
        if step % o.log_every == 0 or last:
            result.stats = self._log(step, meter)
        if self.world.main and self.grid_batch is not None and (step % o.sample_every == 0 or last):
            self._samples(step)
        stop_now = any_rank(stop.set, self.device)
        if step % o.checkpoint_every == 0 or last or stop_now:
            result.checkpoint = self.saver.save(step) or result.checkpoint
        result.step = step
        if self.progress is not None and self.world.main:
            self.progress(step, o.steps, result.stats)
        if stop_now:
            result.interrupted = True
            result.signal = stop.signum if stop.signum is not None else int(signal.SIGINT)
        return stop_now

    def _log(self, step: int, meter: LossMeter) -> dict[str, float]:
        """Write the figures since the last log step; stop every process when one is not finite."""
        stats = meter.read(step, self.options.batch, self.world.size, self.device)
        bad = any_rank(not all_finite(stats), self.device)
        if self.log is not None:
            self.log.write(step, stats)
        if bad:
            raise FloatingPointError(f"step {step}: a loss is not finite ({stats}); lower the learning rates")
        return stats

    def _samples(self, step: int) -> None:
        """Write the sample grid of ``step`` (main process)."""
        assert self.run_dir is not None and self.grid_batch is not None
        image = sample_grid(self.nets.sampler, self.grid_batch, self.device, channels_last=self.backend.channels_last, seed=self.options.seed)
        save_png(self.run_dir / "samples" / f"step-{step:08d}.png", image)
        if self.log is not None:
            self.log.image("samples", step, image)
