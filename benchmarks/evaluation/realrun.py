"""Run methods on the real cases, the mild-change test and a few synthetic settings; tables and sheets.

Groups of real cases (all at the photos' own size, 512x512):

``crosspaste``  the 30 cases of ``cases/crosspaste.csv`` (box masks)
``crossperson`` the 48 landmark cases of :func:`benchmarks.evaluation.real.landmark_cases`

Per case and method: :func:`benchmarks.evaluation.metrics.no_reference_metrics` with the placed
source (source and target are aligned, so the placed source is the source photo). The pseudo
method ``target (own border)`` is the target itself: its seam jump is what a perfect paste of
matching content would show across the same border.

``verdicts`` compares a method with a reference method case by case on the three no-reference
criteria that a viewer sees (seam jump, detail correlation, ring ΔE): a case counts as "at least
as good" when the method is no worse than the reference on seam jump and on ring ΔE (each within a
tolerance of 10 %) and keeps at least 95 % of the source's detail correlation. It is a proxy of the
by-eye judgement, reported beside the sheets that show every case.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from . import cases as _cases
from . import evalset, metrics, real, sheets

__all__ = ["OWN", "real_rows", "mild_rows", "synthetic_rows", "real_table", "mild_table", "synthetic_table", "verdicts", "paste_method"]

OWN = "target (own border)"
Method = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def paste_method(model, **kwargs) -> Method:
    """A method calling :func:`pastenet.paste.paste` on ``model`` with ``kwargs`` (scale, seam)."""
    from pastenet.paste import paste

    def run(target, source, mask):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return paste(model, target, source, mask, **kwargs)

    return run


def _groups(root: Path) -> dict[str, list]:
    return {"crosspaste": _cases.load_cases(root, 512), "crossperson": real.landmark_cases(root)}


def real_rows(methods: Mapping[str, Method], root: Path, *, sheet_dir: Path | None = None, per_sheet: int = 10) -> list[dict]:
    """One row per (group, case, method), with the no-reference metrics; optional zoomed sheets."""
    rows = []
    for group, cases in _groups(root).items():
        grid, labels = [], []
        for c in cases:
            rows.append({"group": group, "case": c.name, "region": c.region, "method": OWN, "seam_jump": metrics.seam_jump(c.target, c.mask)})
            imgs = [sheets.outline(c.target, c.mask), c.source]
            for name, f in methods.items():
                y = f(c.target, c.source, c.mask)
                rows.append({"group": group, "case": c.name, "region": c.region, "method": name,
                             **metrics.no_reference_metrics(y, c.target, c.mask, source=c.source)})
                imgs.append(y)
            y0, y1, x0, x1 = sheets.crop_box(c.mask, grow=0.6)
            grid.append([im[y0:y1, x0:x1] for im in imgs])
            labels.append(c.name[:48])
        if sheet_dir is not None:
            cols = ["target (mask)", "source", *methods]
            for k in range(0, len(grid), per_sheet):
                sheets.sheet(Path(sheet_dir) / f"{group}-{k // per_sheet + 1}.jpg", grid[k:k + per_sheet], cols, labels[k:k + per_sheet], cell=150)
    return rows


def mild_rows(methods: Mapping[str, Method], root: Path, *, n: int = 48, sheet: Path | None = None) -> list[dict]:
    """Mean |Y − I| (0-255) inside the mask for the same-photo mild change (see :mod:`.real`)."""
    rows, grid = [], []
    for c, original in real.mild_samples(root, n):
        m = c.mask
        imgs = [sheets.outline(original, m), c.source]
        for name, f in methods.items():
            y = f(c.target, c.source, m)
            rows.append({"case": c.name, "method": name, "l1": float(np.abs(y.astype(float) - original)[m].mean())})
            imgs.append(y)
        if len(grid) < 10:
            y0, y1, x0, x1 = sheets.crop_box(m, grow=0.6)
            grid.append([im[y0:y1, x0:x1] for im in imgs])
    if sheet is not None:
        sheets.sheet(sheet, grid, ["original (mask)", "changed source", *methods], cell=150)
    return rows


def synthetic_rows(methods: Mapping[str, Method], root: Path, *, n: int = 40, settings=((15.0, 1.0), (15.0, 0.0)), dataset: str = "faces") -> list[dict]:
    """PSNR and fMSE on the frozen synthetic set (σ px at 512, colour strength) at 256x256."""
    from .methods import prepare_target

    rows = []
    for sigma, strength in settings:
        st = evalset.Setting(dataset, "sigma" if strength == 1.0 else "color", sigma, strength, n, 256, 2019)
        for s in evalset.generate(st, root):
            cache: dict = {}
            for name, f in methods.items():
                y = f(prepare_target(name, s.I_T, s.M, cache), s.S, s.M)
                rows.append({"dataset": dataset, "sigma512": sigma, "strength": strength, "method": name,
                             "psnr": metrics.psnr(y, s.I), "fmse": metrics.fmse(y, s.I, s.M)})
    return rows


def _mean(values) -> float:
    v = [x for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    return float(np.mean(v)) if v else math.nan


def _f(v: float, digits: int = 2) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


REAL_COLUMNS = (("seam_jump", "seam jump ↓", 1), ("seam_grad", "seam grad err ↓", 2), ("detail_corr", "detail corr ↑", 3),
                ("detail_amp", "detail amplitude", 2), ("ring_de", "ring ΔE ↓", 2))


def real_table(rows: list[dict], group: str | None = None) -> str:
    """Markdown: per method, the mean of each no-reference metric over the group's cases (or all)."""
    sel = [r for r in rows if group is None or r["group"] == group]
    methods = list(dict.fromkeys(r["method"] for r in sel))
    n = len({r["case"] for r in sel})
    lines = [f"| method ({n} cases) | " + " | ".join(c[1] for c in REAL_COLUMNS) + " |", "|---" * (len(REAL_COLUMNS) + 1) + "|"]
    for m in methods:
        rs = [r for r in sel if r["method"] == m]
        lines.append(f"| {m} | " + " | ".join(_f(_mean(r.get(k) for r in rs), d) for k, _, d in REAL_COLUMNS) + " |")
    return "\n".join(lines)


def mild_table(rows: list[dict]) -> str:
    methods = list(dict.fromkeys(r["method"] for r in rows))
    n = len({r["case"] for r in rows})
    lines = [f"| method ({n} photos) | mean L1 to the original in the mask ↓ |", "|---|---|", "| returning the target (the limit) | 0.00 |"]
    lines += [f"| {m} | {_mean(r['l1'] for r in rows if r['method'] == m):.2f} |" for m in methods]
    return "\n".join(lines)


def synthetic_table(rows: list[dict]) -> str:
    keys = sorted({(r["sigma512"], r["strength"]) for r in rows}, key=lambda k: (-k[1], k[0]))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = " | ".join(f"σ={s:g}, colour {c:g}" for s, c in keys)
    lines = [f"| method | {head} |", "|---" * (len(keys) + 1) + "|"]
    for m in methods:
        cells = []
        for s, c in keys:
            rs = [r for r in rows if r["method"] == m and r["sigma512"] == s and r["strength"] == c]
            cells.append(f"{_mean(r['psnr'] for r in rs):.2f} / {_mean(r['fmse'] for r in rs):,.0f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdicts(rows: list[dict], method: str, reference: str, tol: float = 0.10) -> tuple[int, int]:
    """``(at least as good, cases)`` of ``method`` against ``reference`` (module docstring)."""
    by = {(r["case"], r["method"]): r for r in rows if "detail_corr" in r}
    cases = sorted({c for c, m in by if m == method and (c, reference) in by})
    good = 0
    for c in cases:
        a, b = by[(c, method)], by[(c, reference)]
        ok = a["seam_jump"] <= b["seam_jump"] * (1 + tol) + 0.5 and a["ring_de"] <= b["ring_de"] * (1 + tol) + 0.5
        ok = ok and (math.isnan(a["detail_corr"]) or a["detail_corr"] >= 0.95 * b["detail_corr"])
        good += bool(ok)
    return good, len(cases)
