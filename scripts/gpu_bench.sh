#!/usr/bin/env bash
# Run ON the lent GPU machine (device tool), after scripts/gpu_wheels.sh here, in two calls that each fit the
# 10-minute limit (a session has 15 minutes of device time, start-up included):
#   run(command="bash scripts/gpu_bench.sh flux", carry=[".whl"], timeout_s=590)   # FLUX.1-dev, issue 13
#   run(command="bash scripts/gpu_bench.sh sd", carry=[".whl"], timeout_s=400)     # SD 1.5/SDXL, trainer
#   run(command="bash scripts/gpu_bench.sh flux2", carry=[".whl"], timeout_s=400)  # FLUX.2 [klein] 4B and 9B
#   run(command="bash scripts/gpu_bench.sh qwen", carry=[".whl"], timeout_s=590)   # Qwen-Image 20 B (80 GB card)
# `flux`: generation (eager, compiled, fp8) and LoRA training; `sd`: generation and training against plain loops.
# Each benchmark has its own time limit so that one slow compile cannot eat the others; the whole log lands in
# $OUT/gpu-bench.log. Copy its figures into BENCHMARKS.md with the command lines that made them.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-bench}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1
log="$OUT/gpu-bench.log"
{
  date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, diffusers, transformers, torchao; print('torch', torch.__version__, 'diffusers',
diffusers.__version__, 'transformers', transformers.__version__, 'torchao', torchao.__version__)"
} 2>&1 | tee "$log"
step() {  # step SECONDS COMMAND...
  local limit=$1; shift
  echo "== $* (limit ${limit}s)" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | grep -v -e "Warning" -e "warnings.warn" | tee -a "$log"
  echo "== exit ${PIPESTATUS[0]}" | tee -a "$log"
}
parts=${1:-flux,sd}
if [[ ,$parts, == *,flux,* ]]; then
  step "${FLUX_S:-300}" python3 scripts/bench_flux.py --repeats 2 --peak-tflops 989
  step "${FLUX_TRAIN_S:-150}" python3 scripts/bench_flux_train.py
fi
if [[ ,$parts, == *,flux2,* ]]; then
  step "${KLEIN4_S:-180}" python3 scripts/bench_flux2.py --variant 4b --repeats 2
  step "${KLEIN9_S:-200}" python3 scripts/bench_flux2.py --variant 9b --repeats 2
fi
if [[ ,$parts, == *,qwen,* ]]; then
  step "${QWEN_S:-570}" python3 scripts/bench_qwen.py --repeats 1 --steps 20
fi
if [[ ,$parts, == *,sd,* ]]; then
  step "${ENGINE_S:-150}" python3 scripts/bench_engine.py --gpu --families sd15,sdxl --repeats 2 --peak-tflops 989
  step "${TRAIN_S:-120}" python3 scripts/bench_train.py --gpu
fi
