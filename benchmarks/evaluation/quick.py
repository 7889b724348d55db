"""The ablation's evaluation: several networks (run folder + paste options) against the baselines.

:func:`evaluate` runs naive, Poisson normal and each network on the real cases and the mild test
(:mod:`benchmarks.evaluation.realrun`) and on the synthetic faces at σ = 15 with colour strengths 1
and 0, and returns one Markdown table (a row per method) and the raw rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from benchmarks.baselines import BASELINES

from . import evalset, realrun

__all__ = ["evaluate"]


def _mean(rows, key, **where) -> float:
    return realrun._mean(r.get(key) for r in rows if all(r.get(k) == v for k, v in where.items()))


def evaluate(networks: Mapping[str, tuple[Path, dict]], *, n: int = 24, root: Path | None = None) -> tuple[str, dict]:
    """``(markdown, {"real": rows, "mild": rows, "synthetic": rows})`` for ``{label: (run, paste kwargs)}``."""
    from pastenet.paste import load_generator

    root = Path(root) if root is not None else evalset.data_root()
    methods = {"naive": BASELINES["naive"], "Poisson normal": BASELINES["poisson_normal"]}
    loaded: dict[str, object] = {}
    for label, (run, kwargs) in networks.items():
        if str(run) not in loaded:
            loaded[str(run)] = load_generator(run, device="cpu")
        methods[label] = realrun.paste_method(loaded[str(run)], **kwargs)
    real = realrun.real_rows(methods, root)
    mild = realrun.mild_rows(methods, root, n=n)
    synth = realrun.synthetic_rows(methods, root, n=n)
    head = ("| row | seam jump ↓ | detail corr ↑ | detail amp | ring ΔE ↓ | mild L1 ↓ | synthetic σ=15, colour 1: PSNR | colour 0: PSNR |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for m in methods:
        lines.append(
            f"| {m} | {_mean(real, 'seam_jump', method=m):.2f} | {_mean(real, 'detail_corr', method=m):.3f} | "
            f"{_mean(real, 'detail_amp', method=m):.2f} | {_mean(real, 'ring_de', method=m):.2f} | {_mean(mild, 'l1', method=m):.2f} | "
            f"{_mean(synth, 'psnr', method=m, strength=1.0):.2f} | {_mean(synth, 'psnr', method=m, strength=0.0):.2f} |"
        )
    return "\n".join(lines), {"real": real, "mild": mild, "synthetic": synth}
