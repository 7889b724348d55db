"""Benchmark tuple generation (issue 3): pastegen against its peers, and generate-and-store to HDF5.

Everything is measured in one run, on real photos: the first ``--photos`` face photos of
``$PASTEGEN_DATA_ROOT/faces/train`` (default ``../shared/data`` beside the repository), decoded
once, up front, by ``pastegen.decode_image``. pastegen's ``faces`` preset (512x512, σ = 15) samples
one parameter set per photo (``TupleGenerator(photos, preset("faces"), seed=0).sample_params(i)``)
and every implementation renders the same in-memory 512x512 crops with the same parameters
(albumentations draws its own warp and colour parameters; it gets the same masks and mixing grids).

Part 1, tuple generation, tuples/s (median of ``--repeats`` timed repeats after a warm-up; each
repeat renders at least ``--min-tuples`` tuples and about ``--seconds`` of work per process):

- pastegen, uint8 and float32: ``pastegen.kernels.render_tuple`` when ``pastegen.kernels`` imports
  and renders (label "kernel"), else ``pastegen.pipeline.render`` (label "numpy"); one thread; all
  cores as the kernel's ``threads=cpu_count`` in one process and as ``cpu_count`` processes;
- albumentations (``benchmarks/peers/albumentations_pipeline.py``): Perspective +
  RandomBrightnessContrast + ColorJitter, two colour draws mixed by the same upsampled 10x10 grid,
  mask composite; uint8 and float32; 1 process (OpenCV 1 thread, and OpenCV's own threads) and
  ``cpu_count`` processes. The blend and composite use OpenCV's fused calls (``cv2.blendLinear``,
  masked ``cv2.bitwise_and``), the fastest way we found; an informational row writes them with
  NumPy broadcasting as most code does (about 3x slower per tuple). The targets use the fast one;
- NumPy + OpenCV (``benchmarks/peers/opencv_numpy.py``), the same T: whole frame, and only on the
  mask's bounding box;
- the pure NumPy path (``pastegen.pipeline.render_numpy``), and
  the scikit-image reference ``pastegen/reference.py`` on a few tuples (one process);
- kornia is skipped when torch is not installed.

Processes are spawned workers that receive the photos and parameters when they start; a timed
repeat lines them up on a barrier and only their rendering loops are timed
(``benchmarks/peers/timing.py``). One-process rows run in this process with OpenCV limited to one
thread (``cv2.setNumThreads(1)``), workers too. The machine is shared: after every row is warmed
up, the rows are timed round-robin (round r times every row once), so load bursts hit all
implementations alike, and the pass/fail ratios also show their per-round spread. A fixed
NumPy workload (``benchmarks/peers/probe.py``) timed with the rows shows how much of the cores
the run actually got (``N`` processes doing ``N``x the work of one on an idle machine).

Part 2, generate and store: ``pastegen.make`` (``faces`` preset, all 600 face training photos as
sources, scanned once beforehand and passed as a ``SourceScan``, so the scan is not timed) for
every compression in ``pastegen.store.COMPRESSIONS`` with ``jobs=1`` and ``jobs=cpu_count``. The
default compression makes ``--default-count`` tuples (1,200: each photo used twice, the main use
``pastegen make --dataset faces --count 1200``, where make's decoded-photo cache serves the second
epoch); the other compressions ``--count`` tuples (256, for time). Per row:
tuples/s (wall time of ``make``, including the commit's fsync), MB per tuple (file size / count)
and random-read tuples/s (every tuple once in random order through ``pastegen.open_tuples``, file
in the page cache).

It prints the tables, ratios measured in this run, the pass/fail lines of the targets, and writes
JSON with the machine's description to ``benchmarks/results/generation.json``
(``generation-quick.json`` with ``--quick``).

Usage::

    python benchmarks/generation.py            # full run (minutes; more without the kernels)
    python benchmarks/generation.py --quick    # smoke run, about a minute
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402

import pastegen  # noqa: E402
from benchmarks.peers import make_renderer  # noqa: E402
from benchmarks.peers.pastegen_impls import kernel_module  # noqa: E402
from benchmarks.peers.timing import InProcess, ProcessPool, set_cv2_threads  # noqa: E402

SIZE = 512
PRESET = "faces"
TARGET_RATIO_VS_ALBUMENTATIONS = 8.0
#: threads=N in one process (render_tuples) against one thread (render_tuple), uint8.
TARGET_THREAD_SCALING = 1.7
#: make to disk against the lower of the disk's ceiling and make's own rate on tmpfs.
TARGET_MAKE_FRACTION = 0.9
#: Tuples per render_tuples call in the batch rows.
BATCH = 32
#: (info lines) absolute rates of the first generation issue, kept for comparison with old runs.
TARGET_TUPLES_PER_S = 1500.0
TARGET_STORE_TUPLES_PER_S = 400.0
TARGET_STORE_MB_PER_TUPLE = 1.6


# --- data -------------------------------------------------------------------------------------


def data_root() -> Path:
    return Path(os.environ.get("PASTEGEN_DATA_ROOT", REPO.parent / "shared" / "data"))


def face_paths() -> list[str]:
    try:
        paths = pastegen.dataset_paths("faces", data_root=data_root(), split="train")
    except Exception as e:  # noqa: BLE001 - report and stop
        sys.exit(f"no face photos under {data_root() / 'faces' / 'train'} ({e}); set PASTEGEN_DATA_ROOT")
    if not paths:
        sys.exit(f"no face photos under {data_root() / 'faces' / 'train'}; set PASTEGEN_DATA_ROOT")
    return paths


def load_items(paths: list[str], n: int, spec, seed: int) -> tuple[list, list[str]]:
    """``[(crop, params)]`` for tuples 0..n-1 of a generator over the first n decoded photos."""
    paths = paths[:n]
    photos = [pastegen.decode_image(p) for p in paths]
    gen = pastegen.TupleGenerator(photos, spec, seed)
    items = []
    for i in range(len(photos)):
        params = gen.sample_params(i)
        crop = np.ascontiguousarray(gen.crop_image(params))
        assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.uint8
        items.append((crop, params))
    return items, paths


# --- machine ----------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # noqa: BLE001
        return None
    return getattr(mod, "__version__", None) or getattr(mod, "version", None)


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty_files": len([x for x in git("status", "--porcelain").splitlines() if x])}
    except Exception:  # noqa: BLE001
        return {}


def machine_info() -> dict:
    import h5py

    info = {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": _version("numba"),
        "opencv": cv2.__version__,
        "albumentations": _version("albumentations"),
        "albucore": _version("albucore"),
        "h5py": h5py.version.version,
        "hdf5": h5py.version.hdf5_version,
        "hdf5plugin": _version("hdf5plugin"),
        "joblib": _version("joblib"),
        "torch": _version("torch"),
        "kornia": _version("kornia"),
        "pastegen": pastegen.__version__,
        "git": git_state(),
        "env": {
            k: os.environ.get(k)
            for k in ("OMP_WAIT_POLICY", "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "BLOSC_NTHREADS")
        },
    }
    return info


def numba_threading_layer() -> str | None:
    try:
        import numba

        return numba.threading_layer()
    except Exception:  # noqa: BLE001 - no parallel kernel ran, or numba missing
        return None


# --- part 1: generation -----------------------------------------------------------------------


def kernel_check(items, spec) -> dict:
    """Whether the kernels import and render; the first call's time (compile or cache load)."""
    mod, why = kernel_module()
    if mod is None:
        return {"available": False, "reason": why}
    out = {"available": True, "module": getattr(mod, "__file__", None)}
    for dtype in ("uint8", "float32"):
        try:
            r = make_renderer("pastegen-kernel", spec, dtype=dtype, threads=1)
            t0 = time.perf_counter()
            r(*items[0])
            out[f"first_call_s_{dtype}"] = time.perf_counter() - t0
        except Exception as e:  # noqa: BLE001 - mid-edit kernels: fall back to NumPy
            return {"available": False, "reason": f"render_tuple failed ({dtype}): {e!r}", "traceback": traceback.format_exc(limit=4)}
    return out


def agreement(items, spec, have_kernel: bool, n: int) -> dict:
    """How each implementation's tuples compare with ``pastegen.render`` on the first n items."""
    ref = make_renderer("pastegen-numpy", spec, dtype="uint8")
    ref32 = make_renderer("pastegen-numpy", spec, dtype="float32")
    cands = {
        "opencv-numpy": make_renderer("opencv-numpy", spec, dtype="uint8"),
        "opencv-numpy-roi": make_renderer("opencv-numpy", spec, dtype="uint8", roi=True),
        "albumentations": make_renderer("albumentations", spec, dtype="uint8"),
    }
    if have_kernel:
        cands["pastegen-kernel"] = make_renderer("pastegen-kernel", spec, dtype="uint8", threads=1)
    res: dict = {}
    for name, r in cands.items():
        worst, over1, masked, m_diff, t_equal = 0, 0, 0, 0, True
        for image, params in items[:n]:
            a_T, a_S, a_M = ref(image, params)
            b_T, b_S, b_M = (np.asarray(x) for x in r(image, params))
            m_diff += int(np.count_nonzero(a_M != b_M))
            masked += int(a_M.sum()) * 3
            if name != "albumentations":  # its colours and warp are its own random draws
                d = np.abs(a_S.astype(np.int16) - b_S.astype(np.int16))
                worst = max(worst, int(d.max()))
                over1 += int(np.count_nonzero(d > 1))
                t_equal &= bool(np.array_equal(a_T, b_T))
        row = {"mask_pixels_differing_fraction": m_diff / (masked / 3)}
        if name != "albumentations":
            row.update(I_S_max_abs_diff_levels=worst, I_S_fraction_off_by_more_than_1=over1 / masked, I_T_equal=t_equal)
        res[name] = row
    if have_kernel:
        k32 = make_renderer("pastegen-kernel", spec, dtype="float32", threads=1)
        worst = 0.0
        for image, params in items[:n]:
            a = ref32(image, params)[1]
            b = np.asarray(k32(image, params)[1], dtype=np.float32)
            if b.shape == a.shape:
                worst = max(worst, float(np.abs(a - b).max()))
            else:
                worst = float("nan")
        res["pastegen-kernel-float32"] = {"I_S_max_abs_diff": worst}
    return res


def configs(have_kernel: bool, nproc: int) -> list[dict]:
    """What part 1 measures: one dict per row."""
    pg = "pastegen-kernel" if have_kernel else "pastegen-numpy"
    pg_label = "pastegen (kernel)" if have_kernel else "pastegen (numpy)"
    rows = []

    def add(group, impl, label, dtype, processes, threads=1, cv2_threads=1, tag="", **options):
        opts = dict(options, dtype=dtype)
        kernel = impl.startswith("pastegen-kernel")
        if kernel:
            opts["threads"] = threads
        shown = threads if kernel else cv2_threads  # the threads the row runs on
        rid = f"{group}/{dtype}/{processes}p{shown}t{tag}"
        rows.append(
            dict(
                id=rid, group=group, impl=impl, label=label, dtype=dtype, processes=processes, threads=shown,
                cv2_threads=cv2_threads, options=opts,
            )
        )

    batch_label = f"pastegen render_tuples, {BATCH} per call"
    for dtype in ("uint8", "float32"):
        add("pastegen", pg, pg_label, dtype, 1)
        if have_kernel:
            add("pastegen-batch", "pastegen-kernel-batch", batch_label, dtype, 1, threads=1, tag="-batch", batch=BATCH)
        if have_kernel and nproc > 1:
            add("pastegen", pg, pg_label + f", threads={nproc}", dtype, 1, threads=nproc)
            add(
                "pastegen-batch", "pastegen-kernel-batch", f"{batch_label}, threads={nproc}", dtype, 1,
                threads=nproc, tag="-batch", batch=BATCH,
            )
        if nproc > 1:
            add("pastegen", pg, pg_label, dtype, nproc)
            if have_kernel:
                add("pastegen-batch", "pastegen-kernel-batch", batch_label, dtype, nproc, threads=1, tag="-batch", batch=BATCH)
    if have_kernel:
        add("numpy", "pastegen-numpy", "pure NumPy (pastegen.render_numpy)", "uint8", 1)
        if nproc > 1:
            add("numpy", "pastegen-numpy", "pure NumPy (pastegen.render_numpy)", "uint8", nproc)
    for dtype in ("uint8", "float32"):
        add("albumentations", "albumentations", "albumentations", dtype, 1)
        if dtype == "uint8" and nproc > 1:
            add("albumentations", "albumentations", f"albumentations, OpenCV {nproc} threads", dtype, 1, cv2_threads=nproc)
        if nproc > 1:
            add("albumentations", "albumentations", "albumentations", dtype, nproc)
    label = "albumentations, NumPy blend/composite"
    add("albumentations-numpy", "albumentations", label, "uint8", 1, composite="numpy")
    if nproc > 1:
        add("albumentations-numpy", "albumentations", label, "uint8", nproc, composite="numpy")
    for roi, group, label in ((False, "opencv", "NumPy + OpenCV"), (True, "opencv-roi", "NumPy + OpenCV, mask box only")):
        add(group, "opencv-numpy", label, "uint8", 1, roi=roi)
        if nproc > 1:
            add(group, "opencv-numpy", label, "uint8", nproc, roi=roi)
    return rows


def prepare(runner, cfg: dict, args) -> dict:
    """Build and warm up a row's renderer and size its repeats (tuples per repeat and process)."""
    name, opts = cfg["impl"], cfg["options"]
    set_cv2_threads(cfg["cv2_threads"])
    t0 = time.perf_counter()
    runner.run(name, opts, 1, 0)  # build, compile or load from cache, first touch of the buffers
    first = time.perf_counter() - t0
    rate = runner.run(name, opts, args.calibrate, 1)  # all processes together
    per_proc_rate = rate / runner.processes
    seconds = max(0.25, args.seconds / 4) if cfg["group"] == "probe" else args.seconds
    n = int(min(args.max_tuples, max(args.min_tuples, math.ceil(seconds * per_proc_rate))))
    return {"n": n, "first": first, "rates": [], "began": t0}


def run_phase(runner, cfgs: list[dict], args, log, errors: list[str]) -> list[dict]:
    """Warm every row up, then time the rows round-robin, ``--repeats`` rounds.

    Interleaving puts every implementation through the same moments of a shared machine's load,
    so the ratios of one run are fair even when the absolute figures drift.
    """
    prepared = []
    for cfg in cfgs:
        try:
            prepared.append((cfg, prepare(runner, cfg, args)))
            if prepared[-1][1]["first"] > 1.0:
                log(f"  ({cfg['id']}: first call {prepared[-1][1]['first']:.1f} s: compile, or import and start-up)")
        except Exception as e:  # noqa: BLE001 - report the row, keep the others
            errors.append(f"{cfg['id']}: {e!r}")
            log(f"  {cfg['id']}: FAILED {e!r}")
    for r in range(args.repeats):
        t0 = time.perf_counter()
        for cfg, st in list(prepared):
            set_cv2_threads(cfg["cv2_threads"])
            try:
                st["rates"].append(runner.run(cfg["impl"], cfg["options"], st["n"], (r * st["n"]) % len(runner.items)))
            except Exception as e:  # noqa: BLE001
                errors.append(f"{cfg['id']} (round {r + 1}): {e!r}")
                log(f"  {cfg['id']}: FAILED {e!r}")
                prepared.remove((cfg, st))
        log(f"  round {r + 1}/{args.repeats} done in {time.perf_counter() - t0:.1f} s (load average {os.getloadavg()[0]:.2f})")
    set_cv2_threads(1)
    rows = []
    for cfg, st in prepared:
        med = statistics.median(st["rates"])
        rows.append(
            {
                **{k: cfg[k] for k in ("id", "group", "impl", "label", "dtype", "processes", "threads", "cv2_threads")},
                "options": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in cfg["options"].items()},
                "tuples_per_s": med,
                "ms_per_tuple_per_process": 1e3 * runner.processes / med,
                "tuples_per_s_all": st["rates"],
                "tuples_per_repeat_per_process": st["n"],
                "warmup_first_call_s": st["first"],
            }
        )
        if cfg["group"] != "probe":
            log(f"  {cfg['label']:44s} {cfg['dtype']:7s} {cfg['processes']} process(es) x {cfg['threads']} thread(s): {med:8.1f} tuples/s")
    return rows


def probe_cfg(processes: int) -> dict:
    return dict(
        id=f"probe/-/{processes}p1t", group="probe", impl="cpu-probe", label="CPU probe (fixed NumPy work)", dtype="-",
        processes=processes, threads=1, cv2_threads=1, options={},
    )


def generation_part(items, spec, args, have_kernel: bool, log) -> tuple[list[dict], list[str], dict]:
    nproc = args.jobs
    errors: list[str] = []
    cfgs = configs(have_kernel, nproc)
    log("  one process (rows timed round-robin):")
    inproc = InProcess(items, spec)
    rows = run_phase(inproc, [probe_cfg(1)] + [c for c in cfgs if c["processes"] == 1], args, log, errors)
    layer = numba_threading_layer()
    inproc.close()

    multi = [c for c in cfgs if c["processes"] > 1]
    if multi:
        t0 = time.perf_counter()
        pool = ProcessPool(items, spec, nproc, cv2_threads=1)
        try:
            pool.run("cpu-probe", {}, 1, 0)  # start-up of the workers
            log(f"  {nproc} processes (workers started in {time.perf_counter() - t0:.1f} s; rows timed round-robin):")
            rows += run_phase(pool, [probe_cfg(nproc)] + multi, args, log, errors)
        finally:
            pool.close()
    extra = {"numba_threading_layer": layer}
    p1, pn = find(rows, "probe", "-", 1), find(rows, "probe", "-", nproc)
    if p1 and pn and nproc > 1:
        extra["cpu_probe_parallelism"] = pn["tuples_per_s"] / p1["tuples_per_s"]
        paired = [b / a for a, b in zip(p1["tuples_per_s_all"], pn["tuples_per_s_all"], strict=False)]
        log(
            f"  CPU probe: {nproc} processes did {extra['cpu_probe_parallelism']:.2f}x the work of one "
            f"(rounds {min(paired):.2f}-{max(paired):.2f}; {nproc} on an idle machine)"
        )
    return [r for r in rows if r["group"] != "probe"], errors, {**extra, "probe_rows": [r for r in rows if r["group"] == "probe"]}


def reference_part(items, spec, args, log) -> dict:
    r = make_renderer("pastegen-reference", spec)
    times = []
    for k in range(args.reference_tuples):
        t0 = time.perf_counter()
        r(*items[k % len(items)])
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    log(f"  pastegen/reference.py (scikit-image, float64)  uint8   1 process:            {1 / med:8.3f} tuples/s ({len(times)} tuples)")
    return {
        "label": "pastegen/reference.py (scikit-image, float64)",
        "dtype": "uint8",
        "processes": 1,
        "tuples": len(times),
        "seconds_per_tuple_all": times,
        "tuples_per_s": 1 / med,
    }


# --- part 2: generate and store ---------------------------------------------------------------


def read_all(path: Path, count: int, seed: int = 2) -> float:
    """Tuples/s reading every tuple once in random order, the file in the page cache (read once
    beforehand: ``make`` drops the pages it has written, see ``pastegen.store.writer``)."""
    with open(path, "rb") as fh:
        while fh.read(8 << 20):
            pass
    order = np.random.default_rng(seed).permutation(count)
    t0 = time.perf_counter()
    with pastegen.open_tuples(path) as tf:
        for i in order:
            tf[int(i)]
    return count / (time.perf_counter() - t0)


def store_part(paths: list[str], spec, args, log) -> dict:
    from pastegen.precompute import BATCH_SIZE
    from pastegen.store import COMPRESSIONS, DEFAULT_COMPRESSION

    if args.compressions:
        compressions = [c.strip() for c in args.compressions.split(",") if c.strip()]
    else:
        compressions = ["none", DEFAULT_COMPRESSION] if args.quick else list(COMPRESSIONS)
    # the main use: every face training photo, more tuples than photos for the default compression
    sources = paths if args.all_photos else paths[: min(len(paths), args.count)]
    t0 = time.perf_counter()
    scan = pastegen.scan_sources(sources, jobs=args.jobs)
    scan_s = time.perf_counter() - t0
    log(f"  scanned {len(scan.images)} source photos in {scan_s:.1f} s (not timed below)")
    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="pastegen-genbench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows, errors = [], []
    jobs_list = [1] + ([args.jobs] if args.jobs > 1 else [])
    ram = _tmpfs_dir(args)
    disk = None
    try:
        disk = disk_ceiling(tmp, args.disk_mb)
        log(
            f"  disk ceiling in {tmp}: {disk['mb_s']:.0f} MB/s (median of {len(disk['mb_s_all'])}: {disk['mb_written']} MB written"
            f"{' with O_DIRECT' if disk['direct'] else ''}, then fdatasync)"
        )
        if ram is not None:
            log(f"  tmpfs for make's own rate: {ram}")
        for jobs in jobs_list:
            warm = tmp / "warm.h5"
            t0 = time.perf_counter()
            pastegen.make(warm, scan, spec, count=min(args.count, max(2, 2 * BATCH_SIZE * jobs)), jobs=jobs, overwrite=True)
            warm.unlink()
            log(f"  jobs={jobs}: warm-up make in {time.perf_counter() - t0:.1f} s")
            # the default compression on disk and on tmpfs: one untimed full-size make in each place
            # first (a virtual machine's first touch of page-cache memory costs more than the write
            # itself), then the timed repeats alternate between the two, so both see the same moments
            groups = [[(comp, "disk", tmp)] for comp in compressions if comp != DEFAULT_COMPRESSION]
            paired = [(DEFAULT_COMPRESSION, "disk", tmp)] + ([(DEFAULT_COMPRESSION, "tmpfs", ram)] if ram is not None else [])
            if DEFAULT_COMPRESSION in compressions:
                groups.insert(0, paired)
            for group in groups:
                stats = {where: {"writes": [], "make_s": [], "reads": [], "size": 0} for _, where, _ in group}
                failed = set()
                started = time.perf_counter()
                for rep in range(-1 if len(group) > 1 else 0, args.store_repeats):
                    for comp, where, folder in group:
                        if where in failed:
                            continue
                        count = args.default_count if comp == DEFAULT_COMPRESSION else args.count
                        path = folder / f"gen_{comp}_{jobs}.h5"
                        try:
                            os.sync()
                            t0 = time.perf_counter()
                            res = pastegen.make(path, scan, spec, count=count, seed=0, jobs=jobs, compression=comp, overwrite=True)
                            dt = time.perf_counter() - t0
                            if rep >= 0:
                                st = stats[where]
                                st["writes"].append(count / dt)
                                st["make_s"].append(getattr(res, "seconds", dt))
                                st["size"] = os.path.getsize(path)
                                st["reads"].append(read_all(path, count))
                            path.unlink()
                        except Exception as e:  # noqa: BLE001
                            errors.append(f"make jobs={jobs} {comp} {where}: {e!r}")
                            log(f"  jobs={jobs} {comp} {where}: FAILED {e!r}")
                            path.unlink(missing_ok=True)
                            failed.add(where)
                    spent = time.perf_counter() - started
                    if 0 <= rep and rep + 1 < args.store_repeats and spent + spent / (rep + 2) > args.store_budget:
                        break
                for comp, where, _ in group:
                    st = stats[where]
                    if where in failed or not st["writes"]:
                        continue
                    count = args.default_count if comp == DEFAULT_COMPRESSION else args.count
                    row = {
                        "compression": comp,
                        "default": comp == DEFAULT_COMPRESSION,
                        "where": where,
                        "jobs": jobs,
                        "count": count,
                        "sources": len(scan.images),
                        "tuples_per_s": statistics.median(st["writes"]),
                        "tuples_per_s_all": st["writes"],
                        "make_seconds_all": st["make_s"],
                        "mb_per_tuple": st["size"] / count / 1e6,
                        "read_tuples_per_s": statistics.median(st["reads"]),
                        "read_tuples_per_s_all": st["reads"],
                        "repeats": len(st["writes"]),
                    }
                    rows.append(row)
                    log(
                        f"  jobs={jobs} {comp:11s} {where:5s} {row['tuples_per_s']:7.1f} tuples/s  {row['mb_per_tuple']:.2f} MB/tuple  "
                        f"read {row['read_tuples_per_s']:7.0f} tuples/s  ({row['repeats']} run(s))"
                    )
        small = small_make(tmp, args, rows, log)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if ram is not None:
            shutil.rmtree(ram, ignore_errors=True)
    fits = []
    for jobs in jobs_list:
        on_disk = next((r for r in rows if r["default"] and r["where"] == "disk" and r["jobs"] == jobs), None)
        on_ram = next((r for r in rows if r["default"] and r["where"] == "tmpfs" and r["jobs"] == jobs), None)
        if on_disk and on_ram and disk:
            ceiling = disk["mb_s"] / on_disk["mb_per_tuple"]
            fits.append(
                {
                    "jobs": jobs,
                    "disk_tuples_per_s": on_disk["tuples_per_s"],
                    "tmpfs_tuples_per_s": on_ram["tuples_per_s"],
                    "disk_mb_s": disk["mb_s"],
                    "mb_per_tuple": on_disk["mb_per_tuple"],
                    "ceiling_tuples_per_s": ceiling,
                    "fraction": on_disk["tuples_per_s"] / min(ceiling, on_ram["tuples_per_s"]),
                }
            )
            log(
                f"  jobs={jobs}: make to disk {on_disk['tuples_per_s']:.1f} tuples/s = {fits[-1]['fraction']:.2f} x min(disk ceiling "
                f"{ceiling:.1f}, tmpfs {on_ram['tuples_per_s']:.1f})"
            )
    return {
        "disk": disk,
        "disk_fit": fits,
        "small_make": small,
        "count": args.count,
        "default_count": args.default_count,
        "sources": len(scan.images),
        "scan_seconds": scan_s,
        "compressions": compressions,
        "default_compression": DEFAULT_COMPRESSION,
        "results": rows,
        "errors": errors,
    }


def _tmpfs_dir(args) -> Path | None:
    """A fresh folder on tmpfs (``--tmpfs``, default /dev/shm) for make's rate without a disk, or None."""
    root = Path(args.tmpfs) if args.tmpfs else Path("/dev/shm")
    if args.tmpfs == "none" or not root.is_dir() or not os.access(root, os.W_OK):
        return None
    return Path(tempfile.mkdtemp(prefix="pastegen-genbench-", dir=root))


def disk_ceiling(folder: Path, mb: int, repeats: int = 3) -> dict:
    """Sequential write speed of ``folder``'s disk: ``mb`` MB in 8 MB blocks, then ``fdatasync``,
    median of ``repeats`` runs; incompressible bytes. Written with ``O_DIRECT`` where the file
    system takes it (the device's speed: through the page cache, a virtual machine's first touch
    of fresh cache memory made the same write 370 or 2,450 MB/s), else as ``dd bs=8M
    conv=fdatasync`` would."""
    import mmap

    block = mmap.mmap(-1, 8 << 20)  # page-aligned, as O_DIRECT needs
    block.write(np.random.default_rng(0).integers(0, 256, 8 << 20, dtype=np.uint8).tobytes())
    rates, direct = [], hasattr(os, "O_DIRECT")
    path = folder / "disk-ceiling.bin"
    n = max(1, mb // 8)
    try:
        for _ in range(repeats):
            os.sync()
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            try:
                fd = os.open(path, flags | (os.O_DIRECT if direct else 0), 0o644)
                t0 = time.perf_counter()
                for _ in range(n):
                    os.write(fd, block)
            except OSError:  # no O_DIRECT on this file system (tmpfs, some FUSE): through the cache
                if not direct:
                    raise
                direct = False
                os.close(fd)
                fd = os.open(path, flags, 0o644)
                t0 = time.perf_counter()
                for _ in range(n):
                    os.write(fd, block)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
            rates.append(n * 8 * (1 << 20) / 1e6 / (time.perf_counter() - t0))
            path.unlink()
    finally:
        path.unlink(missing_ok=True)
        block.close()
    return {"folder": str(folder), "mb_written": n * 8, "direct": direct, "mb_s": statistics.median(rates), "mb_s_all": rates}


def small_make(tmp: Path, args, rows: list[dict], log) -> dict | None:
    """End-to-end wall time of ``pastegen make --count N`` as a user runs it (a new process), twice:
    with an empty scan cache, then with the cache the first run filled; the fixed cost is the
    second run's wall time minus its tuples' share at the jobs=1 rate measured above."""
    rate = next((r["tuples_per_s"] for r in rows if r["default"] and r.get("where") == "disk" and r["jobs"] == 1), None)
    if rate is None:
        return None
    count = args.small_count
    env = dict(os.environ, PASTEGEN_DATA_ROOT=str(data_root()), PASTEGEN_CACHE_DIR=str(tmp / "scan-cache"))
    cmd = [sys.executable, "-m", "pastegen.cli", "make", "--dataset", PRESET, "--count", str(count), "--size", str(SIZE), "--jobs", "1", "-q"]
    walls = []
    for k in range(2):
        out = tmp / f"small-{k}.h5"
        t0 = time.perf_counter()
        subprocess.run([*cmd, str(out)], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
        out.unlink()
    small = {
        "count": count,
        "first_wall_seconds": walls[0],
        "wall_seconds": walls[1],
        "tuple_seconds": count / rate,
        "fixed_seconds": walls[1] - count / rate,
        "command": " ".join(cmd[2:]),
    }
    log(
        f"  small make ({count} tuples, a new process): {walls[0]:.2f} s with an empty scan cache, {walls[1]:.2f} s with it; "
        f"fixed cost {small['fixed_seconds']:.2f} s"
    )
    return small


# --- report -----------------------------------------------------------------------------------


def find(rows, group, dtype, processes, threads=None):
    for r in rows:
        if r["group"] == group and r["dtype"] == dtype and r["processes"] == processes and (threads is None or r["threads"] == threads):
            return r
    return None


def ratios(rows: list[dict], nproc: int) -> dict:
    """Speed-ups of pastegen over every other row with the same dtype and number of processes."""
    out = {}
    for r in rows:
        if not r["group"].startswith("pastegen"):
            continue
        key = r["id"]
        out[key] = {}
        for o in rows:
            if o["group"].startswith("pastegen") or o["dtype"] != r["dtype"] or o["processes"] != r["processes"]:
                continue
            out[key][o["id"]] = r["tuples_per_s"] / o["tuples_per_s"]
        # all cores within one process (threads) against the peers' all-core processes
        if r["processes"] == 1 and r["threads"] > 1:
            for o in rows:
                if not o["group"].startswith("pastegen") and o["dtype"] == r["dtype"] and o["processes"] == nproc:
                    out[key][o["id"]] = r["tuples_per_s"] / o["tuples_per_s"]
    return out


def print_table(rows: list[dict], nproc: int) -> None:
    print()
    print(
        "| implementation | dtype | processes x threads | tuples/s (median) | min-max | ms/tuple/process "
        "| tuples/repeat/process | vs albumentations | pastegen speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        alb_procs = nproc if r["threads"] > 1 and r["group"].startswith("pastegen") else r["processes"]
        alb = find(rows, "albumentations", r["dtype"], alb_procs, 1)
        pg = find(rows, "pastegen", r["dtype"], r["processes"], 1)
        vs_alb = f"{r['tuples_per_s'] / alb['tuples_per_s']:.2f}x" if alb and alb is not r else "-"
        vs_pg = f"{pg['tuples_per_s'] / r['tuples_per_s']:.2f}x" if pg and not r["group"].startswith("pastegen") else "-"
        spread = f"{min(r['tuples_per_s_all']):.1f}-{max(r['tuples_per_s_all']):.1f}"
        print(
            f"| {r['label']} | {r['dtype']} | {r['processes']} x {r['threads']} | {r['tuples_per_s']:.1f} | {spread} "
            f"| {r['ms_per_tuple_per_process']:.2f} | {r['tuples_per_repeat_per_process']} | {vs_alb} | {vs_pg} |"
        )
    print("(vs albumentations: this row / albumentations with the same dtype and processes, all-core threads rows against")
    print(f" albumentations with {nproc} processes; pastegen speed-up: pastegen with the same dtype and processes / this row)")


def targets(rows: list[dict], store: dict | None, nproc: int) -> list[dict]:
    out = []

    def line(name, value, goal, ok, detail):
        out.append({"target": name, "value": value, "goal": goal, "pass": bool(ok) if value is not None else None, "detail": detail})

    def info(name, value, goal, detail):
        out.append({"target": f"(info) {name}", "value": value, "goal": goal, "pass": None, "detail": detail})

    def ratio_info(name, goal, row, peer):
        """An informative ``row / peer`` line (no pass or fail)."""
        info(name, row["tuples_per_s"] / peer["tuples_per_s"], goal, f"{row['tuples_per_s']:.1f} vs {peer['tuples_per_s']:.1f} tuples/s")

    def ratio_target(name, goal, row, peer, detail):
        """A ``row / peer`` target, with the spread of the per-round ratios."""
        v = row["tuples_per_s"] / peer["tuples_per_s"]
        paired = [a / b for a, b in zip(row["tuples_per_s_all"], peer["tuples_per_s_all"], strict=False)]
        line(name, v, goal, v >= goal, f"{detail}; per round {min(paired):.2f}-{max(paired):.2f}")

    for procs in sorted({1, nproc}):
        one_call = find(rows, "pastegen", "uint8", procs, 1)
        bulk = find(rows, "pastegen-batch", "uint8", procs, 1)
        pg = bulk or one_call  # the target: the bulk API (render_tuples, one thread per process)
        alb = find(rows, "albumentations", "uint8", procs, 1)
        if pg and alb:
            ratio_target(
                f"uint8 512x512 pastegen >= {TARGET_RATIO_VS_ALBUMENTATIONS:g}x albumentations, {procs} process(es)",
                TARGET_RATIO_VS_ALBUMENTATIONS,
                pg,
                alb,
                f"{pg['label']} {pg['tuples_per_s']:.1f} vs albumentations {alb['tuples_per_s']:.1f} tuples/s",
            )
        if bulk and one_call and alb:
            ratio_info(f"the same ratio with one render_tuple call per tuple, {procs} process(es)", TARGET_RATIO_VS_ALBUMENTATIONS, one_call, alb)
        alb_np = find(rows, "albumentations-numpy", "uint8", procs, 1)
        if pg and alb_np:
            name = f"the same ratio against albumentations with a NumPy blend/composite, {procs} process(es)"
            ratio_info(name, TARGET_RATIO_VS_ALBUMENTATIONS, pg, alb_np)
    one = find(rows, "pastegen", "uint8", 1, 1)
    batch_one = find(rows, "pastegen-batch", "uint8", 1, 1)
    batch = find(rows, "pastegen-batch", "uint8", 1, nproc) if nproc > 1 else None
    split = find(rows, "pastegen", "uint8", 1, nproc) if nproc > 1 else None
    if batch_one and batch:
        ratio_target(
            f"uint8 threads={nproc} in one process (render_tuples) >= {TARGET_THREAD_SCALING:g}x threads=1",
            TARGET_THREAD_SCALING,
            batch,
            batch_one,
            f"{batch['tuples_per_s']:.1f} vs {batch_one['tuples_per_s']:.1f} tuples/s (render_tuples, one thread)",
        )
    if one and batch:
        ratio_info(f"render_tuples threads={nproc} / render_tuple threads=1 (one call per tuple)", TARGET_THREAD_SCALING, batch, one)
    two_procs = find(rows, "pastegen-batch", "uint8", nproc, 1) if nproc > 1 else None
    if batch_one and two_procs:
        name = f"what {nproc} processes get here (render_tuples, one thread each) / one process: the machine's own scaling"
        ratio_info(name, TARGET_THREAD_SCALING, two_procs, batch_one)
    if one and split:
        info(f"one tuple split over {nproc} threads (render_tuple threads={nproc}) / threads=1", split["tuples_per_s"] / one["tuples_per_s"], 1.0, "")
    allcore = [r for r in rows if r["group"].startswith("pastegen") and r["dtype"] == "uint8" and r["processes"] * r["threads"] == nproc and nproc > 1]
    if allcore:
        best = max(allcore, key=lambda r: r["tuples_per_s"])
        info(
            f"pastegen tuples/s (uint8, all {nproc} cores; the first issue's goal {TARGET_TUPLES_PER_S:g} on another machine)",
            best["tuples_per_s"],
            TARGET_TUPLES_PER_S,
            f"best: {best['label']}, {best['processes']} process(es) x {best['threads']} thread(s)",
        )
    if store:
        for fit in store.get("disk_fit", []):
            line(
                f"make (jobs={fit['jobs']}) to disk >= {TARGET_MAKE_FRACTION:g} x min(disk ceiling, make on tmpfs)",
                fit["fraction"],
                TARGET_MAKE_FRACTION,
                fit["fraction"] >= TARGET_MAKE_FRACTION,
                f"{fit['disk_tuples_per_s']:.1f} tuples/s to disk; disk ceiling {fit['ceiling_tuples_per_s']:.1f} tuples/s "
                f"({fit['disk_mb_s']:.0f} MB/s / {fit['mb_per_tuple']:.2f} MB per tuple); on tmpfs {fit['tmpfs_tuples_per_s']:.1f} tuples/s",
            )
        default = [r for r in store["results"] if r["default"] and r.get("where", "disk") == "disk"]
        if default:
            best = max(default, key=lambda r: r["tuples_per_s"])
            info(
                f"generate+store ({store['default_compression']}) tuples/s (the first issue's goal {TARGET_STORE_TUPLES_PER_S:g} "
                f"at <= {TARGET_STORE_MB_PER_TUPLE} MB/tuple)",
                best["tuples_per_s"],
                TARGET_STORE_TUPLES_PER_S,
                f"best: jobs={best['jobs']}, {best['tuples_per_s']:.1f} tuples/s, {best['mb_per_tuple']:.2f} MB/tuple",
            )
        small = store.get("small_make")
        if small:
            info(
                f"fixed cost of a small make (`pastegen make --count {small['count']}`, seconds before its tuples)",
                small["fixed_seconds"],
                0.0,
                f"wall {small['wall_seconds']:.2f} s (first run {small['first_wall_seconds']:.2f} s, scan cache cold); "
                f"its tuples at the jobs=1 rate take {small['tuple_seconds']:.2f} s",
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: few photos, repeats and tuples (about a minute)")
    ap.add_argument("--count", type=int, default=None, help="tuples per HDF5 file in part 2 for the non-default compressions (default 256; quick 16)")
    ap.add_argument(
        "--default-count", type=int, default=None,
        help="tuples per HDF5 file for the default compression (default 1200, two per face photo: the main use; quick 16)",
    )
    ap.add_argument(
        "--first-photos", dest="all_photos", action="store_false",
        help="part 2 uses only the first --count face photos (one per tuple, as before 0.x) instead of all 600",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per row; medians are reported (default 5; quick 3)")
    ap.add_argument("--photos", type=int, default=None, help="face photos decoded for part 1 (default 64; quick 16)")
    ap.add_argument("--seconds", type=float, default=None, help="target seconds of work per repeat (default 2; quick 0.15)")
    ap.add_argument("--min-tuples", type=int, default=None, help="least tuples per repeat and process (default 16; quick 2)")
    ap.add_argument("--max-tuples", type=int, default=20000, help="most tuples per repeat and process")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes (and kernel threads) for 'all cores' (default: cpu count)")
    ap.add_argument(
        "--compressions", default=None, help="comma-separated subset of COMPRESSIONS for part 2 (default all; quick: none and the default)"
    )
    ap.add_argument("--store-repeats", type=int, default=None, help="make() runs per compression and jobs (default 3; quick 1)")
    ap.add_argument("--store-budget", type=float, default=60.0, help="stop repeating a make() row after about this many seconds")
    ap.add_argument("--reference-tuples", type=int, default=None, help="tuples timed through pastegen/reference.py (default 3; quick 1; 0 skips)")
    ap.add_argument("--no-kernel", action="store_true", help="time pastegen's NumPy path even when pastegen.kernels is there")
    ap.add_argument("--skip-store", action="store_true", help="skip part 2")
    ap.add_argument("--skip-generation", action="store_true", help="skip part 1")
    ap.add_argument("--tmp", default=None, help="folder for the HDF5 files of part 2 (default: a temporary folder)")
    ap.add_argument("--tmpfs", default=None, help="tmpfs folder for make's own rate, without a disk (default /dev/shm; 'none' skips)")
    ap.add_argument("--disk-mb", type=int, default=None, help="MB written to measure the disk's ceiling (default 512; quick 64)")
    ap.add_argument("--small-count", type=int, default=16, help="tuples of the small make whose fixed cost is measured")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="JSON output (default benchmarks/results/generation.json; quick: generation-quick.json)")
    args = ap.parse_args(argv)
    q = args.quick
    defaults = dict(  # (quick, full)
        count=(16, 256), default_count=(16, 1200), repeats=(3, 5), photos=(16, 64), seconds=(0.15, 2.0), min_tuples=(2, 16),
        store_repeats=(1, 3), reference_tuples=(1, 3), disk_mb=(64, 512),
    )
    for k, (quick, full) in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, quick if q else full)
    args.calibrate = 1 if q else 4
    args.jobs = max(1, args.jobs)
    out = Path(args.out) if args.out else REPO / "benchmarks" / "results" / ("generation-quick.json" if q else "generation.json")

    started = time.perf_counter()
    load_before = os.getloadavg()
    def log(text: str) -> None:
        for line in text.split("\n"):
            print(f"[{time.perf_counter() - started:6.1f} s] {line}" if line else "", flush=True)

    spec = pastegen.preset(PRESET)
    paths = face_paths()
    t0 = time.perf_counter()
    items, used = load_items(paths, args.photos, spec, args.seed)
    mask_frac = float(np.mean([it[1].mask.area / (SIZE * SIZE) for it in items]))
    log(
        f"{len(items)} face photos from {data_root() / 'faces' / 'train'} decoded in {time.perf_counter() - t0:.1f} s; "
        f"preset {PRESET!r} ({spec.height}x{spec.width}, sigma {spec.geometric.sigma:g}); mean mask {mask_frac:.0%} of the image; "
        f"{os.cpu_count()} CPUs ({cpu_model()}); jobs {args.jobs}"
    )
    set_cv2_threads(1)
    kcheck = {"available": False, "reason": "--no-kernel"} if args.no_kernel else kernel_check(items, spec)
    have_kernel = kcheck["available"]
    status = "available" if have_kernel else "NOT available: " + kcheck["reason"].splitlines()[0]
    log(f"pastegen.kernels: {status} -> pastegen rows use the {'kernel' if have_kernel else 'numpy'} path")
    # never import torch here: its OpenMP runtime in the same process slows pastegen's 2-thread rows
    if importlib.util.find_spec("torch") is not None:
        kornia_note = "torch is installed but the kornia peer is not implemented"
    else:
        kornia_note = "skipped: torch is not installed"
    log(f"kornia: {kornia_note}")

    result: dict = {
        "benchmark": "generation",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine_info(),
        "settings": {k: v for k, v in vars(args).items()},
        "preset": PRESET,
        "spec": spec.to_dict(),
        "photos": [os.path.basename(p) for p in used],
        "mean_mask_fraction": mask_frac,
        "kernel": kcheck,
        "kornia": kornia_note,
        "notes": [
            "tuples/s: median over repeats, rows timed round-robin; processes = spawned workers holding the photos and parameters, "
            "only their render loops timed (barrier start, first start to last end)",
            "1-process rows run with cv2.setNumThreads(1) unless the row says otherwise; workers use 1 OpenCV thread and kernel threads=1",
            "albumentations draws its own warp and colour parameters (scale matched to sigma by RMS); masks and mixing grids are pastegen's",
            "part 2 times pastegen.make from a pre-scanned SourceScan (the scan is timed separately); "
            "reads are random order through open_tuples with the file in the page cache",
            "albumentations rows blend and composite with cv2.blendLinear and masked cv2.bitwise_and; "
            "the albumentations-numpy rows with NumPy broadcasting",
        ],
    }
    errors: list[str] = []

    if not args.skip_generation:
        log(f"\nagreement with pastegen.render (first {2 if q else 4} tuples):")
        result["agreement"] = agreement(items, spec, have_kernel, min(2 if q else 4, len(items)))
        for k, v in result["agreement"].items():
            log(f"  {k}: {v}")
        log("\npart 1: tuple generation, 512x512")
        rows, errs, extra = generation_part(items, spec, args, have_kernel, log)
        errors += errs
        result["generation"] = rows
        result["machine"]["numba_threading_layer"] = extra["numba_threading_layer"]
        result["cpu_probe"] = {"parallelism": extra.get("cpu_probe_parallelism"), "rows": extra["probe_rows"]}
        if args.reference_tuples > 0:
            result["reference"] = reference_part(items, spec, args, log)
        result["ratios"] = ratios(rows, args.jobs)
    else:
        rows = []

    store = None
    if not args.skip_store:
        log(f"\npart 2: generate and store {args.default_count} tuples (default compression; others {args.count}) with pastegen.make")
        store = store_part(paths, spec, args, log)
        errors += store["errors"]
        result["store"] = store

    if rows:
        print_table(rows, args.jobs)
        if "reference" in result:
            ref = result["reference"]
            pg1 = find(rows, "pastegen", "uint8", 1, 1)
            extra = f"; pastegen uint8 1 process is {pg1['tuples_per_s'] / ref['tuples_per_s']:.0f}x faster" if pg1 else ""
            print(f"pastegen/reference.py: {ref['tuples_per_s']:.3f} tuples/s ({ref['tuples']} tuple(s), 1 process){extra}")
        if not have_kernel:
            print("(no kernels: the pastegen rows ARE the pure NumPy path, pastegen.pipeline.render)")
    if store and store["results"]:
        print()
        disk = store.get("disk") or {}
        print(f"CPU: {cpu_model()}; disk ceiling: {disk.get('mb_s', float('nan')):.0f} MB/s ({disk.get('folder', '?')})")
        print("| compression | where | jobs | generate+store tuples/s | MB per tuple | disk ceiling, tuples/s | random read tuples/s | runs |")
        print("|---|---|---|---|---|---|---|---|")
        for r in store["results"]:
            name = f"**{r['compression']}** (default)" if r["default"] else r["compression"]
            where = r.get("where", "disk")
            ceiling = f"{disk['mb_s'] / r['mb_per_tuple']:.0f}" if disk and where == "disk" else "-"
            print(
                f"| {name} | {where} | {r['jobs']} | {r['tuples_per_s']:.1f} | {r['mb_per_tuple']:.2f} | {ceiling} "
                f"| {r['read_tuples_per_s']:.0f} | {r['repeats']} |"
            )

    # A run that skips a part keeps that part's figures from the last run's file (and says so), so
    # the two parts can be measured separately, each on a quiet machine.
    skipped = (["agreement", "generation", "cpu_probe", "reference", "ratios"] if args.skip_generation else []) + (
        ["store"] if args.skip_store else []
    )
    if skipped and out.exists():
        try:
            previous = json.loads(out.read_text())
        except (OSError, json.JSONDecodeError):
            previous = {}
        kept = [k for k in skipped if k in previous]
        for k in kept:
            result[k] = previous[k]
        if kept:
            result["carried_over"] = {"keys": kept, "from_run_of": previous.get("date"), "command": previous.get("command")}
    result["targets"] = targets(result.get("generation", []), result.get("store"), args.jobs)
    print()
    for t in result["targets"]:
        verdict = "info" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        print(f"{verdict}: {t['target']}: {t['value']:.2f} (goal {t['goal']:g}; {t['detail']})")
    par = result.get("cpu_probe", {}).get("parallelism")
    if par is not None and par < 0.8 * args.jobs:
        print(
            f"\nWARNING: the {args.jobs}-process rows got about {par:.2f} of {args.jobs} cores (CPU probe): the machine was busy; "
            "their absolute figures are low, compare ratios within a round or run again"
        )
    if errors:
        print("\nerrors:")
        for e in errors:
            print(f"  {e}")
    result["errors"] = errors
    result["loadavg_before"] = load_before
    result["loadavg_after"] = os.getloadavg()
    result["seconds"] = time.perf_counter() - started
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {out} ({result['seconds']:.0f} s; load average {load_before[0]:.2f} -> {result['loadavg_after'][0]:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
