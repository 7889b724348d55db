#!/usr/bin/env bash
# One prepared GPU session (issue 9, item 5): at most ~9 minutes on one CUDA device.
#
#   OUT=/path/to/results bash benchmarks/gpu_run.sh          # from the repository root
#   GPU_DEVICE=cpu GPU_BUDGET_S=240 bash benchmarks/gpu_run.sh   # a dry run of the script on a CPU
#   GPU_STEPS=tests,compile,train GPU_PYTEST_K=cuda_matches_cpu bash benchmarks/gpu_run.sh   # a part
#
# 0. the machine: GPU, driver, CPU, versions (env.txt);
# 1. the CUDA tests (pytest -m gpu: bf16 + channels_last training and resume, the streamed colour-map
#    recipe with its Poisson prior, CUDA paste against the CPU, every shipped model's golden output);
# 2. paste on CUDA: each shipped model's golden output (levels from the CPU golden) and the time of a
#    paste of a 512 and a 2048 photo (paste_cuda.json);
# 3. the training-speed benchmark: paper-512 at batch 5 (the paper's setting) and the zoo preset
#    `colormap` at batch 8 and 64, with bf16 and channels_last, then the same with torch.compile;
# 4. torchrun with one process (the distributed path) for a few steps;
# 5. trains the zoo recipe (the faces command of pastenet/zoo, on the GPU, batch 32) for the time
#    left, checkpointing every 500 steps, and exports its generator (zoo/ in the results archive).
# $OUT receives at most 8 files, none in a subfolder (what a lent machine sends back): gpu_run.log,
# env.txt, pytest-gpu.txt, paste_cuda.json, training_speed-cuda*.json, gpu-results.tar.gz (every
# log, the run's options, stats and sample grid, the exported weights). The work folder is
# $GPU_WORK (default: a new folder under /tmp).
# The data root is $PASTEGEN_DATA_ROOT, else ../shared/data, else ./shared/data; without faces
# there, step 5 trains on the sample photos shipped in the wheels. Extra packages that the machine
# lacks (e.g. hdf5plugin) can be put in .gpu/site, which goes first on PYTHONPATH. For hdf5plugin,
# its Blosc filter alone is enough (the tree that travels is limited to 64 MiB):
#   mkdir -p .gpu/site && cp -r "$(python -c 'import hdf5plugin, os; print(os.path.dirname(hdf5plugin.__file__))')" .gpu/site/
#   find .gpu/site/hdf5plugin/plugins -type f ! -name libh5blosc.so -delete; strip --strip-unneeded .gpu/site/hdf5plugin/plugins/*.so
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
WORK="${GPU_WORK:-$(mktemp -d /tmp/gpu_run.XXXXXX)}"
mkdir -p "$WORK"
DEVICE="${GPU_DEVICE:-cuda}"
STEPS=",${GPU_STEPS:-tests,paste,speed,compile,torchrun,train},"   # which of the steps below to run
want() { case "$STEPS" in *",$1,"*) return 0;; esac; return 1; }
START=$(date +%s)
BUDGET="${GPU_BUDGET_S:-500}"   # seconds for the whole script
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
log() { echo "[gpu_run $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_run.log"; }
PY=python3
command -v python3 >/dev/null || PY=python

for root in "${PASTEGEN_DATA_ROOT:-}" ../shared/data shared/data; do
  if [ -n "$root" ] && [ -d "$root/faces/train" ]; then export PASTEGEN_DATA_ROOT="$(cd "$root" && pwd)"; break; fi
done
if [ -d .gpu/site ]; then export PYTHONPATH="$PWD/.gpu/site${PYTHONPATH:+:$PYTHONPATH}"; fi
# no network on a lent machine: no build isolation (setuptools is there), no dependencies
$PY -m pip install -q --no-deps --no-build-isolation -e . >"$WORK/pip.txt" 2>&1 || log "pip install -e . failed (running from PYTHONPATH)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
NET=($PY -m pastenet.cli)

{
  echo "date: $(date -u)"; echo "device: $DEVICE"; echo "data root: ${PASTEGEN_DATA_ROOT:-none}"
  nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc)"
  $PY - <<'EOF' 2>&1
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "numpy", "numba", "scipy", "h5py", "hdf5plugin", "cv2", "skimage", "safetensors", "triton"):
    try:
        m = importlib.import_module(name)
        print(name, getattr(m, "__version__", "?"))
    except Exception as e:  # a missing package is a finding, not a failure of this script
        print(name, "MISSING:", type(e).__name__, e)
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
EOF
} > "$OUT/env.txt"
log "machine: $(grep -m1 -E 'NVIDIA|cuda ' "$OUT/env.txt")"

if want tests; then
  log "1. CUDA tests"
  timeout 170 $PY -m pytest -q -m gpu -p no:cacheprovider -o addopts="-ra" ${GPU_PYTEST_K:+-k "$GPU_PYTEST_K"} \
    tests/test_net_train.py tests/test_net_paste.py tests/test_zoo.py > "$OUT/pytest-gpu.txt" 2>&1
  log "   pytest rc=$? ($(tail -1 "$OUT/pytest-gpu.txt"))"
fi

want paste && log "2. paste on $DEVICE: golden outputs and timings"
want paste && timeout 60 $PY - "$DEVICE" "$OUT/paste_cuda.json" > "$WORK/paste_cuda.txt" 2>&1 <<'EOF'
import json, statistics, sys, time
import numpy as np, torch
from pastenet.paste import load_generator, paste, read_image
from pastenet.zoo import PACKAGE_ZOO, list_models
from pastenet.zoo.golden import compare, golden_paste
device, out = sys.argv[1], sys.argv[2]
sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
rows = {"device": torch.cuda.get_device_name(0) if device == "cuda" else device, "golden": {}, "paste_ms": {}}
for entry in list_models(PACKAGE_ZOO):
    worst, mean = compare(golden_paste(load_generator(entry.name, device=device)), read_image(entry.golden_path))
    rows["golden"][entry.name] = {"max_levels": worst, "mean_levels": round(mean, 4)}
    open(out, "w").write(json.dumps(rows, indent=1))
model = load_generator("faces-poisson-256", device=device)
rng = np.random.default_rng(0)
for side in (512, 2048):
    target = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    source = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:side, :side]
    mask = (((yy - side / 2) / (side / 4)) ** 2 + ((xx - side / 2) / (side / 5)) ** 2 <= 1).astype(np.uint8)
    paste(model, target, source, mask)
    times = []
    for _ in range(5):
        sync(); t = time.perf_counter(); paste(model, target, source, mask); sync(); times.append(1e3 * (time.perf_counter() - t))
    rows["paste_ms"][str(side)] = round(statistics.median(times), 1)
    open(out, "w").write(json.dumps(rows, indent=1))
print(json.dumps(rows, indent=1))
EOF
want paste && log "   rc=$? $(tr -d '\n ' < "$OUT/paste_cuda.json" 2>/dev/null | cut -c1-400)"

if want speed; then
  log "3. training speed"
  timeout 110 $PY benchmarks/training_speed.py --device "$DEVICE" --presets paper-512:5 colormap:8 colormap:64 \
    --steps 20 --warmup 5 --repeats 3 --out "$OUT/training_speed-cuda.json" > "$WORK/training_speed.txt" 2>&1
  log "   rc=$? $(grep -E 'it/s|paper|colormap' "$WORK/training_speed.txt" | tail -4 | tr '\n' ' ')"
fi
if want compile; then
  log "3b. training speed, torch.compile"
  timeout 110 $PY benchmarks/training_speed.py --device "$DEVICE" --presets ${GPU_COMPILE_PRESETS:-colormap:64 paper-512:5} --compile --no-flops \
    --steps 20 --warmup 5 --repeats 3 --out "$OUT/training_speed-cuda-compile.json" > "$WORK/training_speed-compile.txt" 2>&1
  log "   compile rc=$? $(grep -E 'it/s|paper|colormap' "$WORK/training_speed-compile.txt" | tail -3 | tr '\n' ' ')"
fi

if want torchrun && [ "$DEVICE" = cuda ] && [ "$(left)" -gt 150 ]; then
  log "4. torchrun, one process"
  timeout 60 $PY -m torch.distributed.run --standalone --nproc_per_node 1 -m pastenet.cli train --stream --dataset sample \
    --preset colormap --resolution 64 --alpha 0 --steps 20 --batch 4 --workers 1 --checkpoint-every 20 --sample-every 20 \
    --device cuda --out "$WORK/torchrun" -q > "$WORK/torchrun.txt" 2>&1
  log "   torchrun rc=$? ($(ls "$WORK"/torchrun/*/checkpoints 2>/dev/null | tr '\n' ' '))"
fi

T=$(( $(left) - 40 ))
if want train && [ "$T" -gt 30 ]; then
  if [ -n "${PASTEGEN_DATA_ROOT:-}" ] && [ -d "$PASTEGEN_DATA_ROOT/faces-wild/train" ]; then DATA=(--dataset faces,faces-wild --sigma 7.5)
  elif [ -n "${PASTEGEN_DATA_ROOT:-}" ]; then DATA=(--dataset faces --sigma 7.5)
  else DATA=(--dataset sample); fi
  WORKERS=$(( $(nproc) > 4 ? $(nproc) - 3 : 1 ))
  log "5. zoo recipe on $DEVICE for ${T}s (${DATA[*]}, $WORKERS workers)"
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used,power.draw --format=csv -l 5 > "$WORK/gpu_util.csv" 2>&1 &
    SMI=$!
  fi
  timeout --signal=INT --kill-after=20 "$T" "${NET[@]}" train --stream "${DATA[@]}" --preset colormap --resolution 256 --alpha 0 --beta1 0.9 \
    --recon mask --border-weight 2 --color-mix 0:1,0.1:1,0.25:1,0.5:1,1:1 --geometric-mix 0:1,0.5:1,1:1 --tone 0.5 \
    --prior poisson --truth colours --ema-kimg 10 \
    --batch 32 --steps 200000 --checkpoint-every 500 --sample-every 1000 --keep 1 --workers "$WORKERS" --device "$DEVICE" \
    --out "$WORK/runs" -q > "$WORK/train.txt" 2>&1
  log "   train rc=$? (124 = stopped at the time limit: interrupted, checkpoint saved; uptime: $(uptime | sed 's/.*load/load/'))"
  [ -n "${SMI:-}" ] && kill "$SMI" 2>/dev/null
  RUN=$(ls -d "$WORK"/runs/*/ 2>/dev/null | head -1)
  if [ -n "$RUN" ]; then
    tail -1 "$RUN/stats.jsonl" >> "$OUT/gpu_run.log" 2>/dev/null
    timeout 30 "${NET[@]}" export "$RUN" gpu-faces --to "$WORK/zoo" --no-golden --description "zoo recipe, ${T}s on $DEVICE" \
      > "$WORK/export.txt" 2>&1
    log "   export rc=$?"
  fi
fi

# the archive: logs, the run's small files and newest sample grid, the exported zoo (no checkpoints)
( cd "$WORK" && tar czf "$OUT/gpu-results.tar.gz" --exclude='*/checkpoints' --exclude='*/tensorboard' --exclude='*/events.out*' . ) \
  || log "tar failed"
log "done; outputs in $OUT ($(du -sh "$OUT/gpu-results.tar.gz" 2>/dev/null | cut -f1) archive)"
