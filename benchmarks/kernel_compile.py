"""Compile time, time to the first tuple, throughput and threading of :mod:`pastegen.kernels`.

Sections (each a median of ``--repeats`` runs; results go to
``benchmarks/results/kernel_compile.json`` with the machine and its load average):

1. **cold compile**: a fresh ``NUMBA_CACHE_DIR`` in a temporary folder, a subprocess times the
   first call of each kernel variant (uint8 / float32 output, serial / parallel driver);
2. **cached load**: a second subprocess on the same cache folder, the same first calls;
3. **first tuple**: with a warm cache (the default one), ``python -c`` that imports pastegen,
   builds a ``TupleGenerator`` over the bundled sample photos (``preset("faces")``: 512x512) and
   renders one tuple with :func:`pastegen.kernels.render_tuple`; the time from starting the
   process to the finished tuple (interpreter start-up included), goal < 1 s;
4. **throughput**: ``render_tuple`` on 512x512 face tuples (the first 32 photos of
   ``$PASTEGEN_DATA_ROOT/faces/train``, decoded with Pillow, parameters from
   ``TupleGenerator(..., preset("faces"))``, crops made beforehand, output buffers reused), uint8
   and float32, 1 and 2 threads, and two processes on one thread each, against the NumPy
   ``pipeline.render_numpy`` in the same run;
5. **threading layers** (skip with ``--skip-threading``): the cost of an empty 2-thread parallel
   region, and tuples/s on 1 and 2 threads with and without a second process burning one core,
   for pastegen's choice, ``workqueue`` and a spinning ``omp``.

The machine is shared: other processes come and go, so compare figures from the same run, look
at the recorded load average, and prefer the ratios.

Usage::

    PASTEGEN_DATA_ROOT=../shared/data python benchmarks/kernel_compile.py          # ~3-4 minutes
    python benchmarks/kernel_compile.py --repeats 1 --skip-threading               # quick look
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = [("uint8", 1), ("uint8", 2), ("float32", 1), ("float32", 2)]

# First call of each variant, timed in a fresh process (compiles, or loads Numba's cache).
CHILD_VARIANTS = textwrap.dedent(
    """
    import json, time
    t0 = time.perf_counter()
    import numpy as np
    from pastegen import kernels
    from pastegen.components import geometric, mask
    from pastegen.pipeline import TupleGenerator, TupleSpec
    t_import = time.perf_counter() - t0
    spec = TupleSpec(32, 32, geometric=geometric.GeometricSpec(sigma=2.0))
    photo = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    gen = TupleGenerator([photo], spec, seed=0)
    p = gen.sample_params(0)
    image = np.ascontiguousarray(gen.crop_image(p))
    out = {"import": t_import}
    for dtype, threads in VARIANTS:
        t = time.perf_counter()
        kernels.render_tuple(image, p, spec, dtype=dtype, threads=threads)
        out[f"{dtype}/{threads}"] = time.perf_counter() - t
    out["layer"] = kernels.threading_layer()
    print(json.dumps(out))
    """
).replace("VARIANTS", repr(VARIANTS))

# From process start to the first 512x512 tuple, warm cache.
CHILD_FIRST_TUPLE = textwrap.dedent(
    """
    import time
    t0 = time.perf_counter()
    import numpy as np
    import pastegen
    from pastegen import kernels
    t1 = time.perf_counter()
    gen = pastegen.TupleGenerator(pastegen.sample_image_paths(), pastegen.preset("faces"), seed=0)
    p = gen.sample_params(0)
    image = np.ascontiguousarray(gen.crop_image(p))
    t2 = time.perf_counter()
    t = kernels.render_tuple(image, p, gen.spec, threads=THREADS)
    t3 = time.perf_counter()
    assert t.I_S.shape == (512, 512, 3) and t.M.any()
    print(time.time(), t1 - t0, t2 - t1, t3 - t2)
    """
)

# Threading: tuples/s on 1 and 2 threads, alternated, optionally with a core-burning process.
CHILD_THREADS = textwrap.dedent(
    """
    import json, subprocess, sys, time
    import numpy as np
    from pastegen import kernels
    from pastegen.components import geometric
    from pastegen.pipeline import TupleGenerator, preset
    photos = [np.asarray(a) for a in np.load(sys.argv[1], allow_pickle=False).values()]
    spec = preset("faces")
    gen = TupleGenerator(photos, spec, seed=1)
    items = [(np.ascontiguousarray(gen.crop_image(p)), p) for p in map(gen.sample_params, range(16))]
    out = kernels.TupleBuffers.empty(512, 512)
    for threads in (1, 2):
        kernels.render_tuple(*items[0], spec, out=out, threads=threads)
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if sys.argv[2] == "burn" else None
    time.sleep(0.2)
    rates = {1: [], 2: []}
    try:
        for _ in range(int(sys.argv[3])):
            for threads in (1, 2):
                t = time.perf_counter()
                for image, p in items:
                    kernels.render_tuple(image, p, spec, out=out, threads=threads)
                rates[threads].append(len(items) / (time.perf_counter() - t))
    finally:
        if burner is not None:
            burner.kill()
    print(json.dumps({"layer": kernels.threading_layer(), "1": float(np.median(rates[1])), "2": float(np.median(rates[2]))}))
    """
)

# One of two worker processes, each on one thread: renders its tuples once a start file appears.
CHILD_PROCESS = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    from pastegen import kernels
    from pastegen.pipeline import TupleGenerator, preset
    photos = [np.asarray(a) for a in np.load(sys.argv[1], allow_pickle=False).values()]
    spec = preset("faces")
    gen = TupleGenerator(photos, spec, seed=int(sys.argv[3]))
    items = [(np.ascontiguousarray(gen.crop_image(p)), p) for p in map(gen.sample_params, range(32))]
    out = kernels.TupleBuffers.empty(512, 512)
    kernels.render_tuple(*items[0], spec, out=out, threads=1)
    open(sys.argv[2] + ".ready" + sys.argv[3], "w").close()
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.001)
    t = time.time()
    for _ in range(4):
        for image, p in items:
            kernels.render_tuple(image, p, spec, out=out, threads=1)
    print(json.dumps({"start": t, "end": time.time(), "tuples": 4 * len(items)}))
    """
)

# The cost of one empty 2-thread parallel region.
CHILD_REGION = textwrap.dedent(
    """
    import json, time
    import numpy as np, numba
    from numba import njit, prange
    from pastegen.kernels import _threading
    _threading.launch()

    @njit(parallel=True)
    def touch(a):
        for k in prange(a.shape[0]):
            a[k] += 1.0

    a = np.zeros(2)
    numba.set_num_threads(2)
    touch(a)
    ts = []
    for _ in range(2000):
        t = time.perf_counter()
        touch(a)
        ts.append(time.perf_counter() - t)
        s = 0
        for i in range(2000):  # ~50-100 us of Python between regions, as between tuples
            s += i
    median, p90 = float(np.median(ts) * 1e6), float(np.percentile(ts, 90) * 1e6)
    print(json.dumps({"layer": numba.threading_layer(), "median_us": median, "p90_us": p90}))
    """
)


def run_json(code: str, env: dict[str, str] | None = None, args: list[str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *(args or [])], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def base_env(**changes: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def compile_times(repeats: int) -> dict:
    cold, cached = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = base_env(NUMBA_CACHE_DIR=cache)
            cold.append(run_json(CHILD_VARIANTS, env))
            cached.append(run_json(CHILD_VARIANTS, env))
    keys = ["import"] + [f"{d}/{t}" for d, t in VARIANTS]
    result = {
        "cold_s": {k: median_of(cold, k) for k in keys},
        "cached_s": {k: median_of(cached, k) for k in keys},
        "layer": cold[0]["layer"],
    }
    result["cold_s"]["all variants"] = statistics.median(sum(r[f"{d}/{t}"] for d, t in VARIANTS) for r in cold)
    result["cached_s"]["all variants"] = statistics.median(sum(r[f"{d}/{t}"] for d, t in VARIANTS) for r in cached)
    return result


def first_tuple(repeats: int) -> dict:
    env = base_env()
    subprocess.run([sys.executable, "-c", "from pastegen import kernels; kernels.warm_up()"], env=env, cwd=REPO, check=True)
    result = {}
    for threads in (1, None):
        code = CHILD_FIRST_TUPLE.replace("THREADS", repr(threads))
        runs = []
        for _ in range(repeats):
            start = time.time()
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
            done, t_import, t_gen, t_render = (float(v) for v in out.stdout.split())
            runs.append({"total": done - start, "import": t_import, "generator+crop": t_gen, "render": t_render})
        result["threads=1" if threads == 1 else "threads=default"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return result


def load_faces(count: int) -> list[np.ndarray]:
    from PIL import Image

    root = Path(os.environ.get("PASTEGEN_DATA_ROOT", REPO.parent / "shared" / "data"))
    files = sorted(glob.glob(str(root / "faces" / "train" / "*")))[:count]
    if not files:
        raise SystemExit(f"no face photos under {root}/faces/train (set PASTEGEN_DATA_ROOT)")
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def throughput(photos: list[np.ndarray], count: int, repeats: int) -> dict:
    from pastegen import kernels, pipeline
    from pastegen.pipeline import TupleGenerator, preset

    render_numpy = getattr(pipeline, "render_numpy", pipeline.render)  # the plain NumPy path
    kernels.warm_up()
    spec = preset("faces")
    gen = TupleGenerator(photos, spec, seed=0, cache_size=len(photos))
    items = [(np.ascontiguousarray(gen.crop_image(p)), p) for p in map(gen.sample_params, range(count))]
    result: dict = {"tuples": count, "mean_mask_fraction": float(np.mean([p.mask.area for _, p in items]) / (512 * 512))}
    for dtype in ("uint8", "float32"):
        out = kernels.TupleBuffers.empty(512, 512, dtype)
        for threads in (1, 2):
            rates, cpu = [], []
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                for image, p in items:
                    kernels.render_tuple(image, p, spec, out=out, dtype=dtype, threads=threads)
                rates.append(count / (time.perf_counter() - t))
                cpu.append((time.process_time() - c) / count * 1e6)
            result[f"{dtype}/{threads} thread"] = {
                "tuples_per_s": statistics.median(rates),
                "best": max(rates),
                "cpu_us_per_tuple": statistics.median(cpu),
            }
    result["uint8/2 processes x 1 thread"] = {"tuples_per_s": two_processes(photos, repeats)}
    t = time.perf_counter()
    n = 4
    for image, p in items[:n]:
        render_numpy(image, p, spec)
    result["numpy pipeline.render_numpy (uint8, 1 thread)"] = {"tuples_per_s": n / (time.perf_counter() - t)}
    return result


def two_processes(photos: list[np.ndarray], repeats: int) -> float:
    """Aggregate tuples/s of two processes rendering at the same time, one thread each."""
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "photos.npz")
        np.savez(npz, *photos[:8])
        for r in range(repeats):
            go = os.path.join(tmp, f"go{r}")
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", CHILD_PROCESS, npz, go, str(k)], env=base_env(), cwd=REPO, stdout=subprocess.PIPE, text=True
                )
                for k in range(2)
            ]
            while not all(os.path.exists(go + ".ready" + str(k)) for k in range(2)):
                if any(p.poll() not in (None, 0) for p in procs):
                    raise RuntimeError("a worker process failed")
                time.sleep(0.01)
            open(go, "w").close()
            runs = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
            wall = max(r["end"] for r in runs) - min(r["start"] for r in runs)
            rates.append(sum(r["tuples"] for r in runs) / wall)
    return statistics.median(rates)


def threading_layers(photos: list[np.ndarray], repeats: int) -> dict:
    configs = {
        "pastegen's choice": {},
        "workqueue": {"NUMBA_THREADING_LAYER": "workqueue"},
        "omp, spinning (OMP_WAIT_POLICY=active)": {"NUMBA_THREADING_LAYER": "omp", "OMP_WAIT_POLICY": "active"},
    }
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "photos.npz")
        np.savez(npz, *photos[:8])
        for name, changes in configs.items():
            env = base_env(**changes) if changes else base_env(NUMBA_THREADING_LAYER=None, OMP_WAIT_POLICY=None)
            entry = {"empty region": run_json(CHILD_REGION, env)}
            for mode in ("idle", "burn"):
                runs = [run_json(CHILD_THREADS, env, [npz, mode, "6"]) for _ in range(repeats)]
                entry[mode] = {"layer": runs[0]["layer"], "1 thread": median_of(runs, "1"), "2 threads": median_of(runs, "2")}
            result[name] = entry
    return result


def machine() -> dict:
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        import numba

        info["numba"] = numba.__version__
    except ImportError:  # pragma: no cover
        pass
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (medians)")
    parser.add_argument("--count", type=int, default=32, help="tuples per throughput run")
    parser.add_argument("--skip-compile", action="store_true", help="skip the cold-compile section (the slowest)")
    parser.add_argument("--skip-threading", action="store_true", help="skip the threading-layer section")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "kernel_compile.json"))
    args = parser.parse_args()

    results: dict = {"machine": machine(), "load_average_start": os.getloadavg()}

    if not args.skip_compile:
        print("cold compile and cached load (fresh NUMBA_CACHE_DIR, subprocesses) ...", flush=True)
        results["compile"] = c = compile_times(args.repeats)
        print(f"{'variant':16s} {'cold s':>8s} {'cached s':>9s}")
        for key in c["cold_s"]:
            print(f"{key:16s} {c['cold_s'][key]:8.2f} {c['cached_s'][key]:9.3f}")

    print("time to the first 512x512 tuple, warm cache ...", flush=True)
    results["first_tuple_s"] = f = first_tuple(max(args.repeats, 5))
    for key, v in f.items():
        parts = f"import {v['import']:.3f}, generator+crop {v['generator+crop']:.3f}, render {v['render']:.3f}"
        print(f"  {key:16s} total {v['total']:.3f} s ({parts})")

    photos = load_faces(32)
    print("throughput, 512x512 faces ...", flush=True)
    results["throughput"] = t = throughput(photos, args.count, max(args.repeats, 5))
    print(f"  mean mask {t['mean_mask_fraction']:.1%} of the image")
    for key, v in t.items():
        if isinstance(v, dict):
            extra = f"  ({v['cpu_us_per_tuple']:.0f} us CPU per tuple, best {v['best']:.0f})" if "cpu_us_per_tuple" in v else ""
            print(f"  {key:40s} {v['tuples_per_s']:8.0f} tuples/s{extra}")

    if not args.skip_threading:
        print("threading layers (2-thread kernels while another process burns a core) ...", flush=True)
        results["threading"] = th = threading_layers(photos, args.repeats)
        for name, entry in th.items():
            r = entry["empty region"]
            print(f"  {name:40s} empty region {r['median_us']:7.1f} us (p90 {r['p90_us']:7.1f})  layer {r['layer']}")
            for mode in ("idle", "burn"):
                e = entry[mode]
                one, two = e["1 thread"], e["2 threads"]
                print(f"      {mode}: 1 thread {one:6.0f}  2 threads {two:6.0f} tuples/s  (x{two / one:.2f})")

    results["load_average_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
