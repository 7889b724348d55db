"""Run folders: numbering, the recorded options, ``stats.jsonl``, TensorBoard events, sample grids.

A run folder ``<out>/<NNNNN>-<preset>-<data>/`` holds::

    options.json       the resolved options (model included), written once at the start
    data.json          the training data's identity (:func:`check_data_record`), checked on resume
    .lock              locked (``flock``) by the process training in the folder (:func:`lock_run`)
    stats.jsonl        one JSON object per logged step (losses, speed, memory)
    events.out.tfevents.*   the same figures for TensorBoard
    samples/step-<8 digits>.png   grids of (input X, output Y, ground truth I) on fixed inputs
    checkpoints/step-<8 digits>/  see :mod:`pastenet.checkpoint`
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pastegen.atomic import atomic_write_text

from ..drawing import mask_outline  # noqa: F401  (re-exported: sample grids and older imports)
from ..errors import ConfigError, ResumeError

__all__ = [
    "new_run_dir",
    "open_run_dir",
    "find_run_dir",
    "lock_run",
    "run_in_use",
    "DATA_FILE",
    "LOCK_FILE",
    "read_data_record",
    "check_data_record",
    "write_json_atomic",
    "StatsLog",
    "truncate_stats",
    "grid_image",
    "save_png",
    "mask_outline",
]

_RUN = re.compile(r"^(\d{5})-")


def _slug(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return text[:40] or "run"


def new_run_dir(out: str | os.PathLike, description: str) -> Path:
    """Create ``<out>/<next number>-<description>`` (numbers never reused) and return it."""
    parent = Path(out)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        numbers = [int(m.group(1)) for p in parent.iterdir() if (m := _RUN.match(p.name))]
        path = parent / f"{max(numbers, default=-1) + 1:05d}-{_slug(description)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:  # another process took the number: take the next one
            continue


def open_run_dir(
    run_dir: Path | None,
    *,
    out: str | os.PathLike,
    description: str,
    start: int,
    options: Mapping[str, Any],
    data: Mapping[str, Any] | None,
    locks: ExitStack,
) -> Path:
    """Make the run folder ready for the main process to write into.

    Parameters
    ----------
    run_dir : Path or None
        A resumed run's folder (already locked): its ``stats.jsonl`` lines after ``start`` are
        dropped (:func:`truncate_stats`). None: a new numbered folder ``<out>/<N>-<description>``
        (:func:`new_run_dir`), locked (:func:`lock_run`) until ``locks`` closes.
    out : path
        The parent of new run folders.
    description : str
        A new run folder's name after its number.
    start : int
        The step the run continues from.
    options : mapping
        The resolved options, written to ``options.json``.
    data : mapping or None
        The data's identity, written to ``data.json`` (:data:`DATA_FILE`); None keeps the record
        the folder has.
    locks : ExitStack

    Returns
    -------
    Path
        The run folder.
    """
    if run_dir is not None:
        truncate_stats(run_dir, start)
    else:
        run_dir = new_run_dir(out, description)
        locks.enter_context(lock_run(run_dir))
    write_json_atomic(run_dir / "options.json", options)
    if data is not None:
        write_json_atomic(run_dir / DATA_FILE, data)
    return run_dir


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON under a temporary name, then rename it into place (:func:`pastegen.atomic.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


class StatsLog:
    """Appends ``stats.jsonl`` lines and mirrors the numbers into TensorBoard.

    Parameters
    ----------
    run_dir : Path
    purge_step : int or None
        On resume, the step of the checkpoint: TensorBoard hides events written after it by the
        interrupted run.
    tensorboard : bool
        Write TensorBoard events (needs the ``tensorboard`` package).
    """

    def __init__(self, run_dir: Path, *, purge_step: int | None = None, tensorboard: bool = True) -> None:
        self.path = Path(run_dir) / "stats.jsonl"
        self._file = open(self.path, "a", buffering=1)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)

    def write(self, step: int, values: Mapping[str, float]) -> None:
        record = {"step": int(step), **{k: (float(v) if v is not None else None) for k, v in values.items()}}
        self._file.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for key, value in values.items():
                if value is not None and np.isfinite(value):
                    self._tb.add_scalar(key.replace(".", "/"), float(value), global_step=int(step))

    def image(self, tag: str, step: int, image: np.ndarray) -> None:
        if self._tb is not None:
            self._tb.add_image(tag, image, global_step=int(step), dataformats="HWC")

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def truncate_stats(run_dir: Path, step: int) -> int:
    """Drop ``stats.jsonl`` lines after ``step`` (written by a run that is being resumed from there).

    Returns the number of lines dropped. The file is rewritten atomically; a damaged last line (a
    crash mid-write) is dropped too.
    """
    path = Path(run_dir) / "stats.jsonl"
    if not path.exists():
        return 0
    kept, dropped = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if int(record.get("step", 0)) <= step:
            kept.append(line)
        else:
            dropped += 1
    atomic_write_text(path, "".join(line + "\n" for line in kept))
    return dropped


def grid_image(rows: Iterable[Iterable[np.ndarray]], *, gap: int = 2, background: int = 255) -> np.ndarray:
    """Tile HxWx3 uint8 images into one image: each inner iterable is a row."""
    table = [list(r) for r in rows]
    if not table or not table[0]:
        raise ConfigError("grid_image needs at least one image")
    h, w = table[0][0].shape[:2]
    ncols = max(len(r) for r in table)
    out = np.full((len(table) * (h + gap) - gap, ncols * (w + gap) - gap, 3), background, np.uint8)
    for i, row in enumerate(table):
        for j, img in enumerate(row):
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img
    return out


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 PNG atomically (:func:`pastenet.paste.write_image`), creating its folder."""
    from ..imageio import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image)


def find_run_dir(path: str | os.PathLike) -> Path:
    """The run folder ``path`` names (a run folder, or a checkpoint inside one)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if (candidate / "options.json").is_file():
            return candidate
    if not p.exists():
        raise ResumeError(f"{p}: no such run folder")
    raise ResumeError(f"{p}: not a run folder (no options.json); give the folder `pastenet train` created")


# -- the lock ------------------------------------------------------------------------------------

#: The file a training process locks in its run folder.
LOCK_FILE = ".lock"


def _holder(path: Path) -> str:
    """`` (pid N on HOST)`` from a lock file's text, or ``""``."""
    try:
        words = path.read_text().split()
    except OSError:
        return ""
    if len(words) >= 2 and words[0].isdigit():
        return f" (pid {words[0]} on {words[1]})"
    return ""


@contextmanager
def lock_run(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on a run folder while training in it.

    The lock is ``fcntl.flock`` on ``<run>/.lock`` (the kind of lock HDF5 takes on the files
    ``pastegen make`` writes): the operating system releases it when the process ends, however it
    ends, so a killed run never leaves a stale lock. The holder writes its pid and host name into
    the file for the message another process gets. Where ``flock`` is unavailable (not POSIX, or a
    file system without locks) the folder is used unlocked, like HDF5's ``locking="best-effort"``.

    Parameters
    ----------
    run_dir : path
        An existing run folder.

    Yields
    ------
    Path
        The lock file.

    Raises
    ------
    ResumeError
        Another process holds the lock (it is training in the folder): the message names the run
        and that process; or the lock file cannot be created (the folder is not writable).
    """
    run_dir = Path(run_dir)
    path = run_dir / LOCK_FILE
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield path
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ResumeError(f"cannot lock the run folder {run_dir} ({e.strerror or e}); training needs to write in it") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ResumeError(
                    f"{run_dir} is in use by another process{_holder(path)}: it is still training there; "
                    "wait for it to finish, or stop it (Ctrl-C saves a checkpoint) and then resume"
                ) from None
            # any other error: this file system has no locks; best effort, go on unlocked
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield path
    finally:
        os.close(fd)  # releases the lock


def run_in_use(run_dir: str | os.PathLike) -> str | None:
    """Whether another process holds the lock of a run folder (:func:`lock_run`).

    Returns
    -------
    str or None
        The message :func:`lock_run` would raise (the run is being trained), or None.
    """
    if not (Path(run_dir) / LOCK_FILE).is_file():
        return None
    try:
        with lock_run(run_dir):
            return None
    except ResumeError as e:
        return str(e)


# -- the data's identity -------------------------------------------------------------------------

#: The file in a run folder that records the training data's identity.
DATA_FILE = "data.json"

_DATA_HINT = {
    "path": "a relative path is resolved from the current folder: resume from the folder the run was started in",
    "data_root": "the datasets are read from another data root (--data-root, PASTEGEN_DATA_ROOT)",
}


def read_data_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The recorded identity of a run's training data (``data.json``), or None for older runs.

    Raises
    ------
    ResumeError
        The file exists but cannot be read (the run folder is damaged).
    """
    path = Path(run_dir) / DATA_FILE
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise ResumeError(f"{path} cannot be read ({e}); the run folder is damaged") from None
    if not isinstance(record, dict):
        raise ResumeError(f"{path} is not a JSON object; the run folder is damaged")
    return record


def _show(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value):
        return value[:12] + "..."
    return repr(value)


def check_data_record(run_dir: str | os.PathLike, recorded: Mapping[str, Any], current: Mapping[str, Any], *, keys: Iterable[str] | None = None) -> None:
    """Refuse to resume a run on other data than it was trained on.

    Parameters
    ----------
    run_dir : path
        The run (named in the message).
    recorded, current : mapping
        The identity recorded at the start of the run and that of the data the resume would read
        (see :func:`pastenet.train.loop.data_identity`). Keys only one of them has are not compared
        (a record written by another pastenet version).
    keys : iterable of str, optional
        Compare only these keys (e.g. ``["kind", "path"]`` before the data is opened).

    Raises
    ------
    ResumeError
        The identities differ; the one-line message names every key that differs, with the
        recorded and the current value.
    """
    names = [k for k in (keys if keys is not None else recorded) if k in recorded and k in current]
    differ = [k for k in names if recorded[k] != current[k]]
    if not differ:
        return
    what = "; ".join(f"{k} was {_show(recorded[k])}, now {_show(current[k])}" for k in differ)
    hints = [h for k, h in _DATA_HINT.items() if k in differ]
    raise ResumeError(
        f"--resume {Path(run_dir).name}: the training data differs from the data the run was trained on ({what})"
        + (f": {hints[0]}" if hints else "")
        + "; resume with the same data, or start a new run (--init-from RUN to fine-tune on this data)"
    )
