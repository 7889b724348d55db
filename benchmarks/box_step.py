"""The zoo's training step on the masks' boxes against the whole image, on real streamed batches.

With ``--alpha 0`` and ``--recon mask`` (the zoo recipes), :class:`pastenet.train.step.GanStep`
computes ``Y`` and the loss only on each mask's bounding box (:mod:`pastenet.models.boxes`). This
script times that step against the same step on the whole image (``GanStep(..., boxes=False)``),
in one process, alternating, on the same batches: a few batches of the faces command's stream
(256 px, Poisson prior), rendered once and held in memory, so the loader is not timed (with
``--end-to-end``, every step takes its batch from the trainer's loader instead, ``--echo 4`` in the
training process, as the faces runs of ``benchmarks/README.md`` do, so the ratio is the
trainer's). It prints
the masks' bounding boxes as a fraction of the image, and the median wall and CPU time per step
of each path with their ratio (the CPU time, the process's own, is less disturbed by a shared
host's other guests).

Usage::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/box_step.py --threads 2 --repeats 7
    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/box_step.py --threads 2 --repeats 7 --steps 12 --end-to-end

Writes ``benchmarks/results/box_step.json`` (``box_step-end-to-end.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.generation import cpu_model  # noqa: E402
from pastenet.data import prepare  # noqa: E402
from pastenet.models import Discriminator, Generator, mask_boxes  # noqa: E402
from pastenet.train.datasource import build_data  # noqa: E402
from pastenet.train.distributed import World  # noqa: E402
from pastenet.train.networks import gan_step_kwargs  # noqa: E402
from pastenet.train.options import TrainOptions  # noqa: E402
from pastenet.train.step import GanStep  # noqa: E402

#: The faces command's 256-px stage (its data and loss; steps and rates do not matter here).
FACES_256 = dict(
    stream=True, dataset="faces,faces-wild", sigma=7.5, color_mix="0:1,0.1:1,0.25:1,0.5:1,1:2", geometric_mix="0:1,0.5:1,1:1",
    tone=0.5, preset="colormap", resolution=256, batch=8, beta1=0.9, alpha=0.0, recon="mask", border_weight=2.0, prior="poisson",
    truth="colours", workers=0,
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--batches", type=int, default=6, help="real batches held in memory")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per repeat and path")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--end-to-end", action="store_true", help="each step's batch from the loader (echo 4, in the training process)")
    ap.add_argument("--out", default=None, help="default: benchmarks/results/box_step[-end-to-end].json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    options = TrainOptions(**FACES_256, echo=4 if args.end_to_end else 1)
    world, cpu = World(), torch.device("cpu")
    loader = build_data(options, world).loader(options, world, cpu, start=0)
    batches = [prepare(next(loader), cpu) for _ in range(args.batches)]

    def batch(s: int) -> dict[str, torch.Tensor]:
        return prepare(next(loader), cpu) if args.end_to_end else batches[s % len(batches)]
    side = batches[0]["M"].shape[-1]
    fractions = [(y1 - y0) * (x1 - x0) / side**2 for b in batches for (y0, y1, x0, x1) in mask_boxes(b["M"])]

    config = options.model_config().replace(prior=options.prior)
    steps = {}
    for name, boxes in (("whole", False), ("boxes", True)):
        torch.manual_seed(0)
        G, D = Generator(config), Discriminator(config)
        steps[name] = GanStep(G, D, config, cpu, world, boxes=boxes, **gan_step_kwargs(options, world))
    wall: dict[str, list[float]] = {k: [] for k in steps}
    own: dict[str, list[float]] = {k: [] for k in steps}
    for r in range(args.repeats + 1):  # the first round warms up
        for name, step in steps.items():
            t, c = time.perf_counter(), time.process_time()
            for s in range(args.steps):
                step(batch(s), s)
            if r:
                wall[name].append((time.perf_counter() - t) / args.steps)
                own[name].append((time.process_time() - c) / args.steps)
    getattr(loader, "close", lambda: None)()
    med = {k: (statistics.median(wall[k]), statistics.median(own[k])) for k in steps}
    ratio_wall, ratio_cpu = med["whole"][0] / med["boxes"][0], med["whole"][1] / med["boxes"][1]
    what = "batches from the loader (echo 4, in this process)" if args.end_to_end else f"{len(batches)} batches held in memory"
    print(f"cpu: {cpu_model()}, torch {torch.__version__}, threads {torch.get_num_threads()}; {what}")
    spread = f"median {statistics.median(fractions):.3f}, max {max(fractions):.3f}"
    print(f"mask bounding boxes: {statistics.mean(fractions):.3f} of the image on average ({spread})")
    for k in steps:
        print(f"{k:5s}: {1 / med[k][0]:.2f} it/s, {med[k][1]:.3f} CPU s per step (medians of {args.repeats})")
    print(f"boxes / whole: {ratio_wall:.2f}x (wall), {ratio_cpu:.2f}x (CPU time)")
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"box_step{'-end-to-end' if args.end_to_end else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "end_to_end": args.end_to_end, "box_fraction_mean": statistics.mean(fractions),
        "wall_s": wall, "cpu_s": own, "ratio_wall": ratio_wall, "ratio_cpu": ratio_cpu,
    }  # fmt: skip
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
