"""Time per image of every method on a photo with a small mask, at 512x512 and 1024x2048.

The inputs are pastegen tuples (the target is the whole photo ``I``, the source the whole
``T(I)``) with a mask of 10-15 % of the shorter side at 1024x2048 and 15-25 % at 512x512
(about 100-150 px either way): the case of a small paste into a large photo. Each method runs
once to warm up (JIT, caches, cuDNN autotuning), then ``repeats`` times; the median is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from .evalset import data_root, render_sample

__all__ = ["speed_inputs", "time_methods"]


def speed_inputs(root=None, *, sizes=((512, 512), (1024, 2048)), use_sample: bool = False, seed: int = 7):
    """``{"HxW": (target, source, mask)}`` for each size."""
    import pastegen
    from pastegen.components.mask import MaskSpec

    out = {}
    for h, w in sizes:
        frac = (0.15, 0.25) if min(h, w) <= 512 else (0.10, 0.15)
        if use_sample:
            paths, base = pastegen.sample_image_paths(), pastegen.preset("sample")
        elif (h, w) == (512, 512):
            paths, base = pastegen.dataset_paths("faces", data_root=root or data_root(), split="test"), pastegen.preset("faces")
        else:
            paths, base = pastegen.dataset_paths("scenes", data_root=root or data_root(), split="test"), pastegen.preset("scenes")
        spec = base.replace(height=h, width=w, mask=MaskSpec(width=frac, height=frac))
        gen = pastegen.TupleGenerator(paths, spec, seed=seed)
        I, _, M, S, name = render_sample(gen, 0)
        out[f"{h}x{w}"] = (I, S, M)
    return out


def time_methods(methods: dict[str, Callable], inputs: dict, *, repeats: int = 3) -> list[dict]:
    """Rows ``{"method", "size", "seconds" (median), "runs", "mask_px"}``."""
    rows = []
    for size, (t, s, m) in inputs.items():
        for name, f in methods.items():
            f(t, s, m)  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                f(t, s, m)
                times.append(time.perf_counter() - t0)
            rows.append({"method": name, "size": size, "seconds": statistics.median(times), "runs": repeats, "mask_px": int(np.count_nonzero(m))})
    return rows
