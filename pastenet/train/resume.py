"""Which run a :func:`~pastenet.train.train` call trains, with which options, from which checkpoint.

The first set-up step (:func:`plan_run`) turns ``train``'s arguments into a :class:`RunPlan`: a
new run's options, or a resumed run's recorded options (with the changes allowed), its folder
(locked), the checkpoint named and the data record. :func:`check_run_data` compares the data
opened with that record, and :func:`restore_state` loads the checkpoint into the networks and
optimisers once they are built.

A resume continues the run's newest checkpoint, or the one named when it is the newest; it
refuses other data than the run's (:func:`~pastenet.train.datasource.data_identity`, recorded
in ``data.json``) and a run another process is training (the run folder's lock,
:func:`~pastenet.train.rundir.lock_run`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CHECKPOINTS_DIR, META_FILE, checkpoint_step, latest_checkpoint, list_checkpoints, load_checkpoint
from ..errors import ConfigError, ResumeError
from .distributed import World
from .options import RESUMABLE_CHANGES, TrainOptions, options_from_record
from .rundir import DATA_FILE, check_data_record, find_run_dir, lock_run, read_data_record
from .step import LearningRateSchedule

__all__ = ["RunPlan", "plan_run", "check_run_data", "restore_state", "check_schedule"]


@dataclass(frozen=True)
class RunPlan:
    """What a training call continues or starts (:func:`plan_run`)."""

    options: TrainOptions  # the run's options (a resume's: the recorded ones, with the allowed changes)
    resumed: bool = False  # continuing a run folder
    run_dir: Path | None = None  # the run folder continued (a new run's folder is made later)
    checkpoint: Path | None = None  # the checkpoint --resume named; None: the newest
    recorded_data: dict[str, Any] | None = None  # the run's data.json (None: a new run, or one without a record)
    recorded_options: TrainOptions | None = None  # a resume's options as recorded, before the changes


def plan_run(
    options: TrainOptions | None,
    resume: str | os.PathLike | None,
    changes: Mapping[str, Any] | None,
    *,
    dry_run: bool,
    locks: ExitStack,
) -> RunPlan:
    """Resolve :func:`~pastenet.train.train`'s arguments into the run to train.

    Parameters
    ----------
    options : TrainOptions or None
        A new run's options (exactly one of ``options`` and ``resume``).
    resume : path or None
        A run folder, or one of its checkpoints.
    changes : mapping or None
        Options to change (for a resume: only :data:`~pastenet.train.options.RESUMABLE_CHANGES`
        may differ from the recorded ones).
    dry_run : bool
        No lock is taken for a dry run.
    locks : ExitStack
        Holds the resumed run folder's lock (taken first, by the main process) until training ends.

    Returns
    -------
    RunPlan

    Raises
    ------
    ConfigError
        Both or neither of ``options`` and ``resume``.
    ResumeError
        See :func:`pastenet.train.train`.
    """
    if (options is None) == (resume is None):
        raise ConfigError("give the options of a new run, or a run folder to resume, not both")
    if resume is None:
        assert options is not None
        return RunPlan(options=options.replace(**changes) if changes else options)
    run_dir = find_run_dir(resume)
    main_process = int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("RANK", "0") == "0"
    if main_process and not dry_run:
        locks.enter_context(lock_run(run_dir))  # first: a run in use is described as such, nothing else
    named = _named_checkpoint(resume, run_dir)
    if named is not None:
        _refuse_newer_checkpoints(named, run_dir)
    recorded_options = _recorded_options(run_dir)
    options = _resume_options(run_dir, recorded_options, dict(changes or {}))
    if options.model is None:
        raise ResumeError(f"{run_dir}/options.json has no model record; the run folder is damaged")
    recorded = read_data_record(run_dir)
    if recorded is not None and not options.stream:  # before opening it: the path as resolved now
        check_data_record(run_dir, recorded, {"kind": "file", "path": os.path.abspath(str(options.data))}, keys=("kind", "path"))
    return RunPlan(options=options, resumed=True, run_dir=run_dir, checkpoint=named, recorded_data=recorded, recorded_options=recorded_options)


def check_run_data(plan: RunPlan, identity: Mapping[str, Any], *, warn: bool) -> None:
    """Refuse a resume on other data than the run's; warn when the run has no record of it.

    Parameters
    ----------
    plan : RunPlan
    identity : mapping
        The identity of the data opened (:func:`~pastenet.train.datasource.data_identity`).
    warn : bool
        Whether this process warns about a run without a data record (the main one, not in a
        dry run).

    Raises
    ------
    ResumeError
        The data differs from the recorded one (the message names what differs).
    """
    if not plan.resumed:
        return
    assert plan.run_dir is not None
    if plan.recorded_data is not None:
        check_data_record(plan.run_dir, plan.recorded_data, identity)
    elif warn:
        warnings.warn(
            f"{plan.run_dir.name} has no record of its training data (made by an older pastenet): it is not checked "
            f"now, and recorded from this resume on ({DATA_FILE})",
            UserWarning,
            stacklevel=3,
        )


def restore_state(
    plan: RunPlan, modules: Mapping[str, torch.nn.Module], runner: Any, *, device: torch.device, world: World, steps: int, fresh_batch: int
) -> int:
    """Load the checkpoint a resume continues into the networks and optimisers.

    Parameters
    ----------
    plan : RunPlan
        A new run restores nothing (step 0).
    modules : mapping
        The checkpoint's modules by name (``G``, ``D``, ``G_ema``).
    runner : GanStep
        Its optimisers' states are loaded (:meth:`~pastenet.train.step.GanStep.load_state_dict`).
    device : torch.device
    world : World
    steps, fresh_batch : int
        The run's total steps and fresh tuples per step and process (``TrainOptions.fresh_batch``:
        the checkpoint's data cursor must match).

    Returns
    -------
    int
        The step training continues from.

    Raises
    ------
    ResumeError
        No complete checkpoint, one that does not fit the run, or a run already at ``steps``.
    """
    if not plan.resumed:
        return 0
    assert plan.run_dir is not None
    ckpt = plan.checkpoint if plan.checkpoint is not None else latest_checkpoint(plan.run_dir / CHECKPOINTS_DIR)
    if ckpt is None:
        raise ResumeError(f"{plan.run_dir}: no complete checkpoint to resume from (nothing was saved before it stopped)")
    state = load_checkpoint(ckpt, modules=modules, map_location=device)
    try:
        runner.load_state_dict(state)
        start = int(state["step"])
        cursor = int(state["cursor"])
    except (KeyError, ValueError, RuntimeError) as e:
        raise ResumeError(f"{ckpt}: the checkpoint does not fit this run ({e})") from None
    if cursor != start * fresh_batch * world.size:
        raise ResumeError(f"{ckpt}: data cursor {cursor} does not match step {start} x {fresh_batch} fresh tuples x {world.size} processes")
    if start >= steps:
        raise ResumeError(f"{plan.run_dir.name} already has {start} steps; pass a larger --steps to continue it")
    return start


def check_schedule(plan: RunPlan, start: int) -> None:
    """Refuse a resume whose change of ``steps`` or ``lr_rampdown`` alters steps already trained.

    The learning rates' schedule (:class:`~pastenet.train.step.LearningRateSchedule`) is a
    function of ``steps`` and ``lr_rampdown``; changing either is allowed while neither the
    recorded ramp nor the new one has begun before ``start``, so the continued run equals a
    fresh run of the new options.

    Raises
    ------
    ResumeError
        A ramp that began before ``start`` would change.
    """
    recorded = plan.recorded_options
    if not plan.resumed or recorded is None:
        return
    old = LearningRateSchedule(recorded.steps, recorded.lr_rampdown)
    new = LearningRateSchedule(plan.options.steps, plan.options.lr_rampdown)
    if min(old.start, new.start) < start and any(old(s) != new(s) for s in range(min(old.start, new.start), start)):
        raise ResumeError(
            f"--resume from step {start}: the learning rates ramp down from step {min(old.start, new.start)} with the recorded or the new "
            f"--steps / --lr-rampdown, so the change would alter steps already trained (use --init-from to fine-tune)"
        )


def _recorded_options(run_dir: Path) -> TrainOptions:
    """The run's options as recorded in ``options.json``."""
    try:
        return options_from_record(json.loads((run_dir / "options.json").read_text()))
    except (OSError, json.JSONDecodeError) as e:
        raise ResumeError(f"{run_dir}/options.json cannot be read ({e}); the run folder is damaged") from None


def _resume_options(run_dir: Path, recorded: TrainOptions, changes: Mapping[str, Any]) -> TrainOptions:
    """The run's recorded options with ``changes``; a change outside RESUMABLE_CHANGES is refused."""
    for key, value in changes.items():
        if key in RESUMABLE_CHANGES or key == "model":
            continue
        if getattr(recorded, key) != value:
            raise ResumeError(
                f"--resume continues {run_dir.name} with its recorded options; {key} was {getattr(recorded, key)!r}, "
                f"not {value!r} (start a new run, or use --init-from to fine-tune)"
            )
    allowed = {k: v for k, v in changes.items() if k in RESUMABLE_CHANGES}
    return recorded.replace(**allowed)


def _named_checkpoint(resume: str | os.PathLike, run_dir: Path) -> Path | None:
    """The checkpoint ``--resume`` names, or None when it names the run (its newest checkpoint)."""
    p = Path(resume)
    if p.is_file():  # a file of a checkpoint (weights.safetensors, meta.json, ...)
        p = p.parent
    ckdir = run_dir / CHECKPOINTS_DIR
    if p.resolve() in (run_dir.resolve(), ckdir.resolve()):
        return None
    if checkpoint_step(p) is None or p.resolve().parent != ckdir.resolve():
        raise ResumeError(
            f"--resume {resume}: not a checkpoint of {run_dir.name}; give the run folder (its newest checkpoint) "
            f"or one of its {CHECKPOINTS_DIR}/step-N folders"
        )
    if not (p / META_FILE).is_file():
        have = ", ".join(c.name for c in list_checkpoints(run_dir)) or "none"
        raise ResumeError(f"--resume {resume}: {run_dir.name} has no complete checkpoint {p.name} (it has: {have})")
    return p


def _refuse_newer_checkpoints(named: Path, run_dir: Path) -> None:
    """Resuming from an older checkpoint would overwrite the newer ones and rotate them away: refuse."""
    step = checkpoint_step(named)
    assert step is not None
    newer = [c.name for c in list_checkpoints(run_dir) if (checkpoint_step(c) or 0) > step]
    if newer:
        raise ResumeError(
            f"--resume {named}: {run_dir.name} has newer checkpoints ({', '.join(newer)}), which a run continued from "
            f"{named.name} would overwrite and rotate away; to continue from {named.name}, move them out of "
            f"{named.parent} first; to continue from the newest, resume the run folder"
        )
