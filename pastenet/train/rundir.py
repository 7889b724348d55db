"""Run folders: numbering, the recorded options, ``stats.jsonl``, TensorBoard events, sample grids.

A run folder ``<out>/<NNNNN>-<preset>-<data>/`` holds::

    options.json       the resolved options (model included), written once at the start
    stats.jsonl        one JSON object per logged step (losses, speed, memory)
    events.out.tfevents.*   the same figures for TensorBoard
    samples/step-<8 digits>.png   grids of (input X, output Y, ground truth I) on fixed inputs
    checkpoints/step-<8 digits>/  see :mod:`pastenet.checkpoint`
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..errors import ConfigError, ResumeError

__all__ = [
    "new_run_dir",
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


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON under a temporary name, then rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)
    return dropped


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """Boolean image of the mask's boundary pixels (inside pixels with an outside 4-neighbour)."""
    m = mask.astype(bool)
    inner = m.copy()
    inner[1:, :] &= m[:-1, :]
    inner[:-1, :] &= m[1:, :]
    inner[:, 1:] &= m[:, :-1]
    inner[:, :-1] &= m[:, 1:]
    return m & ~inner


def grid_image(rows: Iterable[Iterable[np.ndarray]], *, gap: int = 2, background: int = 255) -> np.ndarray:
    """Tile HxWx3 uint8 images into one image: each inner iterable is a row."""
    rows = [list(r) for r in rows]
    if not rows or not rows[0]:
        raise ConfigError("grid_image needs at least one image")
    h, w = rows[0][0].shape[:2]
    ncols = max(len(r) for r in rows)
    out = np.full((len(rows) * (h + gap) - gap, ncols * (w + gap) - gap, 3), background, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            out[i * (h + gap) : i * (h + gap) + h, j * (w + gap) : j * (w + gap) + w] = img
    return out


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 PNG atomically (:func:`pastenet.paste.write_image`), creating its folder."""
    from ..paste import write_image

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
