"""Ablation of the changes beyond the paper (issue 9): each change alone, and the chosen combination.

Every variant trains for the same budget (``--steps`` at ``--batch``, streamed from
``faces/train`` + ``faces-wild/train`` at ``--size``, σ = 15 px at 512 scaled to the size, seed 0)
and is then evaluated by the quality harness's real-case metrics and synthetic PSNR
(:mod:`benchmarks.evaluation.quick`). Runs are kept in ``--runs`` and resumed, so an interrupted
ablation continues where it stopped; ``--eval-only`` skips training.

Variants (the rows of ``benchmarks/README.md``'s ablation table):

============== ============================================================================
``paper``      the paper's recipe on the ``tiny`` preset: residual head, WGAN-GP (α = 1e-4),
               full colour ranges, L1 over the image; pasted at full resolution
``paper+scale`` the same weights pasted scale-aware (G at the pixel scale it was trained at)
``+mix``       ``paper`` with per-tuple colour / geometric strength mixtures
``+maskloss``  ``paper`` with L1 per masked pixel, border band weighted x3
``colormap``   the affine colour-map head (``colormap`` preset), full ranges, L1 over the image,
               no adversarial term; no seam
``colormap+seam`` the same weights with the Poisson seam at paste time
``chosen-noseam`` the combination (colour map, mixtures, masked/border L1, scale-aware) without seam
``chosen``     the combination with the Poisson seam: the zoo recipe of the first zoo models
``chosen+colours`` ``chosen`` trained towards the pasted content with its own colours
               (``--truth colours``: ``T_geometric(I)`` inside the mask) instead of ``I``
============== ============================================================================

Usage::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/ablation.py            # ~25 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MIX = dict(color_mix="0:1,0.25:1,0.5:1,1:1", geometric_mix="0:1,0.5:1,1:1")
MASKLOSS = dict(recon="mask", border_weight=2.0)
PAPER = dict(preset="tiny")
COLORMAP = dict(preset="colormap", alpha=0.0, beta1=0.9)

#: name -> (training run, paste options); runs shared by several rows are trained once.
TRAININGS = {
    "paper": PAPER,
    "mix": {**PAPER, **MIX},
    "maskloss": {**PAPER, **MASKLOSS},
    "colormap": COLORMAP,
    "chosen": {**COLORMAP, **MIX, **MASKLOSS},
    "colours": {**COLORMAP, **MIX, **MASKLOSS, "truth": "colours"},
    "prior": {**COLORMAP, **MIX, **MASKLOSS, "prior": "poisson"},
    "prior-colours": {**COLORMAP, **MIX, **MASKLOSS, "prior": "poisson", "truth": "colours"},
    "prior-colours-mild": {**COLORMAP, **MIX, "color_mix": "0:1,0.1:1,0.25:1,0.5:1,1:1", **MASKLOSS, "prior": "poisson", "truth": "colours"},
    # twice the weight on identity and mild colour transforms (the same-photo mild test, issue 9)
    "prior-colours-mild2": {**COLORMAP, **MIX, "color_mix": "0:2,0.1:2,0.25:1,0.5:1,1:1", **MASKLOSS, "prior": "poisson", "truth": "colours"},
    # the shipped recipe with the colour map predicted at stride 2 instead of 4 (G sees the region
    # at twice the resolution; about 4x the work per step): does a finer map lower the mild floor?
    "prior-colours-mild-stride2": {
        **COLORMAP, **MIX, "color_mix": "0:1,0.1:1,0.25:1,0.5:1,1:1", **MASKLOSS, "prior": "poisson", "truth": "colours",
        "map_stride": 2,
    },  # fmt: skip
}
ROWS = {
    "paper": ("paper", dict(scale=1.0, seam="none")),
    "paper+scale": ("paper", dict(scale="auto", seam="none")),
    "+mix": ("mix", dict(scale=1.0, seam="none")),
    "+maskloss": ("maskloss", dict(scale=1.0, seam="none")),
    "colormap": ("colormap", dict(scale=1.0, seam="none")),
    "colormap+seam": ("colormap", dict(scale=1.0, seam="poisson")),
    "chosen-noseam": ("chosen", dict(scale="auto", seam="none")),
    "chosen": ("chosen", dict(scale="auto", seam="poisson")),
    "chosen+colours": ("colours", dict(scale="auto", seam="poisson")),
    "chosen+prior": ("prior", dict(scale="auto", seam="poisson")),
    "chosen+prior+colours": ("prior-colours", dict(scale="auto", seam="poisson")),
    "chosen+prior+colours+mild": ("prior-colours-mild", dict(scale="auto", seam="poisson")),
    "chosen+prior+colours+mild2": ("prior-colours-mild2", dict(scale="auto", seam="poisson")),
    "chosen+prior+colours+mild, map stride 2": ("prior-colours-mild-stride2", dict(scale="auto", seam="poisson")),
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default=str(REPO / "runs" / "ablation"), help="folder of the ablation's run folders")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "ablation"), help="output folder")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=128, help="training resolution")
    p.add_argument("--n", type=int, default=24, help="synthetic samples per setting")
    p.add_argument("--eval-only", action="store_true", help="evaluate the runs there, train nothing")
    p.add_argument("--train-only", action="store_true", help="train (or resume) the runs, evaluate nothing")
    p.add_argument("--only", default=None, help="comma-separated trainings to run (default: all)")
    return p.parse_args(argv)


def train_variant(name: str, changes: dict, a) -> Path:
    """Train (or resume, or find finished) the variant's run; its run folder."""
    from pastenet.checkpoint import latest_checkpoint
    from pastenet.train import TrainOptions, train

    out = Path(a.runs) / name
    existing = sorted(out.glob("0*")) if out.is_dir() else []
    if existing:
        run = existing[-1]
        ck = latest_checkpoint(run / "checkpoints")
        done = ck is not None and int(ck.name.split("-")[1]) >= a.steps
        if done or a.eval_only:
            return run
        print(f"{name}: resuming {run}", flush=True)
        return train(resume=run, changes={"steps": a.steps}).run_dir
    if a.eval_only:
        raise SystemExit(f"{name}: no run in {out}; train it first")
    options = TrainOptions(
        stream=True, dataset="faces,faces-wild", resolution=a.size, sigma=15.0 * a.size / 512, steps=a.steps, batch=a.batch,
        device="cpu", out=str(out), checkpoint_every=250, sample_every=a.steps, keep=1, progress=False, **changes,
    )
    t0 = time.perf_counter()
    result = train(options)
    print(f"{name}: {result.step} steps in {time.perf_counter() - t0:.0f} s ({result.stats.get('it_s', 0):.2f} it/s)", flush=True)
    return result.run_dir


def main(argv=None) -> int:
    a = parse_args(argv)
    only = set(a.only.split(",")) if a.only else set(TRAININGS)
    runs = {name: train_variant(name, TRAININGS[name], a) for name in TRAININGS if name in only}
    if a.train_only:
        return 0
    from benchmarks.evaluation import quick

    rows = {row: (runs[run], kw) for row, (run, kw) in ROWS.items() if run in runs}
    table, results = quick.evaluate(rows, n=a.n)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"steps": a.steps, "batch": a.batch, "size": a.size, "trainings": TRAININGS, "rows": {k: [str(v[0]), v[1]] for k, v in rows.items()}}
    (out / "results.json").write_text(json.dumps({**meta, "results": results}, indent=1, default=str) + "\n")
    (out / "table.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
