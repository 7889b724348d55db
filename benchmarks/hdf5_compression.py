"""Benchmark the HDF5 compression filters of :mod:`pastegen.store` on realistic 512x512 tuples.

For each filter in ``pastegen.store.COMPRESSIONS`` it writes ``--count`` tuples through
``TupleWriter`` (including the final flush, fsync and rename of ``commit()``), then reads them
back in random order through ``TupleFile`` (arrays and parameters; the file is in the page cache,
as it is right after generation). It reports

- write tuples/s (median of ``--repeats`` runs),
- MB per tuple (file size / count),
- random-read tuples/s (median of ``--repeats`` passes),

and the cost of the ``fletcher32`` checksums on the default filter (plain h5py, same datasets,
with and without the checksum). Results go to ``benchmarks/results/hdf5_compression.json``.

The tuples are made from real photos (``$PASTEGEN_DATA_ROOT/faces/train/*.jpg``, default
``../shared/data`` beside the repository): ``I`` is the photo at 512x512, ``M`` a rotated
rectangle covering 15-30% of the image, ``I_S`` a colour-changed ``I`` times ``M`` and
``I_T = I·(1−M)``.

Usage::

    python benchmarks/hdf5_compression.py            # ~2-3 minutes on 2 cores
    python benchmarks/hdf5_compression.py --count 50 --repeats 1   # quick look
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402

from pastegen.store import ARRAY_NAMES, COMPRESSIONS, DEFAULT_COMPRESSION, StoreLayout, TupleWriter, open_tuples  # noqa: E402
from pastegen.store.schema import _compression_kwargs  # noqa: E402

SIZE = 512
PARAM_FIELDS = {
    "crop/box": ((4,), "int64"),
    "geometric/offsets": ((4, 2), "float64"),
    "color_a/gain": ((3,), "float64"),
    "color_b/gain": ((3,), "float64"),
    "mix/grid": ((10, 10), "float64"),
    "mask/center": ((2,), "float64"),
    "mask/size": ((2,), "float64"),
    "mask/angle": ((), "float64"),
}
TARGET_TUPLES_PER_S = 400
TARGET_MB_PER_TUPLE = 1.6


def data_root() -> Path:
    return Path(os.environ.get("PASTEGEN_DATA_ROOT", REPO.parent / "shared" / "data"))


def load_photos(count: int) -> tuple[list[np.ndarray], list[str]]:
    from PIL import Image

    files = sorted(glob.glob(str(data_root() / "faces" / "train" / "*.jpg")))
    if not files:
        sys.exit(f"no photos found under {data_root() / 'faces' / 'train'} (set PASTEGEN_DATA_ROOT)")
    files = [files[i % len(files)] for i in range(count)]
    photos = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if im.size != (SIZE, SIZE):
                im = im.resize((SIZE, SIZE), Image.BILINEAR)
            photos.append(np.asarray(im, dtype=np.uint8))
    return photos, files


def rotated_rectangle(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    frac = rng.uniform(0.15, 0.30)
    aspect = rng.uniform(0.6, 1.6)
    angle = rng.uniform(0, math.pi)
    area = frac * SIZE * SIZE
    w = math.sqrt(area * aspect)
    h = area / w
    r = 0.5 * math.hypot(w, h)
    cy, cx = rng.uniform(r, SIZE - r, size=2) if r < SIZE / 2 else (SIZE / 2, SIZE / 2)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dy, dx = yy - cy, xx - cx
    u = dx * math.cos(angle) + dy * math.sin(angle)
    v = -dx * math.sin(angle) + dy * math.cos(angle)
    m = ((np.abs(u) <= w / 2) & (np.abs(v) <= h / 2)).astype(np.uint8)
    return m, {"center": np.array([cy, cx]), "size": np.array([h, w]), "angle": angle}


def make_tuples(photos: list[np.ndarray], seed: int = 0) -> list[tuple[dict, dict, int]]:
    rng = np.random.default_rng(seed)
    out = []
    for k, img in enumerate(photos):
        m, mp = rotated_rectangle(rng)
        gain = rng.uniform(0.7, 1.3, 3)
        bias = rng.uniform(-25, 25, 3)
        changed = np.clip(img.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
        arrays = {"I": img, "I_T": img * (1 - m)[..., None], "I_S": changed * m[..., None], "M": m}
        params = {
            "crop/box": np.array([0, 0, SIZE, SIZE]),
            "geometric/offsets": rng.normal(0, 15, (4, 2)),
            "color_a/gain": gain,
            "color_b/gain": rng.uniform(0.7, 1.3, 3),
            "mix/grid": rng.random((10, 10)),
            "mask/center": mp["center"],
            "mask/size": mp["size"],
            "mask/angle": mp["angle"],
        }
        out.append((arrays, params, k))
    return out


def write_file(path: Path, tuples, compression: str, sources: list[str]) -> tuple[float, float]:
    """Seconds to write everything (including commit) and seconds spent in commit."""
    layout = StoreLayout(count=len(tuples), height=SIZE, width=SIZE, param_fields=PARAM_FIELDS)
    attrs = {"spec": json.dumps({"name": "benchmark"}), "seed": 0, "sources": sources}
    t0 = time.perf_counter()
    with TupleWriter(path, layout, attrs=attrs, compression=compression, overwrite=True) as w:
        for i, (arrays, params, src) in enumerate(tuples):
            w.write(i, arrays, params, src)
        t1 = time.perf_counter()
        w.commit()
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def read_file(path: Path, order: np.ndarray) -> float:
    t0 = time.perf_counter()
    with open_tuples(path) as tf:
        for i in order:
            tf[int(i)]
    return time.perf_counter() - t0


def fletcher32_cost(tuples, tmp: Path, repeats: int) -> dict:
    """Write/read the image datasets with plain h5py, default filter, with and without fletcher32."""
    comp = _compression_kwargs(DEFAULT_COMPRESSION)
    n = len(tuples)
    res = {}
    for fl in (True, False):
        wt, rt, size = [], [], 0
        for _ in range(repeats):
            p = tmp / f"fletcher_{fl}.h5"
            os.sync()
            t0 = time.perf_counter()
            with h5py.File(p, "w", rdcc_nbytes=0) as f:
                ds = {}
                for name in ARRAY_NAMES:
                    shape = (SIZE, SIZE) if name == "M" else (SIZE, SIZE, 3)
                    ds[name] = f.create_dataset(name, (n, *shape), "u1", chunks=(1, *shape), fletcher32=fl, **comp)
                for i, (arrays, _, _) in enumerate(tuples):
                    for name in ARRAY_NAMES:
                        ds[name][i] = arrays[name]
            wt.append(time.perf_counter() - t0)
            size = p.stat().st_size
            os.sync()  # like commit()'s fsync: no writeback running during the reads
            order = np.random.default_rng(1).permutation(n)
            t0 = time.perf_counter()
            with h5py.File(p, "r") as f:
                dss = [f[name] for name in ARRAY_NAMES]
                for i in order:
                    for d in dss:
                        d[int(i)]
            rt.append(time.perf_counter() - t0)
            p.unlink()
        res["with" if fl else "without"] = {
            "write_tuples_per_s": n / statistics.median(wt),
            "read_tuples_per_s": n / statistics.median(rt),
            "mb_per_tuple": size / n / 1e6,
        }
    res["write_cost_percent"] = 100 * (res["without"]["write_tuples_per_s"] / res["with"]["write_tuples_per_s"] - 1)
    res["read_cost_percent"] = 100 * (res["without"]["read_tuples_per_s"] / res["with"]["read_tuples_per_s"] - 1)
    return res


def machine_info() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "h5py": h5py.version.version,
        "hdf5": h5py.version.hdf5_version,
        "hdf5plugin": hdf5plugin.version,
        "BLOSC_NTHREADS": os.environ.get("BLOSC_NTHREADS"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=200, help="tuples per file (default 200)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats per filter; medians are reported (default 3)")
    ap.add_argument("--compressions", default=",".join(COMPRESSIONS), help="comma-separated subset of the filters")
    ap.add_argument("--tmp", default=None, help="folder for the files written (default: a temporary folder)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "hdf5_compression.json"))
    args = ap.parse_args(argv)

    started = time.perf_counter()
    photos, files = load_photos(args.count)
    tuples = make_tuples(photos)
    raw_mb = sum(a.nbytes for a in tuples[0][0].values()) / 1e6
    mask_frac = float(np.mean([t[0]["M"].mean() for t in tuples]))
    print(f"{args.count} tuples of {SIZE}x{SIZE} from {data_root() / 'faces' / 'train'}, raw {raw_mb:.2f} MB per tuple, mean mask {mask_frac:.0%}")

    tmp = Path(args.tmp) if args.tmp else Path(tempfile.mkdtemp(prefix="pastegen-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for comp in args.compressions.split(","):
            path = tmp / f"bench_{comp}.h5"
            writes, commits, reads = [], [], []
            size = 0
            order = np.random.default_rng(2).permutation(args.count)
            for _ in range(args.repeats):
                os.sync()  # start each run without the previous run's dirty pages being written back
                total, commit = write_file(path, tuples, comp, files)
                writes.append(total)
                commits.append(commit)
                size = path.stat().st_size
                reads.append(read_file(path, order))
                path.unlink()
            row = {
                "compression": comp,
                "write_tuples_per_s": args.count / statistics.median(writes),
                "write_tuples_per_s_all": [args.count / t for t in writes],
                "commit_s": statistics.median(commits),
                "write_tuples_per_s_excl_commit": args.count / statistics.median([t - c for t, c in zip(writes, commits)]),
                "mb_per_tuple": size / args.count / 1e6,
                "read_tuples_per_s": args.count / statistics.median(reads),
                "read_tuples_per_s_all": [args.count / t for t in reads],
            }
            rows.append(row)
            print(f"  {comp:11s} write {row['write_tuples_per_s']:6.0f}/s  {row['mb_per_tuple']:.3f} MB/tuple  read {row['read_tuples_per_s']:6.0f}/s", flush=True)
        fl = fletcher32_cost(tuples, tmp, args.repeats)
    finally:
        if not args.tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    fits = [r for r in rows if r["mb_per_tuple"] <= TARGET_MB_PER_TUPLE]
    best = max(fits, key=lambda r: r["write_tuples_per_s"])["compression"] if fits else None

    print()
    print("| filter | write tuples/s | (without commit's fsync) | MB per tuple | random read tuples/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['compression']} | {r['write_tuples_per_s']:.0f} | {r['write_tuples_per_s_excl_commit']:.0f} "
            f"| {r['mb_per_tuple']:.2f} | {r['read_tuples_per_s']:.0f} |"
        )
    print()
    print(
        f"fletcher32 on {DEFAULT_COMPRESSION} (plain h5py, image datasets only): write {fl['with']['write_tuples_per_s']:.0f}/s with, "
        f"{fl['without']['write_tuples_per_s']:.0f}/s without ({fl['write_cost_percent']:+.0f}% faster without); read "
        f"{fl['with']['read_tuples_per_s']:.0f}/s with, {fl['without']['read_tuples_per_s']:.0f}/s without ({fl['read_cost_percent']:+.0f}%)"
    )
    print(f"fastest filter at <= {TARGET_MB_PER_TUPLE} MB per tuple: {best} (DEFAULT_COMPRESSION is {DEFAULT_COMPRESSION})")

    result = {
        "benchmark": "hdf5_compression",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine_info(),
        "count": args.count,
        "repeats": args.repeats,
        "size": SIZE,
        "raw_mb_per_tuple": raw_mb,
        "mean_mask_fraction": mask_frac,
        "notes": "write includes commit (flush, fsync, rename); reads are random order through TupleFile (arrays + params) with the file in the page cache; blosc single-threaded",
        "default_compression": DEFAULT_COMPRESSION,
        "recommended": best,
        "targets": {"tuples_per_s": TARGET_TUPLES_PER_S, "mb_per_tuple": TARGET_MB_PER_TUPLE},
        "results": rows,
        "fletcher32": fl,
        "seconds": time.perf_counter() - started,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
