#!/usr/bin/env bash
# One prepared GPU session (issue 9, item 5): at most ~9 minutes on one CUDA device.
#
#   OUT=/path/to/results bash benchmarks/gpu_run.sh          # from the repository root
#
# 1. the CUDA tests (pytest -m gpu: bf16 + channels_last training and resume, CUDA paste);
# 2. the training-speed benchmark: paper-512 at batch 5 (the paper's setting) and the zoo preset
#    `colormap` at batch 8 and 64, with bf16 and channels_last, then the same with torch.compile;
# 3. trains the zoo recipe (the faces command of pastenet/zoo, on the GPU) for the time left,
#    checkpointing every 500 steps, and writes its figures;
# everything under $OUT (default: ./gpu-out): logs, JSON, the run folder with its checkpoints.
# The data root is $PASTEGEN_DATA_ROOT, else ../shared/data, else ./shared/data; without faces
# there, step 3 trains on the sample photos shipped in the wheels.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-out}"
mkdir -p "$OUT"
START=$(date +%s)
BUDGET="${GPU_BUDGET_S:-530}"   # seconds for the whole script
left() { echo $(( BUDGET - ($(date +%s) - START) )); }
log() { echo "[gpu_run $(( $(date +%s) - START ))s] $*" | tee -a "$OUT/gpu_run.log"; }

for root in "${PASTEGEN_DATA_ROOT:-}" ../shared/data shared/data; do
  if [ -n "$root" ] && [ -d "$root/faces/train" ]; then export PASTEGEN_DATA_ROOT="$(cd "$root" && pwd)"; break; fi
done
log "device: $(python -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NO CUDA")' 2>&1)"
python -m pip install -q --no-deps -e . >/dev/null 2>&1 || log "pip install -e . failed (continuing with PYTHONPATH)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

log "1. CUDA tests"
timeout 120 python -m pytest -q -m gpu -p no:cacheprovider tests > "$OUT/pytest-gpu.txt" 2>&1
log "   pytest rc=$? ($(tail -1 "$OUT/pytest-gpu.txt"))"

log "2. training speed"
timeout 150 python benchmarks/training_speed.py --device cuda --presets paper-512:5 colormap:8 colormap:64 \
  --steps 20 --warmup 5 --repeats 3 --out "$OUT/training_speed-cuda.json" > "$OUT/training_speed.txt" 2>&1
log "   rc=$?"
timeout 120 python benchmarks/training_speed.py --device cuda --presets paper-512:5 colormap:64 --compile --no-flops \
  --steps 20 --warmup 5 --repeats 3 --out "$OUT/training_speed-cuda-compile.json" > "$OUT/training_speed-compile.txt" 2>&1
log "   compile rc=$?"

T=$(( $(left) - 25 ))
if [ "$T" -gt 30 ]; then
  if [ -n "${PASTEGEN_DATA_ROOT:-}" ]; then DATA=(--dataset faces,faces-wild --sigma 7.5); else DATA=(--dataset sample); fi
  log "3. zoo recipe on CUDA for ${T}s (${DATA[*]})"
  timeout --signal=INT "$T" pastenet train --stream "${DATA[@]}" --preset colormap --resolution 256 --alpha 0 --beta1 0.9 \
    --recon mask --border-weight 2 --color-mix 0:1,0.1:1,0.25:1,0.5:1,1:1 --geometric-mix 0:1,0.5:1,1:1 --tone 0.5 \
    --prior poisson --truth colours --ema-kimg 10 \
    --batch 32 --steps 200000 --checkpoint-every 500 --sample-every 1000 --keep 1 --workers 12 --device cuda \
    --out "$OUT/runs" -q > "$OUT/train.txt" 2>&1
  log "   train rc=$? (130 = stopped by the time limit, checkpoint saved)"
  tail -1 "$OUT"/runs/*/stats.jsonl >> "$OUT/gpu_run.log" 2>/dev/null
fi
log "done; outputs in $OUT"
