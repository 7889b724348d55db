"""Checkpoints: safetensors weights, a ``weights_only`` state file, atomic writes, keep-last-K.

Layout
------
One directory per checkpoint, ``<run>/checkpoints/step-<8 digits>/``::

    weights.safetensors   every module's weights, keys prefixed by the module's name
                          ("G.enc.0.weight", "D.global.0.weight", ...); metadata (strings):
                          format "pt", checkpoint_format, checkpoint_format_version, step,
                          modules (JSON list), model (the model record as JSON), pastenet_version
    state.pt              {"format", "format_version", "step", "state"}: optimiser state dicts,
                          data cursor, options, ... as tensors and plain containers only; read
                          with ``torch.load(..., weights_only=True)``, never as a general pickle
    meta.json             step, format version, sha256 of the two files, creation time

Atomicity
---------
A checkpoint is written into a temporary sibling directory (``.tmp-step-...``), its files and the
directory are fsynced, ``meta.json`` is written last, and the directory is renamed into place with
:func:`os.replace`. A crash at any moment leaves the previous checkpoints intact and no directory
under a final name that is not complete; leftover temporary directories are removed by the next
save (one writer per run: ``pastenet train`` locks the run folder,
:func:`pastenet.train.rundir.lock_run`). A failed write (a full disk included) is a
:class:`~pastenet.errors.CheckpointError` that leaves the previous checkpoints as they were, a
checkpoint of the same step that the save was replacing included. Older checkpoints beyond
``keep`` are deleted only after the new one is in place.

Paths
-----
One resolver, :func:`resolve_weights`, turns what a user gives (a model-zoo name, the parent of
numbered run folders, a run folder, its ``checkpoints`` folder, a ``checkpoints/step-N`` folder,
a checkpoint's ``weights.safetensors`` or a bare ``.safetensors`` file of any name) into a
:class:`ResolvedWeights`: the weights file to read, the checkpoint and run it belongs to, its
step. Everything that reads weights goes through it: :func:`resolve_checkpoint` and the loaders
here (which take paths only, no zoo names), :func:`pastenet.loading.load_generator` (paste,
``pastenet demo``), ``pastenet export`` and the benchmarks. The weights-only readers
(:func:`load_generator_weights`, :func:`load_weights`, :func:`read_model_record`) also take a
bare ``.safetensors`` file (e.g. an exported model), whose sha256 there is nothing to check
against; :func:`load_checkpoint` needs a checkpoint folder.

Weights
-------
Every loader checks each tensor it reads with :func:`check_weights`: the dtype the module holds
(float32 for pastenet's networks) and finite values; a file with ``bool``, integer, half or double
tensors in place of float32 weights, or NaN/Inf weights (a diverged run), is refused, naming the
file and the first bad tensor.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pastegen.atomic import fsync_dir, fsync_path
from pastegen.errors import first_line as _first_line

from ._version import __version__
from .errors import CheckpointError, CheckpointNotFoundError

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "CHECKPOINTS_DIR",
    "WEIGHTS_FILE",
    "STATE_FILE",
    "META_FILE",
    "save_checkpoint",
    "list_checkpoints",
    "latest_checkpoint",
    "checkpoint_step",
    "ResolvedWeights",
    "WEIGHT_KINDS",
    "resolve_weights",
    "resolve_checkpoint",
    "load_checkpoint",
    "read_model_record",
    "load_generator_weights",
    "load_weights",
    "check_weights",
    "module_names",
    "check_state",
]

#: Name and version of the checkpoint layout; a reader refuses other versions.
FORMAT_NAME = "pastenet-checkpoint"
FORMAT_VERSION = 1

CHECKPOINTS_DIR = "checkpoints"
WEIGHTS_FILE = "weights.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"

_STEP_DIR = re.compile(r"^step-(\d{8,})$")
_TMP_PREFIX = ".tmp-"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- helpers ----------------------------------------------------------------------------------------


def _checkpoints_dir(directory: str | os.PathLike) -> Path:
    """``<run>/checkpoints`` for a run directory; a ``checkpoints`` directory itself as it is."""
    d = Path(directory)
    return d if d.name == CHECKPOINTS_DIR else d / CHECKPOINTS_DIR


def _step_name(step: int) -> str:
    return f"step-{step:08d}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_LEAVES = (bool, int, float, str, type(None))
_TENSORS = (torch.Tensor, nn.Parameter)


def check_state(state: Any, where: str = "state") -> None:
    """Raise :class:`CheckpointError` unless ``state`` holds only tensors and plain containers.

    Allowed: ``torch.Tensor``, ``bool``, ``int``, ``float``, ``str``, ``None``, and ``dict`` /
    ``OrderedDict`` (``str`` or ``int`` keys), ``list`` and ``tuple`` of them: what
    ``torch.load(..., weights_only=True)`` reads back without any pickled code. The message names
    the first offending entry.
    """
    t = type(state)
    if t in _LEAVES or t in _TENSORS:
        return
    if t in (dict, OrderedDict):
        for key, value in state.items():
            if type(key) not in (str, int):
                raise CheckpointError(f"{where} has a key {key!r} of type {type(key).__name__}; checkpoint state keys must be str or int")
            check_state(value, f"{where}[{key!r}]")
        return
    if t in (list, tuple):
        for i, value in enumerate(state):
            check_state(value, f"{where}[{i}]")
        return
    raise CheckpointError(
        f"{where} is a {t.__module__}.{t.__qualname__}; checkpoint state may hold only tensors, numbers, strings, "
        "None, dicts, lists and tuples (convert it, e.g. to a plain dict or int)"
    )


def check_weights(
    path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], dtypes: Mapping[str, torch.dtype] | None = None
) -> None:
    """Raise :class:`CheckpointError` unless every tensor has the expected dtype and finite values.

    The one check every weight loader (paste, ``--resume``, ``--init-from``, export) applies to
    what it read, before any of it reaches a module.

    Parameters
    ----------
    path : path
        The weights file, named in the message.
    tensors : mapping of str to Tensor
        ``{key: tensor}`` in the order they are checked; the message names the first bad key.
    dtypes : mapping of str to torch.dtype, optional
        The dtype each key must have (the module's own ``state_dict()`` dtypes); keys it does not
        list are not dtype-checked. ``None``: float32 for every tensor, except BatchNorm's
        ``num_batches_tracked`` counters (int64): what pastenet's modules hold.

    Raises
    ------
    CheckpointError
        A tensor of another dtype (e.g. bool, int32, float16 or float64 in place of float32), or a
        floating-point tensor holding NaN or infinite values.
    """
    for key, tensor in tensors.items():
        if dtypes is not None:
            want = dtypes.get(key)
        else:
            want = torch.int64 if key.rpartition(".")[2] == "num_batches_tracked" else torch.float32
        if want is not None and tensor.dtype != want:
            raise CheckpointError(
                f"{path}: weight {key} has dtype {tensor.dtype}, expected {want}; "
                "the file is damaged or was not written by pastenet"
            )
        if tensor.is_floating_point() or tensor.is_complex():
            bad = tensor.numel() - int(torch.isfinite(tensor).sum())
            if bad:
                raise CheckpointError(
                    f"{path}: weight {key} holds {bad} NaN or infinite value{'s' if bad > 1 else ''}; "
                    "the weights are damaged (a diverged run?): use an earlier checkpoint"
                )


# --- saving -----------------------------------------------------------------------------------------


def _collect_weights(modules: Mapping[str, nn.Module]) -> dict[str, torch.Tensor]:
    if not modules:
        raise CheckpointError("no modules to save")
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        if not isinstance(name, str) or not _MODULE_NAME.match(name):
            raise CheckpointError(f"module name {name!r} must be an identifier without dots (it prefixes the weight keys)")
        if not isinstance(module, nn.Module):
            raise CheckpointError(f"modules[{name!r}] is a {type(module).__name__}, not a torch.nn.Module")
        for key, value in module.state_dict().items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{name}.{key} is a {type(value).__name__}; only tensor weights can be saved")
            # own CPU copy: safetensors refuses shared storage, and a device tensor must come home
            tensors[f"{name}.{key}"] = value.detach().to("cpu", copy=True).contiguous()
    return tensors


def _write_errors() -> tuple[type[BaseException], ...]:
    """What a failed write raises: OSError, and on a full disk torch.save's RuntimeError
    ("unexpected pos ...") and safetensors' SafetensorError ("I/O error: ...")."""
    from safetensors import SafetensorError

    return (OSError, RuntimeError, SafetensorError)


def _free_space(path: Path) -> str:
    """`` (N MiB free)`` on ``path``'s disk, or ``""`` when that cannot be read."""
    for p in (path, *path.parents):
        if p.exists():
            try:
                return f" ({shutil.disk_usage(p).free / 2**20:.0f} MiB free on that disk)"
            except OSError:
                return ""
    return ""


def _remove_stale_temporaries(ckdir: Path) -> None:
    for p in ckdir.glob(_TMP_PREFIX + "*"):
        shutil.rmtree(p, ignore_errors=True)


def save_checkpoint(
    directory: str | os.PathLike,
    step: int,
    *,
    modules: Mapping[str, nn.Module],
    state: Mapping[str, Any],
    model_record: Mapping[str, Any],
    keep: int = 3,
) -> Path:
    """Write the checkpoint of ``step`` atomically under ``<directory>/checkpoints/``.

    Parameters
    ----------
    directory : path
        The run directory (or its ``checkpoints`` directory).
    step : int
        Training step; names the checkpoint ``step-<8 digits>``. Saving a step again replaces it.
    modules : mapping of str to nn.Module
        E.g. ``{"G": generator, "D": discriminator}``; names are identifiers without dots.
    state : mapping
        Everything else the trainer needs to resume exactly: optimiser ``state_dict()`` s, the data
        cursor, the options as JSON-able values, ... Tensors and plain containers only
        (:func:`check_state`); a ``"step"`` entry, if any, must equal ``step``.
    model_record : mapping
        The model configuration (:meth:`pastenet.config.ModelConfig.to_record`), JSON-able; stored
        in the weights' metadata so the networks can be rebuilt from the weights file alone.
    keep : int
        Checkpoints to keep: the new one and the ``keep - 1`` newest others; older ones are deleted
        once the new one is in place.

    Returns
    -------
    Path
        The checkpoint directory.

    Raises
    ------
    CheckpointError
        Bad arguments, state that is not tensors and plain containers, or a failed write (an
        ``OSError``, or what torch and safetensors raise on a full disk; the message says how much
        space is free): the previous checkpoints, a replaced one of the same step included, are
        then intact and no directory of this step is left under a final name.
    """
    from safetensors.torch import save_file

    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"step must be an integer >= 0, got {step!r}")
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise CheckpointError(f"keep must be an integer >= 1, got {keep!r}")
    state = dict(state)
    if "step" in state and state["step"] != step:
        raise CheckpointError(f"state['step'] is {state['step']!r} but the checkpoint is for step {step}")
    check_state(state)
    try:
        record_json = json.dumps(dict(model_record), sort_keys=True)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"the model record is not JSON-able: {_first_line(e)}") from None
    tensors = _collect_weights(modules)
    metadata = {
        "format": "pt",
        "checkpoint_format": FORMAT_NAME,
        "checkpoint_format_version": str(FORMAT_VERSION),
        "step": str(step),
        "modules": json.dumps(list(modules)),
        "model": record_json,
        "pastenet_version": __version__,
    }

    ckdir = _checkpoints_dir(directory)
    final = ckdir / _step_name(step)
    tmp = ckdir / f"{_TMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old: Path | None = None
    try:
        ckdir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(ckdir)
        tmp.mkdir()
        weights, state_path = tmp / WEIGHTS_FILE, tmp / STATE_FILE
        save_file(tensors, weights, metadata=metadata)
        torch.save({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "step": step, "state": state}, state_path)
        for p in (weights, state_path):
            fsync_path(p)
        meta = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "step": step,
            "sha256": {WEIGHTS_FILE: _sha256(weights), STATE_FILE: _sha256(state_path)},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "pastenet_version": __version__,
        }
        with open(tmp / META_FILE, "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        if final.exists():  # the same step saved again: move the old one aside first
            old = ckdir / f"{_TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        os.replace(tmp, final)
        fsync_dir(ckdir)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not final.exists():  # put the checkpoint this save replaced back
            try:
                os.replace(old, final)
            except OSError:  # pragma: no cover - it then stays under its temporary name
                pass
        if isinstance(e, _write_errors()):
            raise CheckpointError(
                f"cannot save the checkpoint of step {step} in {ckdir}: {_first_line(e)}{_free_space(ckdir)}; "
                "the previous checkpoints are intact"
            ) from e
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

    others = [p for p in list_checkpoints(ckdir) if p != final]
    for p in others[: max(0, len(others) - (keep - 1))]:
        shutil.rmtree(p, ignore_errors=True)
    return final


# --- finding ----------------------------------------------------------------------------------------


def _step_of(path: Path) -> int | None:
    m = _STEP_DIR.match(path.name)
    return int(m.group(1)) if m else None


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The step a checkpoint directory's name gives (``step-<8 digits>``), or None for another name.

    Parameters
    ----------
    path : path
        A checkpoint directory (it need not exist).
    """
    return _step_of(Path(path))


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoint directories of a run, sorted by step (oldest first).

    Parameters
    ----------
    directory : path
        The run directory (or its ``checkpoints`` directory). A missing one has no checkpoints.
    """
    ckdir = _checkpoints_dir(directory)
    if not ckdir.is_dir():
        return []
    found = [(s, p) for p in ckdir.iterdir() if (s := _step_of(p)) is not None and p.is_dir() and (p / META_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


#: The values of :attr:`ResolvedWeights.kind`: what the path given named.
WEIGHT_KINDS = ("zoo", "runs", "run", "checkpoints", "checkpoint", "file")


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a path (or model-zoo name) leads: the weights file to read and what it belongs to.

    Made by :func:`resolve_weights`; nothing is read or checked but the folders' listings and a
    checkpoint's ``meta.json`` (for its step).

    Attributes
    ----------
    kind : str
        What was given, one of :data:`WEIGHT_KINDS` (the table in :func:`resolve_weights`).
    weights : Path
        The weights file to read. For an incomplete checkpoint folder it may be missing: the
        loaders then say the checkpoint is damaged or incomplete.
    checkpoint : Path or None
        The checkpoint folder holding ``weights`` (its ``meta.json`` records their sha256); None
        for a bare ``.safetensors`` file and a zoo model.
    run_dir : Path or None
        The run folder, when the checkpoint sits in ``<run>/checkpoints/``.
    step : int or None
        The training step: the checkpoint's ``meta.json`` (else its folder's name), or the zoo
        entry's ``steps``; None for a bare file.
    zoo_name : str or None
        The model-zoo name given, else None.
    path : Path
        What was given, as a path.
    """

    kind: str
    weights: Path
    checkpoint: Path | None = None
    run_dir: Path | None = None
    step: int | None = None
    zoo_name: str | None = None
    path: Path | None = None

    @property
    def location(self) -> Path:
        """The checkpoint folder, else the weights file: what a loaded model names as its origin."""
        return self.checkpoint if self.checkpoint is not None else self.weights

    @property
    def name(self) -> str:
        """A short name: the zoo name, else the run folder's, the checkpoint folder's, or the file's stem."""
        if self.zoo_name is not None:
            return self.zoo_name
        if self.run_dir is not None:
            return self.run_dir.name
        if self.checkpoint is not None:
            return self.checkpoint.name
        return self.weights.stem

    def sha256(self) -> str:
        """Hex sha256 of the weights file's bytes (read now: the file as it is).

        Raises
        ------
        CheckpointError
            The weights file is missing or cannot be read.
        """
        try:
            return _sha256(self.weights)
        except OSError as e:
            raise CheckpointError(f"cannot read {self.weights}: {e.strerror or e}") from None


def _is_checkpoint_dir(p: Path) -> bool:
    """A checkpoint folder, complete or not: it has a meta.json or weights, or a ``step-N`` name."""
    return (p / META_FILE).is_file() or (p / WEIGHTS_FILE).is_file() or _step_of(p) is not None


def _meta_step(ck: Path) -> int | None:
    """The step a checkpoint's ``meta.json`` records, else its folder name's; None when neither says."""
    try:
        step = json.loads((ck / META_FILE).read_text(encoding="utf-8")).get("step")
        if isinstance(step, int) and not isinstance(step, bool):
            return step
    except (OSError, ValueError, AttributeError):
        pass
    return _step_of(ck)


def _in_checkpoint(kind: str, ck: Path, weights: Path, given: Path) -> ResolvedWeights:
    run = ck.parent.parent if ck.parent.name == CHECKPOINTS_DIR else None
    return ResolvedWeights(kind=kind, weights=weights, checkpoint=ck, run_dir=run, step=_meta_step(ck), path=given)


def resolve_weights(path: str | os.PathLike, *, zoo: bool = True) -> ResolvedWeights:
    """The weights file a user's path or model-zoo name means, with its checkpoint, run and step.

    The one place that turns a path into weights: paste (:func:`pastenet.loading.load_generator`),
    ``pastenet export``, the loaders of this module and the benchmarks all use it.

    =========================================================  ===============  ==========================================
    ``path``                                                   ``kind``         weights read
    =========================================================  ===============  ==========================================
    a checkpoint folder ``<run>/checkpoints/step-N`` (1)       ``checkpoint``   its ``weights.safetensors``
    a run's ``checkpoints`` folder                             ``checkpoints``  its newest complete checkpoint's
    a run folder                                               ``run``          its newest complete checkpoint's
    a folder of numbered runs (``pastenet train --out``)       ``runs``         the newest run that has a checkpoint
    a ``.safetensors`` file (2)                                ``file``         the file
    a model-zoo name (``pastenet models``) (3)                 ``zoo``          the shipped file, its sha256 checked
    =========================================================  ===============  ==========================================

    (1) Any folder with a ``meta.json`` or a ``weights.safetensors``, or named ``step-N``; an
    incomplete one resolves, and its loading fails with a message saying so. (2) A checkpoint's
    own ``weights.safetensors`` (a ``meta.json`` beside it) has ``checkpoint`` set, so its sha256
    is checked on loading; a file of any other name, or one without ``meta.json``, is bare.
    (3) Only when no file or folder of that name exists, and only with ``zoo=True``.

    Parameters
    ----------
    path : path or str
    zoo : bool
        Also accept model-zoo names.

    Returns
    -------
    ResolvedWeights

    Raises
    ------
    CheckpointNotFoundError
        Nothing at ``path`` (and, with ``zoo``, not a zoo name), or a folder holding no complete
        checkpoint (nor numbered run folders with one).
    CheckpointError
        A file that is not a ``.safetensors`` file.
    ZooError
        A zoo model whose shipped weights are missing or damaged (sha256 mismatch), or a damaged registry.
    """
    given = Path(path)
    p = given
    if p.is_file():
        if p.suffix != ".safetensors":
            raise CheckpointError(f"{p} is not a checkpoint: give a checkpoint directory, a run directory or a .safetensors weights file")
        if p.name == WEIGHTS_FILE and (p.parent / META_FILE).is_file():
            return _in_checkpoint("file", p.parent, p, given)
        return ResolvedWeights(kind="file", weights=p, path=given)
    if p.is_dir():
        if _is_checkpoint_dir(p):
            return _in_checkpoint("checkpoint", p, p / WEIGHTS_FILE, given)
        latest = latest_checkpoint(p)
        if latest is not None:
            return _in_checkpoint("checkpoints" if p.name == CHECKPOINTS_DIR else "run", latest, latest / WEIGHTS_FILE, given)
        # a parent of numbered run folders (``pastenet train --out p``): its newest run with a checkpoint
        runs = sorted((q for q in p.iterdir() if q.is_dir() and re.match(r"^\d{5}-", q.name)), reverse=True)
        for run in runs:
            latest = latest_checkpoint(run)
            if latest is not None:
                return _in_checkpoint("runs", latest, latest / WEIGHTS_FILE, given)
        raise CheckpointNotFoundError(f"{p} holds no complete checkpoint (looked in {_checkpoints_dir(p)} and in numbered run folders)")
    if zoo:
        from .zoo.registry import get_model, is_model_name, model_file

        name = os.fspath(path)
        if not is_model_name(name):
            raise CheckpointNotFoundError(
                f"checkpoint {p} does not exist, and {name!r} is not a model-zoo name (`pastenet models` lists them)"
            )
        entry = get_model(name)
        return ResolvedWeights(kind="zoo", weights=model_file(name), step=entry.steps, zoo_name=name, path=given)
    raise CheckpointNotFoundError(f"checkpoint {p} does not exist")


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """The checkpoint directory meant by ``path``: :func:`resolve_weights` without zoo names.

    Raises
    ------
    CheckpointNotFoundError
        Nothing there, or a directory without checkpoints.
    CheckpointError
        A file that is not a checkpoint's ``weights.safetensors`` (a bare weights file has no
        checkpoint).
    """
    ref = resolve_weights(path, zoo=False)
    if ref.checkpoint is None:
        raise CheckpointError(
            f"{ref.weights} is a bare weights file, not a checkpoint (no {META_FILE} beside it): "
            f"give a checkpoint directory, a run directory or a checkpoint's {WEIGHTS_FILE}"
        )
    return ref.checkpoint


# --- loading ----------------------------------------------------------------------------------------


def _read_meta(ck: Path) -> dict[str, Any]:
    path = ck / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {ck} has no {META_FILE}: it is incomplete or not a checkpoint") from None
    except (OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {ck}: {META_FILE} cannot be read ({_first_line(e)}); the checkpoint is damaged") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"checkpoint {ck}: {META_FILE} is not a pastenet checkpoint record")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {ck} has format version {meta.get('format_version')!r}; "
            f"this pastenet ({__version__}) reads version {FORMAT_VERSION}"
        )
    return meta


def _verify(ck: Path, meta: Mapping[str, Any], names: tuple[str, ...]) -> None:
    sums = meta.get("sha256")
    if not isinstance(sums, Mapping):
        raise CheckpointError(f"checkpoint {ck}: {META_FILE} has no checksums; the checkpoint is damaged")
    for name in names:
        path = ck / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {ck} has no {name}; the checkpoint is damaged, use an earlier one")
        if _sha256(path) != sums.get(name):
            raise CheckpointError(f"checkpoint {ck}: {name} does not match its sha256; the file is damaged, use an earlier checkpoint")


def _open_weights(path: Path, device: str = "cpu") -> Any:
    from safetensors import safe_open

    try:
        return safe_open(str(path), framework="pt", device=device)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except Exception as e:  # safetensors raises its own error types for a bad header
        raise CheckpointError(f"{path} is not a readable safetensors file ({_first_line(e)})") from None


def _weights_metadata(path: Path, f: Any) -> dict[str, str]:
    meta = f.metadata() or {}
    if meta.get("checkpoint_format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file but not pastenet weights (no checkpoint_format={FORMAT_NAME!r})")
    if meta.get("checkpoint_format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format version {meta.get('checkpoint_format_version')!r}; "
            f"this pastenet ({__version__}) reads version {FORMAT_VERSION}"
        )
    return meta


def _device_str(map_location: Any) -> str:
    if isinstance(map_location, torch.device):
        return str(map_location)
    if isinstance(map_location, (str, int)):
        return str(torch.device(map_location))
    raise CheckpointError(f"map_location must be a device or device string, got {map_location!r}")


def _load_modules(f: Any, weights: Path, label: str, modules: Mapping[str, nn.Module], skip: Collection[str] = ()) -> None:
    """Load the open weights file ``f`` strictly into ``modules``, checking every tensor first.

    ``label`` starts the messages (``"checkpoint <dir>"`` or the weights file). Modules are loaded
    in the mapping's order, so a later one given the same module (``G_ema`` after ``G``) wins.
    The file's modules named in ``skip`` are left unread.
    """
    present = {k for k in f.keys() if k.partition(".")[0] not in skip}
    given = {name: m.state_dict() for name, m in modules.items()}
    held = sorted({k.partition(".")[0] for k in present})
    for name in given:
        if given[name] and not any(k.startswith(name + ".") for k in present):
            raise CheckpointError(f"{label} holds no weights of module {name!r} (it holds {', '.join(held) or 'none'})")
    loaded: dict[str, dict[str, torch.Tensor]] = {name: {} for name in given}
    read: dict[str, torch.Tensor] = {}
    dtypes: dict[str, torch.dtype] = {}
    for name, sd in given.items():  # in the modules' own order: the first offender is named
        for sub, want in sd.items():
            key = f"{name}.{sub}"
            if key not in present:
                raise CheckpointError(f"{label}: missing key {key} (the checkpoint is of another model)")
            tensor = f.get_tensor(key)
            if tuple(tensor.shape) != tuple(want.shape):
                raise CheckpointError(
                    f"{label}: {key} has shape {tuple(tensor.shape)}, the module expects {tuple(want.shape)} "
                    "(another model configuration)"
                )
            loaded[name][sub] = read[key] = tensor
            dtypes[key] = want.dtype
    for key in sorted(present):
        name, _, sub = key.partition(".")
        if name not in given:
            raise CheckpointError(f"{label} has weights of module {name!r} ({key}), which was not given; give modules {held}")
        if sub not in given[name]:
            raise CheckpointError(f"{label}: unexpected key {key} (the module {name!r} has no such parameter or buffer)")
    check_weights(weights, read, dtypes)
    for name, module in modules.items():
        try:
            module.load_state_dict(loaded[name], strict=True)
        except RuntimeError as e:  # pragma: no cover - the checks above catch what strict loading would
            raise CheckpointError(f"{label}: module {name!r}: {_first_line(e)}") from None


def load_checkpoint(
    path: str | os.PathLike, *, modules: Mapping[str, nn.Module], map_location: torch.device | str = "cpu"
) -> dict[str, Any]:
    """Load a checkpoint's weights into ``modules`` and return its state.

    Parameters
    ----------
    path : path
        A checkpoint directory, a run directory (its latest checkpoint) or a ``weights.safetensors``.
    modules : mapping of str to nn.Module
        Every module the checkpoint holds, under the names it was saved with; loaded strictly.
    map_location : torch.device or str
        Where the state's tensors (and the weights while loading) are put.

    Returns
    -------
    dict
        The ``state`` passed to :func:`save_checkpoint`, with ``"step"`` set to the checkpoint's step.

    Raises
    ------
    CheckpointError
        A missing or damaged file (sha256 mismatch), another format version, weights that do not fit
        the modules (the message names the first missing, unexpected or mis-shaped key), weights of
        another dtype than the module's or with NaN/Inf values (:func:`check_weights`), or a state
        file holding anything but tensors and plain containers.
    """
    ck = resolve_checkpoint(path)
    meta = _read_meta(ck)
    _verify(ck, meta, (WEIGHTS_FILE, STATE_FILE))
    device = _device_str(map_location)
    weights = ck / WEIGHTS_FILE
    with _open_weights(weights, device) as f:
        wmeta = _weights_metadata(weights, f)
        if wmeta.get("step") != str(meta.get("step")):
            raise CheckpointError(f"checkpoint {ck}: the weights are of step {wmeta.get('step')}, {META_FILE} says {meta.get('step')}")
        _load_modules(f, weights, f"checkpoint {ck}", modules)

    payload = _load_state_file(ck / STATE_FILE, map_location)
    if payload.get("step") != meta.get("step"):
        raise CheckpointError(f"checkpoint {ck}: {STATE_FILE} is of step {payload.get('step')}, {META_FILE} says {meta.get('step')}")
    state = dict(payload["state"])
    state["step"] = payload["step"]
    return state


def _load_state_file(path: Path, map_location: Any) -> dict[str, Any]:
    import pickle

    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist; the checkpoint is damaged") from None
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain containers; refused (read with weights_only=True): {_first_line(e)}"
        ) from None
    except Exception as e:
        raise CheckpointError(f"{path} cannot be read ({_first_line(e)}); the checkpoint is damaged") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME or not isinstance(payload.get("state"), dict):
        raise CheckpointError(f"{path} is not a pastenet checkpoint state file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {payload.get('format_version')!r}; this pastenet reads {FORMAT_VERSION}")
    return payload


def _weights_file(path: str | os.PathLike | ResolvedWeights) -> tuple[Path, Path | None]:
    """``(weights file, checkpoint dir or None for a bare weights file)`` (:func:`resolve_weights`, no zoo names)."""
    ref = path if isinstance(path, ResolvedWeights) else resolve_weights(path, zoo=False)
    return ref.weights, ref.checkpoint


def module_names(path: str | os.PathLike) -> set[str]:
    """The names of the modules whose weights a checkpoint (or weights file) holds, e.g. ``{"G", "D"}``."""
    weights, _ = _weights_file(path)
    with _open_weights(weights) as f:
        return {k.partition(".")[0] for k in f.keys()}


def read_model_record(path: str | os.PathLike) -> dict[str, Any]:
    """The model record stored with a checkpoint's weights, without loading any tensor.

    Parameters
    ----------
    path : path
        A checkpoint directory, a run directory (its latest checkpoint) or a ``.safetensors`` file.

    Returns
    -------
    dict
        The ``model_record`` given to :func:`save_checkpoint`
        (:func:`pastenet.config.model_from_record` rebuilds the configuration).
    """
    weights, _ = _weights_file(path)
    with _open_weights(weights) as f:
        meta = _weights_metadata(weights, f)
    try:
        record = json.loads(meta["model"])
    except (KeyError, ValueError):
        raise CheckpointError(f"{weights} has no readable model record in its metadata") from None
    if not isinstance(record, dict):
        raise CheckpointError(f"{weights}: the model record is not a JSON object")
    return record


def load_generator_weights(
    path: str | os.PathLike | ResolvedWeights, *, map_location: torch.device | str = "cpu", name: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The generator's ``state_dict`` and the model record, for inference.

    The weights file's sha256 is verified when it sits in a checkpoint directory (a bare
    ``.safetensors`` file, e.g. an exported model, has none to check against).

    Parameters
    ----------
    path : path or ResolvedWeights
        A checkpoint directory, a run directory (its latest checkpoint), the parent of numbered
        run folders or a ``.safetensors`` file (:func:`resolve_weights`, without zoo names), or
        what :func:`resolve_weights` returned (a zoo model included).
    map_location : torch.device or str
    name : str, optional
        The generator's module name in the checkpoint; default: ``"G_ema"`` (the moving average of
        G's weights, ``pastenet train --ema-kimg``) when the checkpoint has it, else ``"G"``.

    Returns
    -------
    (dict, dict)
        ``{key without the module prefix: tensor}`` and the model record.

    Raises
    ------
    CheckpointError
        Nothing there, a file that is not pastenet weights, a sha256 mismatch, no weights of that
        module, a tensor that is not float32 or holds NaN/Inf values (:func:`check_weights`; the
        message names the file and the first bad tensor), or no readable model record.
    """
    weights, ck = _weights_file(path)
    if ck is not None:
        _verify(ck, _read_meta(ck), (WEIGHTS_FILE,))
    with _open_weights(weights, _device_str(map_location)) as f:
        meta = _weights_metadata(weights, f)
        if name is None:
            name = "G_ema" if any(k.startswith("G_ema.") for k in f.keys()) else "G"
        prefix = name + "."
        read = {k: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)}
    if not read:
        raise CheckpointError(f"{weights} holds no weights of module {name!r}")
    check_weights(weights, read)  # pastenet's generators hold float32 tensors only
    sd = {k[len(prefix) :]: v for k, v in read.items()}
    try:
        record = json.loads(meta.get("model", ""))
    except ValueError:
        raise CheckpointError(f"{weights} has no readable model record in its metadata") from None
    return sd, record


def load_weights(
    path: str | os.PathLike,
    *,
    modules: Mapping[str, nn.Module],
    map_location: torch.device | str = "cpu",
    skip: Collection[str] = (),
) -> Path:
    """Load weights into ``modules`` without any training state: fine-tuning (``--init-from``).

    Accepts what paste accepts: a checkpoint directory, a run directory (its latest checkpoint),
    the parent of numbered run folders, its ``weights.safetensors``, or a bare ``.safetensors``
    file of any name (e.g. a checkpoint's weights copied elsewhere). The weights file's sha256 is
    verified when it sits in a checkpoint directory.

    Parameters
    ----------
    path : path
    modules : mapping of str to nn.Module
        The modules to load, under the names the weights were saved with, in loading order (a
        later name given the same module, e.g. ``G_ema`` after ``G``, wins); loaded strictly.
        The file may not hold modules that are neither given nor skipped.
    map_location : torch.device or str
        Where the weights are read to.
    skip : collection of str
        Modules of the file deliberately left unread (e.g. a D built for another resolution).

    Returns
    -------
    Path
        The weights file read.

    Raises
    ------
    CheckpointError
        Nothing there, a file that is not pastenet weights, a sha256 mismatch, a module whose
        weights the file does not hold (e.g. an exported model holds only ``G``), weights that do
        not fit the modules, or tensors of another dtype or with NaN/Inf values
        (:func:`check_weights`).
    """
    weights, ck = _weights_file(path)
    if ck is not None:
        _verify(ck, _read_meta(ck), (WEIGHTS_FILE,))
    with _open_weights(weights, _device_str(map_location)) as f:
        _weights_metadata(weights, f)
        _load_modules(f, weights, str(weights), modules, skip)
    return weights
