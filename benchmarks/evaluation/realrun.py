"""Run methods on the real cases, the mild-change test and a few synthetic settings; tables and sheets.

Groups of real cases (at one working size: 512x512, the photos' own, unless told; the quality
harness uses its ``--size``):

``crosspaste``  the 30 cases of ``cases/crosspaste.csv`` (box masks, :mod:`.cases`)
``crossperson`` the 48 landmark cases of :func:`benchmarks.evaluation.landmark_cases.landmark_cases`

Per case and method: :func:`benchmarks.evaluation.metrics.no_reference_metrics` with the placed
source (source and target are aligned, so the placed source is the source photo). The pseudo
method ``target (own border)`` is the target itself
(:func:`benchmarks.evaluation.metrics.own_border_metrics`): its seam jump is what a perfect paste
of matching content would show across the same border.

The mild-change test (:mod:`.mild`) runs at the photos' own size unless told.

``verdicts`` compares a method with a reference method case by case on the three no-reference
criteria that a viewer sees (seam jump, detail correlation, ring ΔE): a case counts as "at least
as good" when the method is no worse than the reference on seam jump and on ring ΔE (each within a
tolerance of 10 %) and keeps at least 95 % of the source's detail correlation. It is a proxy of the
by-eye judgement, reported beside the sheets that show every case.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from . import cases as _cases
from . import evalset, landmark_cases, metrics, mild, sheets

__all__ = [
    "OWN", "GROUPS", "load_groups", "real_rows", "mild_rows", "synthetic_rows", "real_table", "mild_table", "synthetic_table", "verdicts", "paste_method",
]

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


#: Real-case groups, in table order.
GROUPS = ("crosspaste", "crossperson")


def load_groups(root: Path, size: int = 512, *, limit: int | None = None) -> dict[str, list]:
    """``{"crosspaste": cases, "crossperson": cases}`` at ``size`` x ``size`` (the first ``limit`` of each when given).

    A group whose inputs are missing under ``root`` (``cases/crosspaste.csv``; ``faces/landmarks.json``
    and ``faces/test``) is left out.
    """
    root = Path(root)
    out: dict[str, list] = {}
    if (root / "cases" / "crosspaste.csv").is_file():
        out["crosspaste"] = _cases.load_cases(root, size, limit=limit)
    if (root / "faces" / "landmarks.json").is_file() and (root / "faces" / "test").is_dir():
        out["crossperson"] = landmark_cases.landmark_cases(root, size, limit=limit)
    return out


def real_rows(methods: Mapping[str, Method], root: Path, *, size: int = 512, limit: int | None = None, k: int = 3,
              sheet_dir: Path | None = None, per_sheet: int = 10, sheet_names: Mapping[str, str] | None = None,
              labels: Mapping[str, str] | None = None, cell: int = 150) -> list[dict]:
    """One row per (group, case, method) with the no-reference metrics; optional zoomed sheets.

    Parameters
    ----------
    methods : mapping
        ``{name: method(target, source, mask)}``.
    root : Path
        The data root.
    size : int
        Working size of both groups (512: the London photos' own).
    limit : int, optional
        The first ``limit`` cases of each group (smoke runs).
    k : int
        Seam band of ``seam_grad``.
    sheet_dir : Path, optional
        Write sheets ``<sheet name>-<i>.jpg`` of ``per_sheet`` rows there, zoomed on the mask
        (:func:`benchmarks.evaluation.sheets.crop_box`): target with the mask outlined, source,
        every method.
    sheet_names : mapping, optional
        File stem per group (default: the group's name).
    labels : mapping, optional
        Column titles of the sheets per method name (default: the names).
    cell : int
        Sheet cell size in pixels.

    Returns
    -------
    list of dict
        ``group``, ``case``, ``region``, ``shape``, ``method`` and the metrics; the pseudo method
        :data:`OWN` carries :func:`benchmarks.evaluation.metrics.own_border_metrics`.
    """
    labels = labels or {}
    rows = []
    for group, cases in load_groups(root, size, limit=limit).items():
        grid, row_labels = [], []
        for c in cases:
            shape = getattr(c, "shape", "box")
            base = {"group": group, "case": c.name, "region": c.region, "shape": shape}
            rows.append({**base, "method": OWN, **metrics.own_border_metrics(c.target, c.mask)})
            imgs = [sheets.outline(c.target, c.mask), c.source]
            for name, f in methods.items():
                y = f(c.target, c.source, c.mask)
                rows.append({**base, "method": name, **metrics.no_reference_metrics(y, c.target, c.mask, k=k, source=c.source)})
                imgs.append(y)
            y0, y1, x0, x1 = sheets.crop_box(c.mask, grow=0.6)
            grid.append([im[y0:y1, x0:x1] for im in imgs])
            row_labels.append(c.name[:80])
        if sheet_dir is not None:
            cols = ["target (mask)", "source", *(labels.get(n, n) for n in methods)]
            stem = (sheet_names or {}).get(group, group)
            for i in range(0, len(grid), per_sheet):
                sheets.sheet(Path(sheet_dir) / f"{stem}-{i // per_sheet + 1}.jpg", grid[i:i + per_sheet], cols,
                             row_labels[i:i + per_sheet], cell=cell)
    return rows


def mild_rows(methods: Mapping[str, Method], root: Path, *, n: int = mild.N, size: int | None = None, sheet: Path | None = None,
              sheet_rows: int = 10, labels: Mapping[str, str] | None = None, cell: int = 150) -> list[dict]:
    """Mean |Y − I| (0-255) inside the mask for the same-photo mild change (:mod:`.mild`).

    Parameters
    ----------
    methods : mapping
        ``{name: method(target, source, mask)}``; each gets ``(I, changed I, mask)``.
    root : Path
        The data root.
    n : int
        Photos.
    size : int or None
        Working size; ``None``: the photos' own size.
    sheet : Path, optional
        Write a sheet of the first ``sheet_rows`` samples there, zoomed on the mask.
    labels : mapping, optional
        Column titles per method name.

    Returns
    -------
    list of dict
        ``case``, ``region``, ``method``, ``l1`` and ``change_l1`` (the change's own L1 there,
        what the naive paste scores).
    """
    labels = labels or {}
    rows, grid, row_labels = [], [], []
    for s in mild.mild_samples(root, n, size=size):
        c, m = s.case, s.case.mask
        imgs = [sheets.outline(s.original, m), c.source]
        for name, f in methods.items():
            y = f(c.target, c.source, m)
            rows.append({"case": c.name, "region": c.region, "method": name, "l1": mild.masked_l1(y, s.original, m), "change_l1": s.change_l1})
            imgs.append(y)
        if len(grid) < sheet_rows:
            y0, y1, x0, x1 = sheets.crop_box(m, grow=0.6)
            grid.append([im[y0:y1, x0:x1] for im in imgs])
            row_labels.append(c.name)
    if sheet is not None:
        sheets.sheet(sheet, grid, ["original (mask)", "changed source", *(labels.get(n, n) for n in methods)], row_labels, cell=cell)
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


def real_table(rows: list[dict], group: str | None = None, labels: Mapping[str, str] | None = None) -> str:
    """Markdown: per method, the mean of each no-reference metric over the group's cases (or all).

    NaN values (degenerate masks) are left out of the means; a metric a row lacks shows "–".
    """
    labels = labels or {}
    sel = [r for r in rows if group is None or r["group"] == group]
    methods = list(dict.fromkeys(r["method"] for r in sel))
    n = len({(r["group"], r["case"]) for r in sel})
    lines = [f"| method ({n} cases) | " + " | ".join(c[1] for c in REAL_COLUMNS) + " |", "|---" * (len(REAL_COLUMNS) + 1) + "|"]
    for m in methods:
        rs = [r for r in sel if r["method"] == m]
        lines.append(f"| {labels.get(m, m)} | " + " | ".join(_f(_mean(r.get(k) for r in rs), d) for k, _, d in REAL_COLUMNS) + " |")
    return "\n".join(lines)


def mild_table(rows: list[dict], labels: Mapping[str, str] | None = None) -> str:
    """Markdown: per method, the mean L1 to the original inside the mask, under the two limits.

    The limits: returning the target (the source unchanged, i.e. not pasted) scores 0; the
    changed source itself (the naive paste) scores the mean ``change_l1``.
    """
    labels = labels or {}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cases = {r["case"]: r.get("change_l1") for r in rows}
    lines = [f"| method ({len(cases)} photos) | mean L1 to the original in the mask ↓ |", "|---|---|",
             "| returning the target (source unchanged: the limit) | 0.00 |"]
    if any(v is not None for v in cases.values()):
        lines.append(f"| the changed source (naive paste) | {_mean(cases.values()):.2f} |")
    lines += [f"| {labels.get(m, m)} | {_mean(r['l1'] for r in rows if r['method'] == m):.2f} |" for m in methods]
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
