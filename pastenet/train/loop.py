"""The training loop: :func:`train` (one D update and one G update per step, paper section 3.3).

Each step ``s`` (0-based) of a job of ``W`` processes with ``B`` samples each:

1. reads the global batch positions ``[s·B·W, (s+1)·B·W)`` of the data order (this process's
   slice ``r·B .. (r+1)·B``; see :mod:`pastenet.data`);
2. draws the GAN's noise (noise images, gradient-penalty ε) for the *global* batch from a
   ``torch.Generator`` seeded by ``(seed, s)`` and takes this process's slice, so a resumed run
   needs no saved random state and W processes compute what one process with batch W·B would;
3. runs G once: ``Y = X_rgb + G(X)·M`` (the paper's ``(G(X) + T(I))·M + I·(1−M)``);
4. updates D on ``E[D(Y)] − E[D(I)] + λ·GP + γ·E[D(I)²]`` with Y detached;
5. updates G on ``L1(Y, I) − α·E[D(Y)]`` with the updated D.

Gradients are averaged over processes (:mod:`pastenet.train.distributed`). Resuming from the
checkpoint of step N continues bit-identically on the same device and thread count: N steps,
resume, N steps equal 2N steps.

A resume continues the run's newest checkpoint, or the one named when it is the newest; it
refuses other data than the run's (:func:`data_identity`, recorded in ``data.json``) and a run
another process is training (the run folder's lock, :func:`~pastenet.train.rundir.lock_run`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import resource
import signal
import threading
import time
import warnings
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError, DataError, ResumeError
from ..devices import resolve_device
from .distributed import World, broadcast_parameters, world_from_env
from .options import RESUMABLE_CHANGES, TrainOptions, options_from_record
from .step import GanStep, step_seed
from .rundir import (
    DATA_FILE,
    StatsLog,
    check_data_record,
    find_run_dir,
    grid_image,
    lock_run,
    mask_outline,
    new_run_dir,
    read_data_record,
    save_png,
    truncate_stats,
    write_json_atomic,
)

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


def to_uint8_image(x: torch.Tensor) -> np.ndarray:
    """[3,H,W] in [-1, 1] → HxWx3 uint8."""
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()


# -- set-up ------------------------------------------------------------------------------------


def _resume_options(run_dir: Path, changes: Mapping[str, Any]) -> TrainOptions:
    try:
        recorded = options_from_record(json.loads((run_dir / "options.json").read_text()))
    except (OSError, json.JSONDecodeError) as e:
        raise ResumeError(f"{run_dir}/options.json cannot be read ({e}); the run folder is damaged") from None
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
    from ..checkpoint import CHECKPOINTS_DIR, META_FILE, checkpoint_step, list_checkpoints

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
    from ..checkpoint import checkpoint_step, list_checkpoints

    step = checkpoint_step(named)
    assert step is not None
    newer = [c.name for c in list_checkpoints(run_dir) if (checkpoint_step(c) or 0) > step]
    if newer:
        raise ResumeError(
            f"--resume {named}: {run_dir.name} has newer checkpoints ({', '.join(newer)}), which a run continued from "
            f"{named.name} would overwrite and rotate away; to continue from {named.name}, move them out of "
            f"{named.parent} first; to continue from the newest, resume the run folder"
        )


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _sources_sha256(records: Any) -> str:
    """One digest of a source list: each photo's sha256 and decoded size, in order (not the paths)."""
    rows = []
    for r in records:
        r = r.to_dict() if hasattr(r, "to_dict") else dict(r)
        rows.append([str(r.get("sha256")), int(r.get("height", 0)), int(r.get("width", 0))])
    return _digest(rows)


def _plain(value: Any) -> Any:
    """A JSON value of an HDF5 attribute (numpy scalars and arrays become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _data_root(names: list[str] | None, data_root: str | None) -> str | None:
    """The absolute data root the named datasets are read from (None when none is needed or found)."""
    if not names or all(n == "sample" for n in names):
        return None
    from pastegen.errors import PastegenError
    from pastegen.sources import resolve_data_root

    try:
        return str(resolve_data_root(data_root))
    except PastegenError:
        return None


def data_identity(options: TrainOptions, source: Any) -> dict[str, Any]:
    """The identity of a run's training data, recorded in the run folder's ``data.json``.

    A resume refuses data of another identity
    (:func:`~pastenet.train.rundir.check_data_record`), so a tuple file regenerated at the same
    path with other settings, or a relative path resolved from another folder, is not trained on
    silently.

    Parameters
    ----------
    options : TrainOptions
    source : TupleFileDataset or StreamDataset
        The dataset the run reads (built from ``options``).

    Returns
    -------
    dict
        For a tuple file: ``kind`` ("file"), ``path`` (absolute), ``count``, ``index_offset``,
        ``seed``, ``spec_sha256`` and ``sources_sha256`` (from the file's attributes, as ``pastegen
        make`` stored them), ``sources`` (their number). For a stream: ``kind`` ("stream"),
        ``datasets`` (names, or None), ``images`` (as given), ``split``, ``data_root`` (absolute,
        None for the bundled sample photos), ``seed``, ``spec_sha256``, ``sources`` and
        ``sources_sha256`` of the scanned photos (each photo's sha256 and size, in order).
    """
    if not options.stream:
        tf = source.file
        sources = tf.sources
        return {
            "kind": "file",
            "path": os.path.abspath(str(options.data)),
            "count": int(len(tf)),
            "index_offset": int(getattr(source, "index_offset", 0) or 0),
            "seed": _plain(tf.seed),
            "spec_sha256": _digest(tf.spec),
            "sources": len(sources),
            "sources_sha256": _sources_sha256(sources),
        }
    stream = source.stream
    names = _dataset_names(options.dataset) if options.dataset is not None else None
    return {
        "kind": "stream",
        "datasets": names,
        "images": options.images,
        "split": options.split,
        "data_root": _data_root(names, options.data_root),
        "seed": int(stream.seed),
        "spec_sha256": _digest(stream.spec.to_dict()),
        "sources": len(stream.sources),
        "sources_sha256": _sources_sha256(stream.sources),
    }


def _data_description(options: TrainOptions) -> str:
    if options.stream:
        return f"stream-{(options.dataset or Path(options.images or 'images').name).replace(',', '-')}"
    return Path(options.data or "data").stem


def _build_source(options: TrainOptions, resolution_hint: int, world: World):
    """(dataset object for make_loader, resolution, fixed grid items)."""
    from .. import data as D

    n_grid = options.grid_size
    if not options.stream:
        dataset = D.TupleFileDataset(options.data)
        n = len(dataset)
        items = [dataset[i] for i in range(min(n_grid, n))]
        return dataset, int(dataset.resolution), items
    import pastegen

    spec_name = options.spec_preset or _stream_spec_name(options)
    changes: dict[str, Any] = {"height": resolution_hint, "width": resolution_hint}
    if options.sigma is not None:
        changes["sigma"] = float(options.sigma)
    try:
        if options.color_mix or options.geometric_mix:
            from pastegen.components.strength import strength_spec

            changes["strength"] = strength_spec(options.color_mix, options.geometric_mix)
        spec = pastegen.preset(spec_name, **changes)
        if options.dataset is not None:  # "faces,faces-wild": the photos of every named dataset
            paths = []
            for name in _dataset_names(options.dataset):
                paths += pastegen.dataset_paths(name, split=options.split, data_root=options.data_root)
        else:
            paths = pastegen.find_images(options.images)
    except pastegen.PastegenError as e:
        raise DataError(str(e)) from None
    colours = options.truth == "colours"
    stream = D.make_stream(
        paths, spec=spec, seed=options.data_seed, start=0, batch=options.batch, rank=world.rank, world_size=world.size, geometric_source=colours
    )
    if not stream.sources:
        raise DataError("no usable photos to stream from")
    grid = D.make_stream(list(stream.sources), spec=spec, seed=options.data_seed, start=0, stop=n_grid, batch=1, geometric_source=colours)
    items = list(D.StreamDataset(grid, prior=options.prior))
    return D.StreamDataset(stream, prior=options.prior), resolution_hint, items


def _dataset_names(text: str) -> list[str]:
    return [n.strip() for n in str(text).split(",") if n.strip()]


def _stream_spec_name(options: TrainOptions) -> str:
    """The spec preset of a stream: that of its (first) dataset, else ``photos``."""
    if options.dataset is None:
        return "photos"
    import pastegen
    from pastegen.sources import DATASET_PRESETS

    first = _dataset_names(options.dataset)[0]
    name = DATASET_PRESETS.get(first, first)
    return name if name in pastegen.PRESETS else "photos"


class _StopFlag:
    """SIGINT / SIGTERM set a flag checked between steps (a second SIGINT interrupts at once)."""

    def __init__(self) -> None:
        self.set = False
        self.signum: int | None = None  # the first signal received
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.set = True
        if self.signum is None:
            self.signum = signum
        signal.signal(signum, self._old.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the loop ----------------------------------------------------------------------------------


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

    Notes
    -----
    The run folder is locked (``flock`` on ``RUN/.lock``) from its creation, or from the start of
    a resume, until this function returns; the lock goes with the process however it ends.
    """
    with ExitStack() as locks:
        return _train(options, resume, changes, dry_run, progress, locks)


def _train(
    options: TrainOptions | None,
    resume: str | os.PathLike | None,
    changes: Mapping[str, Any] | None,
    dry_run: bool,
    progress: ProgressFn | None,
    locks: ExitStack,
) -> TrainResult:
    """:func:`train`'s body; ``locks`` holds the run folder's lock until it returns."""
    from ..checkpoint import CHECKPOINTS_DIR, latest_checkpoint, load_checkpoint, save_checkpoint
    from ..data import make_loader, prepare
    from ..models import Discriminator, Generator, predict

    if (options is None) == (resume is None):
        raise ConfigError("give the options of a new run, or a run folder to resume, not both")
    run_dir: Path | None = None
    named: Path | None = None
    recorded_data: dict[str, Any] | None = None
    main_process = int(os.environ.get("WORLD_SIZE", "1")) <= 1 or os.environ.get("RANK", "0") == "0"
    if resume is not None:
        run_dir = find_run_dir(resume)
        if main_process and not dry_run:
            locks.enter_context(lock_run(run_dir))  # first: a run in use is described as such, nothing else
        named = _named_checkpoint(resume, run_dir)
        if named is not None:
            _refuse_newer_checkpoints(named, run_dir)
        options = _resume_options(run_dir, dict(changes or {}))
        if options.model is None:
            raise ResumeError(f"{run_dir}/options.json has no model record; the run folder is damaged")
        recorded_data = read_data_record(run_dir)
        if recorded_data is not None and not options.stream:  # before opening it: the path as resolved now
            check_data_record(run_dir, recorded_data, {"kind": "file", "path": os.path.abspath(str(options.data))}, keys=("kind", "path"))
    elif changes:
        options = options.replace(**changes)
    assert options is not None

    device_type = "cuda" if (options.device.startswith("cuda") or (options.device == "auto" and torch.cuda.is_available())) else "cpu"
    world = world_from_env(device_type)
    device = resolve_device(options.device, local_rank=world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        # cuDNN picks the fastest convolution for each (fixed) shape; TF32 for the float32 parts
        # (the gradient penalty runs D in float32).
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    hint = options.resolution or options.model_config().resolution
    source, resolution, grid_items = _build_source(options, hint, world)
    identity = data_identity(options, source)
    if resume is not None:
        assert run_dir is not None
        if recorded_data is not None:
            check_data_record(run_dir, recorded_data, identity)
        elif world.main and not dry_run:
            warnings.warn(
                f"{run_dir.name} has no record of its training data (made by an older pastenet): it is not checked "
                f"now, and recorded from this resume on ({DATA_FILE})",
                UserWarning,
                stacklevel=3,
            )
    if options.resolution is not None and resolution != options.resolution:
        raise ConfigError(f"--resolution {options.resolution}, but the tuples in {options.data} are {resolution}x{resolution}")
    config = options.model_config(resolution)
    if resume is None:
        config = config.replace(prior=options.prior)  # how G's input is prepared: paste does the same
    if options.model is None and config.work_side is None:
        # the data's pixel scale: every pastegen crop mode brings the shorter side to the tuple's
        # side (cityscapes' scale-crop halves it first), so the photos' shorter side is `resolution`
        config = config.replace(work_side=int(resolution))
    options = options.replace(model=config.to_record())
    if dry_run:
        return TrainResult(run_dir=None, options=options, step=0)

    use_amp = device.type == "cuda" and options.amp in ("auto", "bf16") or options.amp == "bf16"
    if use_amp and device.type != "cuda":
        raise ConfigError("--amp bf16 needs a CUDA device")
    channels_last = options.channels_last == "on" or (options.channels_last == "auto" and device.type == "cuda")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    torch.manual_seed(options.seed)
    G = Generator(config).to(device=device, memory_format=memory_format)
    D_net = Discriminator(config).to(device=device, memory_format=memory_format)
    if options.init_from and resume is None:
        _init_from(options.init_from, G, D_net, config)
    broadcast_parameters(G, world)
    broadcast_parameters(D_net, world)
    # beyond the paper: a moving average of G's weights (StyleGAN2-ADA's G_ema), what paste and export use
    G_ema = copy.deepcopy(G).eval().requires_grad_(False) if options.ema_kimg > 0 else None
    modules = {"G": G, "D": D_net, **({"G_ema": G_ema} if G_ema is not None else {})}
    runner = GanStep(
        G, D_net, config, options, device, world, amp=use_amp, compiled_G=torch.compile(G) if options.compile else None, G_ema=G_ema
    )

    start = 0
    if resume is not None:
        assert run_dir is not None
        ckpt = named if named is not None else latest_checkpoint(run_dir / CHECKPOINTS_DIR)
        if ckpt is None:
            raise ResumeError(f"{run_dir}: no complete checkpoint to resume from (nothing was saved before it stopped)")
        state = load_checkpoint(ckpt, modules=modules, map_location=device)
        try:
            runner.load_state_dict(state)
            start = int(state["step"])
            cursor = int(state["cursor"])
        except (KeyError, ValueError, RuntimeError) as e:
            raise ResumeError(f"{ckpt}: the checkpoint does not fit this run ({e})") from None
        if cursor != start * options.batch * world.size:
            raise ResumeError(f"{ckpt}: data cursor {cursor} does not match step {start} x batch {options.batch} x {world.size} processes")
        if start >= options.steps:
            raise ResumeError(f"{run_dir.name} already has {start} steps; pass a larger --steps to continue it")
        if world.main:
            truncate_stats(run_dir, start)
    elif world.main:
        run_dir = new_run_dir(options.out, f"{options.preset}-{_data_description(options)}")
        locks.enter_context(lock_run(run_dir))
    if world.main:
        assert run_dir is not None
        write_json_atomic(run_dir / "options.json", options.to_record())
        if recorded_data is None:  # a new run, or one made before data records: record the data's identity
            write_json_atomic(run_dir / DATA_FILE, identity)

    loader = make_loader(
        source,
        batch=options.batch,
        seed=options.seed,
        cursor=start * options.batch * world.size,
        rank=world.rank,
        world_size=world.size,
        workers=options.workers,
        pin_memory=device.type == "cuda",
    )
    log = StatsLog(run_dir, purge_step=start if resume is not None else None) if world.main and run_dir is not None else None
    grid_batch = torch.utils.data.default_collate(grid_items) if grid_items else None

    B, W = options.batch, world.size
    result = TrainResult(run_dir=run_dir, options=options, step=start)
    sums: dict[str, torch.Tensor] = {}
    count = 0
    t_last, step_last = time.perf_counter(), start
    last_saved = start if resume is not None else None

    def save(step: int) -> None:
        nonlocal last_saved
        if world.main and run_dir is not None:
            state = {"step": step, "cursor": step * B * W, **runner.state_dict(), "options": json.dumps(options.to_record())}
            try:
                result.checkpoint = save_checkpoint(
                    run_dir / CHECKPOINTS_DIR, step, modules=modules, state=state, model_record=config.to_record(), keep=options.keep
                )
            except CheckpointError as e:
                last = latest_checkpoint(run_dir / CHECKPOINTS_DIR)
                then = f"continue from {last.name} with: pastenet train --resume {run_dir}" if last is not None else "no checkpoint of this run is saved"
                raise CheckpointError(f"{e}; {then}") from e
        last_saved = step
        if world.distributed:
            torch.distributed.barrier()

    try:
        with _StopFlag() as stop:
            for s in range(start, options.steps):
                batch = prepare(next(loader), device, channels_last=channels_last)
                terms = runner(batch, s)

                step = s + 1
                for key, value in terms.items():  # tensors: no device sync until a log step
                    sums[key] = sums[key] + value if key in sums else value.clone()
                count += 1
                if step % options.log_every == 0 or step == options.steps:
                    now = time.perf_counter()
                    keys = sorted(sums)
                    values = torch.stack([sums[k] for k in keys]).double().div(count).cpu().tolist()
                    stats = dict(zip(keys, values))
                    stats["it_s"] = (step - step_last) / max(now - t_last, 1e-9)
                    stats["samples_s"] = stats["it_s"] * B * W
                    stats["peak_mem_mb"] = _peak_memory_mb(device)
                    if not all(math.isfinite(v) for v in stats.values()):
                        if log is not None:
                            log.write(step, stats)
                        raise FloatingPointError(f"step {step}: a loss is not finite ({stats}); lower the learning rates")
                    if log is not None:
                        log.write(step, stats)
                    result.stats = stats
                    sums, count = {}, 0
                    t_last, step_last = now, step
                if world.main and grid_batch is not None and (step % options.sample_every == 0 or step == options.steps):
                    image = _sample_grid(G_ema if G_ema is not None else G, grid_batch, device, channels_last, options.seed, prepare, predict)
                    assert run_dir is not None
                    save_png(run_dir / "samples" / f"step-{step:08d}.png", image)
                    if log is not None:
                        log.image("samples", step, image)
                stop_now = stop.set
                if world.distributed:
                    flag = torch.tensor([1.0 if stop_now else 0.0], device=device)
                    torch.distributed.all_reduce(flag)
                    stop_now = bool(flag.item() > 0)
                if step % options.checkpoint_every == 0 or step == options.steps or stop_now:
                    save(step)
                result.step = step
                if progress is not None and world.main:
                    progress(step, options.steps, result.stats)
                if stop_now:
                    result.interrupted = True
                    result.signal = stop.signum if stop.signum is not None else int(signal.SIGINT)
                    break
    except KeyboardInterrupt as e:  # a second SIGINT stops at once: the last complete checkpoint stays
        setattr(e, "run_dir", run_dir)  # for the command's message
        raise
    finally:
        if log is not None:
            log.close()
        close = getattr(loader, "close", None)
        if close is not None:
            close()
    return result


def _init_from(path: str, G: torch.nn.Module, D_net: torch.nn.Module, config) -> None:
    """Load G and D weights from a checkpoint for fine-tuning (the optimisers start fresh).

    ``path`` is resolved as paste resolves it (:func:`pastenet.checkpoint.load_weights`): a run or
    checkpoint folder, or a ``.safetensors`` weights file of any name holding G and D. A
    checkpoint with a moving average of G (``G_ema``) gives G those averaged weights.
    """
    from ..checkpoint import load_weights, module_names, read_model_record
    from ..config import model_from_record

    try:
        record = model_from_record(read_model_record(path))
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if record.replace(work_side=config.work_side) != config:
        raise CheckpointError(f"--init-from {path}: its model ({record}) differs from this run's ({config})")
    modules = {"G": G, "D": D_net}
    if "G_ema" in module_names(path):
        modules["G_ema"] = G  # the averaged weights, loaded after (and over) the raw ones
    load_weights(path, modules=modules, map_location=next(G.parameters()).device)


@torch.no_grad()
def _sample_grid(G, batch, device, channels_last, seed, prepare, predict) -> np.ndarray:
    """Rows of (input X with the mask outlined, output Y, the loss's truth) on fixed inputs and noise."""
    from ..models import network_size

    b = prepare(batch, device, channels_last=channels_last)
    gen = torch.Generator(device=device).manual_seed(step_seed(seed, 0, purpose=1))
    n = b["X"].shape[0]
    hs, ws = network_size(G.config, b["X"].shape[-2], b["X"].shape[-1])
    noise = [torch.randn(shape, generator=gen, device=device) for shape in G.noise_shapes(n, hs, ws)]
    Y = predict(G, b["composite"], b["M"], noise=noise, prior=b.get("prior"))
    rows = []
    for i in range(n):
        x = to_uint8_image(b["composite"][i])
        outline = mask_outline(b["M"][i, 0].cpu().numpy() > 0.5)
        x[outline] = (255, 0, 0)
        rows.append([x, to_uint8_image(Y[i]), to_uint8_image(b.get("truth", b["I"])[i])])
    return grid_image(rows)
