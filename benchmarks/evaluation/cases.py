"""The real cross-image paste cases of ``<data root>/cases/crosspaste.csv`` (no ground truth).

Columns: ``case``, ``target``, ``source`` (paths relative to the data root), ``region``,
``source_box_xyxy`` (``x0 y0 x1 y1`` in the photos' own pixels; source and target are aligned so
the box is the same in both) and ``licence``. The mask is the box: pixels whose centres
``(x + 0.5, y + 0.5)`` lie inside it. Both photos (and the box) are resized to the benchmark's
working size (the checkpoint's resolution) before pasting, so every method sees the scale the
network was trained at.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .landmark_cases import resize

__all__ = ["Case", "load_cases"]


@dataclass
class Case:
    """One case of ``crosspaste.csv`` at the working size (``shape`` is always ``"box"``)."""

    name: str
    region: str
    target: np.ndarray
    source: np.ndarray
    mask: np.ndarray  # bool
    target_path: str = ""
    source_path: str = ""
    shape: str = "box"


def load_cases(root: Path, size: int = 256, limit: int | None = None) -> list[Case]:
    """The cases, decoded, resized to ``size`` x ``size`` with their box masks."""
    from pastegen.sources import decode_image

    path = Path(root) / "cases" / "crosspaste.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if limit is not None:
        rows = rows[:limit]
    out = []
    for r in rows:
        t = decode_image(str(Path(root) / r["target"]))
        s = decode_image(str(Path(root) / r["source"]))
        x0, y0, x1, y1 = (float(v) for v in r["source_box_xyxy"].split())
        h, w = t.shape[:2]
        sy, sx = size / h, size / w
        t, s = resize(t, size), resize(s, size)
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        m = (xx >= x0 * sx) & (xx <= x1 * sx) & (yy >= y0 * sy) & (yy <= y1 * sy)
        out.append(Case(r["case"], r["region"], t, s, m, r["target"], r["source"]))
    return out
