"""Sheets for judging a faces model by eye against Poisson normal, on the 78 real cases.

Each row: the target with the mask outlined, the source, Poisson normal, the model (zoomed on the
region, 256 px cells, 8 rows per sheet); beside the sheets, ``differences.csv`` gives per case the
mean and 99th percentile of |model − Poisson normal| inside the mask (levels of 255), which points
the eye at the rows where the two differ::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/by_eye_sheets.py faces-poisson-256

``--against OLD`` (other weights, e.g. a model's previous version) adds OLD's paste as a column
before the model's and writes ``against.csv``: per case the mean and 99th percentile of
|model − OLD| inside the mask, most different first, for a review of what changed.

Outputs in ``benchmarks/results/zoo/<name>/by-eye/``. The verdicts themselves are a person's:
``by-eye.md`` beside that folder records them and how they were made.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.baselines import BASELINES  # noqa: E402
from benchmarks.evaluation import evalset, realrun  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="zoo name (or checkpoint path)")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results/zoo/<name>/by-eye)")
    p.add_argument("--limit", type=int, default=None, help="the first N cases of each group (smoke runs)")
    p.add_argument("--against", default=None, help="other weights (zoo name or path) to show beside the model and compare with")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from pastenet.paste import load_generator, paste

    root = evalset.data_root()
    pm = load_generator(a.model, device="cpu")
    out = Path(a.out) if a.out else REPO / "benchmarks" / "results" / "zoo" / Path(a.model).name / "by-eye"
    out.mkdir(parents=True, exist_ok=True)
    poisson = BASELINES["poisson_normal"]
    old = load_generator(a.against, device="cpu") if a.against else None
    methods = {"Poisson normal": poisson}
    if old is not None:
        methods["previous"] = realrun.paste_method(old)
    methods["model"] = realrun.paste_method(pm)
    realrun.real_rows(methods, root, limit=a.limit, sheet_dir=out, per_sheet=8, cell=256)
    rows, against = [], []
    for group, cases in realrun.load_groups(root, 512, limit=a.limit).items():
        for c in cases:
            m = c.mask.astype(bool)
            ours = paste(pm, c.target, c.source, c.mask).astype(float)
            d = np.abs(ours - poisson(c.target, c.source, c.mask).astype(float))[m].mean(1)
            rows.append([group, c.name, f"{d.mean():.2f}", f"{np.percentile(d, 99):.2f}"])
            if old is not None:
                e = np.abs(ours - paste(old, c.target, c.source, c.mask).astype(float))[m].mean(1)
                against.append((float(e.mean()), [group, c.name, f"{e.mean():.2f}", f"{np.percentile(e, 99):.2f}"]))
    _write_csv(out / "differences.csv", rows)
    if old is not None:
        _write_csv(out / "against.csv", [r for _, r in sorted(against, key=lambda t: -t[0])])
    print(f"sheets and differences.csv in {out}")
    return 0


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["group", "case", "mean_abs_diff", "p99_abs_diff"])
        w.writerows(rows)


if __name__ == "__main__":
    raise SystemExit(main())
