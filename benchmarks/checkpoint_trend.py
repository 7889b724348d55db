"""Follow the two synthetic-and-mild figures of a faces run along its checkpoints.

For each checkpoint folder (or run, or zoo name) given: the same-photo mild-change L1 (48 held-out
photos at 256x256, :mod:`benchmarks.evaluation.mild`) and the synthetic faces PSNR at σ = 15 px,
colour strength 1 (40 frozen samples at 256x256), the two figures of issue 9 that pull against
each other, with Poisson normal's as the reference. It is quick (seconds per checkpoint on 2 cores)
so it can follow a run while it trains::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/checkpoint_trend.py \\
        RUN/checkpoints/step-00012000 RUN/checkpoints/step-00015000 --out trend.md

Prints (and writes with ``--out``) a Markdown table: one row per checkpoint, with the PSNR's margin
over the best baseline of the same samples (Poisson normal, cv2 normal or naive).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.baselines import BASELINES  # noqa: E402
from benchmarks.evaluation import evalset, metrics, mild  # noqa: E402

#: Baselines the PSNR margin is taken over.
REFERENCES = ("naive", "poisson_normal", "cv2_normal")


def _method(model):
    from pastenet.paste import paste

    def run(target, source, mask):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return paste(model, target, source, mask)

    return run


def mild_l1(f, samples: list) -> float:
    """Mean masked L1 to the original of ``f(target, source, mask)`` over mild samples."""
    return float(np.mean([mild.masked_l1(f(s.case.target, s.case.source, s.case.mask), s.original, s.case.mask) for s in samples]))


def mild_parts(methods: dict, root: Path, *, n_mild: int = mild.N) -> dict[str, dict[str, float]]:
    """``{label: {part: mild L1}}`` with each part of the mild change alone (``gain``, ``gamma``,
    ``offset``; the same photos, masks and draws as the whole change of :func:`evaluate`)."""
    samples = {p: mild.mild_samples(root, n_mild, 256, parts=(p,)) for p in mild.PARTS}
    return {label: {p: mild_l1(f, ss) for p, ss in samples.items()} for label, f in methods.items()}


def evaluate(methods: dict, root: Path, *, n_mild: int = mild.N, n: int = 40) -> dict[str, tuple[float, float]]:
    """``{label: (mild L1, σ=15 PSNR)}`` for ``{label: method(target, source, mask)}``."""
    samples = mild.mild_samples(root, n_mild, 256)
    synthetic = list(evalset.generate(evalset.Setting("faces", "sigma", 15.0, 1.0, n, 256, 2019), root))
    out = {}
    for label, f in methods.items():
        psnr = [metrics.psnr(f(s.I_T, s.S, s.M), s.I) for s in synthetic]
        out[label] = (mild_l1(f, samples), float(np.mean(psnr)))
    return out


def colour_oracle_psnr(root: Path, *, n: int = 40) -> float:
    """Mean σ = 15 PSNR of the colour-only oracle: ``T_geometric(I)`` inside the mask, the target outside.

    The pasted content where T put it, with the photo's own colours: what ``--truth colours``
    trains towards, so the best any colour correction can score (it cannot undo the warp).
    """
    import pastegen
    from pastegen.components import geometric

    st = evalset.Setting("faces", "sigma", 15.0, 1.0, n, 256, 2019)
    gen = pastegen.TupleGenerator(pastegen.dataset_paths("faces", data_root=root, split="test"), evalset.make_spec(st), seed=st.seed)
    scores = []
    for i, s in enumerate(evalset.generate(st, root)):
        warped = geometric.apply(s.I, gen.sample_params(i).geometric, border=gen.spec.geometric.border)
        y = np.where(s.M[..., None], np.clip(np.rint(warped), 0, 255).astype(np.uint8), s.I_T)
        scores.append(metrics.psnr(y, s.I))
    return float(np.mean(scores))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint folders, runs, weights files or zoo names")
    p.add_argument("--n-mild", type=int, default=mild.N, help="photos of the mild-change test")
    p.add_argument("--n", type=int, default=40, help="synthetic samples")
    p.add_argument("--out", type=Path, default=None, help="also write the table here")
    p.add_argument("--oracle", action="store_true", help="add the colour-only oracle's PSNR (the best a colour map can reach)")
    p.add_argument("--parts", action="store_true", help="also the mild L1 with each part of the change alone (gain, gamma, offset)")
    a = p.parse_args(argv)
    from pastenet.paste import load_generator

    root = evalset.data_root()
    base = evaluate({k: BASELINES[k] for k in REFERENCES}, root, n_mild=a.n_mild, n=a.n)
    best = max(v[1] for v in base.values())
    lines = ["| model | mild L1 ↓ | σ=15 PSNR (dB) | over the best baseline |", "|---|---|---|---|"]
    for k in REFERENCES:
        lines.append(f"| {k} | {base[k][0]:.2f} | {base[k][1]:.2f} | {base[k][1] - best:+.2f} |")
    if a.oracle:
        psnr = colour_oracle_psnr(root, n=a.n)
        lines.append(f"| colour oracle (T_geometric(I) inside the mask) | – | {psnr:.2f} | {psnr - best:+.2f} |")
    print("\n".join(lines), flush=True)
    methods = {"poisson_normal": BASELINES["poisson_normal"]}  # (for --parts)
    whole = {"poisson_normal": base["poisson_normal"][0]}  # the mild L1 of the whole change
    for ck in a.checkpoints:
        t0 = time.perf_counter()
        label = Path(ck).name if Path(ck).exists() else ck
        methods[label] = _method(load_generator(ck, device="cpu"))
        (l1, psnr), = evaluate({label: methods[label]}, root, n_mild=a.n_mild, n=a.n).values()
        whole[label] = l1
        lines.append(f"| {label} | {l1:.2f} | {psnr:.2f} | {psnr - best:+.2f} |")
        print(lines[-1], f"({time.perf_counter() - t0:.0f} s)", flush=True)
    if a.parts:
        table = {label: {"all": whole[label], **v} for label, v in mild_parts(methods, root, n_mild=a.n_mild).items()}
        cols = ["all", *mild.PARTS]
        lines += ["", "Mild L1 by part of the change (the others left at the identity):", "",
                  "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]  # fmt: skip
        lines += [f"| {label} | " + " | ".join(f"{v[c]:.2f}" for c in cols) + " |" for label, v in table.items()]
        print("\n".join(lines[-(len(table) + 4) :]), flush=True)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
