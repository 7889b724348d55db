"""Summaries of the synthetic set's per-sample rows and of speed: Markdown tables and matplotlib plots.

The real cases' and the mild test's tables are in :mod:`benchmarks.evaluation.realrun`.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .methods import LABELS, ORDER
from .metrics import METRICS

__all__ = ["write_csv", "summarise", "sweep_tables", "headline_table", "speed_table", "plot_sweep", "PLOT_METRICS"]

PLOT_METRICS = ("psnr", "fmse", "ssim", "l1", "seam_mse", "seam_jump")


def write_csv(path: Path, rows: Sequence[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def _x(row: dict) -> float:
    return float(row["sigma512"] if row["sweep"] == "sigma" else row["strength"])


def summarise(rows: Iterable[dict]) -> dict:
    """``{(dataset, sweep): {"xs": [...], "n": {x: n}, "mean": {method: {metric: {x: value}}}}}``.

    Means over samples; ``outside_changed`` is summed (it must be 0 everywhere).
    """
    groups: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    counts: dict = defaultdict(lambda: defaultdict(set))
    for r in rows:
        key = (r["dataset"], r["sweep"])
        x = _x(r)
        counts[key][x].add(r["index"])
        for m in METRICS:
            if m in r:
                groups[key][r["method"]][m][x].append(float(r[m]))
    out = {}
    for key, by_method in groups.items():
        xs = sorted(counts[key])
        mean = {}
        for method, by_metric in by_method.items():
            mean[method] = {}
            for metric, by_x in by_metric.items():
                agg = np.sum if metric == "outside_changed" else np.mean
                mean[method][metric] = {x: float(agg(v)) for x, v in by_x.items()}
        out[key] = {"xs": xs, "n": {x: len(counts[key][x]) for x in xs}, "mean": mean}
    return out


def _methods(present: Iterable[str]) -> list[str]:
    present = set(present)
    return [m for m in ORDER if m in present] + sorted(present - set(ORDER))


def _fmt(metric: str, v: float) -> str:
    if metric == "outside_changed":
        return f"{int(v)}"
    if metric in ("ssim",):
        return f"{v:.3f}"
    if metric in ("psnr",):
        return f"{v:.2f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.2f}"


def _xlabel(sweep: str, x: float) -> str:
    return f"σ={x:g}" if sweep == "sigma" else f"s={x:g}"


def sweep_tables(summary: dict, key: tuple[str, str], metrics: Sequence[str] = tuple(METRICS)) -> str:
    """One Markdown table per metric: methods x sweep values, the best of each column in bold."""
    s = summary[key]
    xs = s["xs"]
    methods = _methods(s["mean"])
    parts = []
    for metric in metrics:
        info = METRICS[metric]
        arrow = "higher is better" if info["higher"] else "lower is better"
        lines = [f"**{info['label']}** ({arrow})", "", "| method | " + " | ".join(_xlabel(key[1], x) for x in xs) + " |",
                 "|---|" + "---|" * len(xs)]
        best = {}
        for x in xs:
            vals = [s["mean"][m][metric][x] for m in methods if metric in s["mean"][m] and x in s["mean"][m][metric]]
            if vals and metric != "outside_changed":
                best[x] = max(vals) if info["higher"] else min(vals)
        for m in methods:
            cells = []
            for x in xs:
                v = s["mean"][m].get(metric, {}).get(x)
                if v is None:
                    cells.append("")
                    continue
                txt = _fmt(metric, v)
                cells.append(f"**{txt}**" if x in best and math.isclose(v, best[x], rel_tol=1e-9, abs_tol=1e-12) else txt)
            lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def headline_table(summary: dict, key: tuple[str, str]) -> str:
    """Methods x sweep values, each cell ``PSNR / fMSE``."""
    s = summary[key]
    xs = s["xs"]
    methods = _methods(s["mean"])
    lines = ["| method | " + " | ".join(_xlabel(key[1], x) for x in xs) + " |", "|---|" + "---|" * len(xs)]
    for m in methods:
        cells = [f"{s['mean'][m]['psnr'][x]:.2f} / {s['mean'][m]['fmse'][x]:,.0f}" for x in xs]
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def speed_table(rows: Sequence[dict]) -> str:
    """Methods x sizes (and devices), milliseconds per image."""
    cols = []
    for r in rows:
        c = (r["size"], r.get("device", "cpu"))
        if c not in cols:
            cols.append(c)
    by = {(r["method"], r["size"], r.get("device", "cpu")): r["seconds"] for r in rows}
    methods = _methods({r["method"] for r in rows})
    lines = ["| method | " + " | ".join(f"{s} {d} (ms)" for s, d in cols) + " |", "|---|" + "---|" * len(cols)]
    for m in methods:
        cells = [f"{by[(m, s, d)] * 1e3:,.1f}" if (m, s, d) in by else "" for s, d in cols]
        lines.append(f"| {LABELS.get(m, m)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_sweep(path: Path, summary: dict, key: tuple[str, str], title: str) -> Path:
    """A 2x3 grid of the metrics against the swept quantity, one line per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = summary[key]
    xs = s["xs"]
    methods = _methods(s["mean"])
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.4))
    for ax, metric in zip(axes.ravel(), PLOT_METRICS, strict=True):
        for m in methods:
            ys = [s["mean"][m].get(metric, {}).get(x, np.nan) for x in xs]
            ax.plot(xs, ys, marker="o", ms=3, lw=1.5 if m == "network" else 1, label=LABELS.get(m, m), color="black" if m == "network" else None)
        info = METRICS[metric]
        ax.set_title(info["label"] + (" ↑" if info["higher"] else " ↓"), fontsize=10)
        ax.set_xlabel("σ (px at 512)" if key[1] == "sigma" else "colour strength")
        if metric in ("fmse", "seam_mse"):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path
