"""Measure a model-zoo model against the baselines: the figures of its model card and of the README.

For a faces model: the real cases (30 ``cases/crosspaste.csv`` + 48 cross-person landmark cases,
at 512x512), the same-photo mild-change test (48 photos) and the synthetic faces at σ = 0-20 px
(colour strength 1) and strength 0 (σ = 10). For a scenes model: the synthetic scenes at σ = 0-20.
Outputs in ``benchmarks/results/zoo/<name>/``: ``tables.md``, ``figures.json`` (for
``pastenet export --figures``), CSVs and sheets (zoomed on each region)::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/zoo_figures.py faces-poisson-256
    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/zoo_figures.py scenes-poisson-256 --dataset scenes
    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/zoo_figures.py photos-poisson-256 --dataset faces,scenes   # a general model
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

from benchmarks.baselines import BASELINES  # noqa: E402
from benchmarks.evaluation import evalset, realrun, report  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="zoo name (or checkpoint path)")
    p.add_argument("--dataset", default="faces", help="faces, scenes, or both (faces,scenes: a general model)")
    p.add_argument("--n", type=int, default=40, help="synthetic samples per setting")
    p.add_argument("--sigmas", default="0,5,10,15,20")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    datasets = [d.strip() for d in a.dataset.split(",") if d.strip()]
    if not datasets or any(d not in ("faces", "scenes") for d in datasets):
        p.error(f"--dataset must be faces, scenes or faces,scenes, got {a.dataset!r}")
    import torch

    torch.set_num_threads(1)
    from pastenet.checkpoint import resolve_weights
    from pastenet.loading import load_generator

    t0 = time.perf_counter()
    root = evalset.data_root()
    ref = resolve_weights(a.model)  # once: what is loaded is what is hashed
    pm = load_generator(ref, device="cpu")
    sha = ref.sha256()
    out = Path(a.out) if a.out else REPO / "benchmarks" / "results" / "zoo" / Path(a.model).name
    out.mkdir(parents=True, exist_ok=True)
    label = Path(a.model).name
    methods = {"naive": BASELINES["naive"], "Poisson normal": BASELINES["poisson_normal"], "Poisson mixed": BASELINES["poisson_mixed"],
               "cv2 normal": BASELINES["cv2_normal"], "Reinhard": BASELINES["reinhard"], label: realrun.paste_method(pm)}
    if pm.config.output == "affine":
        methods[f"{label} (detail=map)"] = realrun.paste_method(pm, detail="map")
    lines = [f"# {label}", "", f"weights sha256 `{sha}`", ""]
    figures: dict = {}  # the card shows the sha256 of the exported file itself
    sigmas = [float(s) for s in a.sigmas.split(",")]
    for dataset in datasets:
        settings = [(s, 1.0) for s in sigmas] + ([(10.0, 0.0)] if dataset == "faces" else [])
        synth = realrun.synthetic_rows({k: v for k, v in methods.items() if k != "Poisson mixed"}, root, n=a.n, settings=settings, dataset=dataset)
        report.write_csv(out / ("synthetic.csv" if len(datasets) == 1 else f"synthetic-{dataset}.csv"), synth)
        lines += [f"## Synthetic {dataset} (256x256, {a.n} samples per setting): PSNR (dB) / fMSE", "", realrun.synthetic_table(synth), ""]
        best = {}
        for s, c in settings:
            base = max(realrun._mean(r["psnr"] for r in synth if r["method"] == m and r["sigma512"] == s and r["strength"] == c)
                       for m in methods if m not in (label, f"{label} (detail=map)") and m != "Poisson mixed")
            net = realrun._mean(r["psnr"] for r in synth if r["method"] == label and r["sigma512"] == s and r["strength"] == c)
            best[f"σ={s:g}, colour {c:g}"] = round(net - base, 2)
        key = "synthetic PSNR over the best baseline (dB)" if len(datasets) == 1 else f"synthetic {dataset}: PSNR over the best baseline (dB)"
        figures[key] = best
        lines += ["PSNR of the model minus the best baseline's: " + ", ".join(f"{k}: {v:+.2f} dB" for k, v in best.items()), ""]
    if "faces" in datasets:
        real = realrun.real_rows(methods, root, sheet_dir=out)
        report.write_csv(out / "real.csv", real)
        mild = realrun.mild_rows(methods, root, n=48, sheet=out / "mild.jpg")
        report.write_csv(out / "mild.csv", mild)
        good, total = realrun.verdicts(real, label, "Poisson normal")
        lines += ["## Real cases (512x512, no ground truth)", "", "All 78:", "", realrun.real_table(real), "",
                  "`cases/crosspaste.csv` (30):", "", realrun.real_table(real, "crosspaste"), "",
                  "Cross-person landmark cases (48):", "", realrun.real_table(real, "crossperson"), "",
                  f"At least as good as Poisson normal on the no-reference criteria (seam jump and ring ΔE within 10 %, "
                  f"detail correlation within 5 %): {good} of {total} cases.", "",
                  "## Same-photo mild change (48 photos)", "", realrun.mild_table(mild), ""]
        sel = [r for r in real if r["method"] == label]
        figures.update({
            "real seam jump": round(realrun._mean(r["seam_jump"] for r in sel), 2),
            "real detail corr": round(realrun._mean(r["detail_corr"] for r in sel), 3),
            "real detail amplitude": round(realrun._mean(r["detail_amp"] for r in sel), 2),
            "real ring ΔE": round(realrun._mean(r["ring_de"] for r in sel), 2),
            "real cases at least as good as Poisson normal": f"{good}/{total}",
            "mild-change L1": round(realrun._mean(r["l1"] for r in mild if r["method"] == label), 2),
        })
    lines += [f"Took {time.perf_counter() - t0:.0f} s on {torch.get_num_threads()} torch thread(s)."]
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    (out / "figures.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
