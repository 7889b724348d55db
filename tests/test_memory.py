"""Memory stays flat in the number of tuples: ``make`` and ``TupleStream`` in fresh processes.

Each run happens in its own interpreter, which reports its peak resident set size
(``ru_maxrss``). 96x96 tuples are ~100 kB each (four images plus parameters), so keeping the
360 extra tuples of the larger run would add ~36 MB; the bound is 10 MB. What does grow is
HDF5's metadata cache (chunk index nodes of the file being written), ~1.5 kB per tuple until it
reaches its bound (measured: +12 MB at 8,000 tuples, +13 MB at 32,000: flat from there on), and
the writer's flag array (1 byte per tuple) and pending-index array (8 bytes per tuple).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.slow

SMALL, LARGE = 40, 400
BOUND_KB = 10 * 1024

CHILD = r"""
import json, os, resource, sys
from pathlib import Path
from pastegen.pipeline import preset
mode, n, folder, out, jobs = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
paths = sorted(str(p) for p in Path(folder).iterdir())
spec = preset("photos", height=96, width=96, sigma=3.0)
checksum = 0
if mode == "make":
    from pastegen.precompute import make
    r = make(out, paths, spec, count=n, seed=1, jobs=jobs, overwrite=True)
    checksum = r.count
else:
    from pastegen.stream import TupleStream
    for item in TupleStream(paths, spec, seed=1, stop=n):
        checksum += 1
print(json.dumps({"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "n": checksum}))
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for k in range(6):
        img = cv2.GaussianBlur((rng.random((160, 200, 3)) * 255).astype(np.uint8), (0, 0), 3)
        cv2.imwrite(str(folder / f"p{k}.png"), img)
    return folder


def peak_rss_kb(mode: str, n: int, folder: Path, out: Path, jobs: int = 1) -> int:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(n), str(folder), str(out), str(jobs)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["n"] == n
    return int(report["maxrss_kb"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is in kilobytes on Linux only")
@pytest.mark.parametrize("mode,jobs", [("make", 1), ("make", 2), ("stream", 1)])
def test_peak_memory_does_not_grow_with_the_number_of_tuples(tmp_path, folder, mode, jobs):
    small = peak_rss_kb(mode, SMALL, folder, tmp_path / "small.h5", jobs)
    large = peak_rss_kb(mode, LARGE, folder, tmp_path / "large.h5", jobs)
    print(f"{mode} jobs={jobs}: peak RSS {small / 1024:.1f} MB for {SMALL} tuples, {large / 1024:.1f} MB for {LARGE}")
    assert large - small < BOUND_KB, f"{mode}: peak RSS grew by {(large - small) / 1024:.1f} MB from {SMALL} to {LARGE} tuples"
