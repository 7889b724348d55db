"""Benchmark training speed (issue 4): it/s, samples/s, peak memory and FLOPs per iteration.

For each preset, one :class:`pastenet.train.step.GanStep` (the exact update the trainer runs:
G forward, D update with the gradient penalty, G update) is timed on synthetic batches that
live on the device already (random images in [-1, 1] and random rotated-rectangle-like box
masks), so the figures measure the networks and not the data loader. ``--steps`` timed steps
follow ``--warmup`` untimed ones; the figure is the median of ``--repeats`` repeats.

FLOPs per iteration are counted once with the rules of ``torch.utils.flop_counter`` at batch 1
(forward, backward and the gradient penalty's double backward; convolutions and matrix products,
2 FLOPs per multiply-add) and scaled by the batch. On a GPU the achieved fraction of the device's
dense bf16 peak is reported (H100 SXM and H200: 989 TFLOP/s; H100 PCIe: 756).

Usage::

    python benchmarks/training_speed.py                                  # paper-512 at batch 5, small-256 at 5 and 16
    python benchmarks/training_speed.py --device cpu --presets tiny --steps 5
    python benchmarks/training_speed.py --compile                        # torch.compile G (CUDA)
    python benchmarks/training_speed.py --device cpu --presets colormap:8 --channels-last on   # the zoo preset

Writes ``benchmarks/results/training_speed-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pastenet.config import preset  # noqa: E402
from pastenet.models import Discriminator, Generator  # noqa: E402
from pastenet.train.distributed import World  # noqa: E402
from pastenet.train.networks import gan_step_kwargs  # noqa: E402
from pastenet.train.options import TrainOptions  # noqa: E402
from pastenet.train.step import GanStep  # noqa: E402

PEAK_BF16_TFLOPS = {"H100 PCIe": 756.0, "H100": 989.0, "H200": 989.0, "A100": 312.0}

#: The training options each preset is timed with: the paper's for its presets; the model zoo's
#: recipe for ``colormap`` (beyond the paper: reconstruction only, so D is never run).
RECIPES = {"colormap": dict(alpha=0.0, recon="mask", border_weight=2.0, beta1=0.9)}


def _options(name: str, batch: int) -> TrainOptions:
    return TrainOptions(data="-", preset=name, batch=batch, **RECIPES.get(name, {}))


def synthetic_batch(batch: int, size: int, device: torch.device, channels_last: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    I = torch.rand(batch, 3, size, size, generator=g) * 2 - 1
    M = torch.zeros(batch, 1, size, size)
    for b in range(batch):
        h, w = torch.randint(size // 8, size // 3, (2,), generator=g).tolist()
        y, x = torch.randint(0, size - h, (1,), generator=g).item(), torch.randint(0, size - w, (1,), generator=g).item()
        M[b, :, y : y + h, x : x + w] = 1
    source = (I + 0.1 * torch.randn(I.shape, generator=g)).clamp(-1, 1)
    comp = I * (1 - M) + source * M
    out = {"I": I, "composite": comp, "M": M, "X": torch.cat([comp, M], 1)}
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return {k: v.to(device).contiguous(memory_format=fmt) for k, v in out.items()}


def count_flops(name: str, device: torch.device) -> float:
    """FLOPs of one training step at batch 1: every op in ``torch.utils.flop_counter.flop_registry``.

    A plain dispatch mode, not ``FlopCounterMode``: the latter's module tracker installs backward
    hooks that ``autograd.grad`` (the gradient penalty) does not support.
    """
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Counter(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            if packet in flop_registry:
                Counter.total += flop_registry[packet](*args, **kwargs, out_val=out)
            return out

    config = preset(name)
    torch.manual_seed(0)
    G, D = Generator(config).to(device), Discriminator(config).to(device)
    step = GanStep(G, D, config, device, World(), **gan_step_kwargs(_options(name, 1), World()))
    batch = synthetic_batch(1, config.resolution, device, False)
    with Counter():
        step(batch, 0)
    return float(Counter.total)


def device_peak(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return platform.processor() or platform.machine(), None
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_BF16_TFLOPS.items():
        if key in name:
            return name, peak
    return name, None


def measure(name: str, batch: int, device: torch.device, *, steps: int, warmup: int, repeats: int, amp: bool, channels_last: bool, compile_g: bool) -> dict:
    config = preset(name)
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G = Generator(config).to(device=device, memory_format=fmt)
    D = Discriminator(config).to(device=device, memory_format=fmt)
    options = _options(name, batch)
    if compile_g:
        torch._dynamo.reset()  # each preset compiles afresh: its own static graph, its own compile time
    compiled = torch.compile(G, dynamic=False) if compile_g else None
    step = GanStep(G, D, config, device, World(), amp=amp, compiled_G=compiled, **gan_step_kwargs(options, World()))
    data = synthetic_batch(batch, config.resolution, device, channels_last)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for s in range(warmup):
        step(data, s)
    sync()
    warm_s = time.perf_counter() - t0
    rates = []
    for r in range(repeats):
        sync()
        t0 = time.perf_counter()
        for s in range(steps):
            terms = step(data, warmup + r * steps + s)
        float(terms["l1"])
        sync()
        rates.append(steps / (time.perf_counter() - t0))
    peak_mb = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "preset": name,
        "batch": batch,
        "resolution": config.resolution,
        "G_params": sum(p.numel() for p in G.parameters()),
        "D_params": sum(p.numel() for p in D.parameters()),
        "it_s": statistics.median(rates),
        "it_s_repeats": rates,
        "samples_s": statistics.median(rates) * batch,
        "peak_mem_mb": peak_mb,
        "warmup_s": warm_s,
        "amp": amp,
        "channels_last": channels_last,
        "compile": compile_g,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["paper-512:5", "small-256:5", "small-256:16"], help="NAME:BATCH entries")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto")
    ap.add_argument("--channels-last", choices=["auto", "on", "off"], default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--no-flops", action="store_true")
    ap.add_argument("--flops-only", action="store_true", help="count FLOPs per iteration without timing (e.g. paper-512 on a CPU)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else torch.device(args.device)
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    channels_last = args.channels_last == "on" or (args.channels_last == "auto" and device.type == "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dev_name, peak = device_peak(device)
    print(
        f"device: {dev_name} ({device}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"amp={amp}, channels_last={channels_last}, compile={args.compile}"
    )
    rows = []
    flops_cache: dict[str, float] = {}
    for entry in args.presets:
        name, _, b = entry.partition(":")
        batch = int(b or 5)
        if args.flops_only:
            row = {"preset": name, "batch": batch, "it_s": None, "samples_s": None, "peak_mem_mb": None}
        else:
            row = measure(
                name, batch, device, steps=args.steps, warmup=args.warmup, repeats=args.repeats, amp=amp, channels_last=channels_last, compile_g=args.compile
            )
        if not args.no_flops:
            if name not in flops_cache:
                flops_cache[name] = count_flops(name, device)
            row["flops_per_iter"] = flops_cache[name] * batch
            row["achieved_tflops"] = row["flops_per_iter"] * row["it_s"] / 1e12 if row["it_s"] else None
            row["peak_tflops"] = peak
            row["fraction_of_peak"] = row["achieved_tflops"] / peak if peak and row["achieved_tflops"] else None
        rows.append(row)
        mem = f"{row['peak_mem_mb']:.0f} MB" if row["peak_mem_mb"] is not None else "-"
        fl = f", {row['flops_per_iter'] / 1e9:,.1f} GFLOP/iter" if "flops_per_iter" in row else ""
        fl += f", {row['achieved_tflops'] * 1e3:,.1f} GFLOP/s achieved" if row.get("achieved_tflops") else ""
        if row["it_s"] is None:
            print(f"{name:10s} batch {batch:3d}: {fl.lstrip(', ')}", flush=True)
            continue
        frac = f" ({100 * row['fraction_of_peak']:.1f}% of peak)" if row.get("fraction_of_peak") else ""
        print(f"{name:10s} batch {batch:3d}: {row['it_s']:8.2f} it/s  {row['samples_s']:8.1f} samples/s  peak {mem}{fl}{frac}", flush=True)
        if name == "paper-512" and batch == 5 and device.type == "cuda":
            print(
                f"  target >= 10 it/s on one H100: {'PASS' if row['it_s'] >= 10 else 'FAIL'} ({row['it_s']:.2f}); "
                f"250k iterations in {250_000 / row['it_s'] / 3600:.1f} h"
            )
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"training_speed-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": dev_name, "torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
