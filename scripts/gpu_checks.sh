#!/usr/bin/env bash
# The GPU checks of docs/PERFORMANCE.md in one go, on a CUDA node with this checkout:
#   bash scripts/gpu_checks.sh [CHECKPOINT]     # logs and JSON under $RESULTS (default: gpu_checks/)
# 1. the CUDA tests: tests/model/test_fast_paths.py (cuda float32 = CPU, bf16 within tolerance, flash-eligible
#    SDPA, compile, identical search outputs), tests/decoding/test_static_decoding.py and
#    tests/training/test_module_search.py (CUDA-graph decoding = the plain search);
# 2. the synthetic benchmark: base (bf16 and fp32, MarianMT beside it, 833 x 30 = 25k target tokens per step,
#    decoding with CUDA graphs), big (bf16), and the base step eager vs compiled (forward + loss);
# 3. with CHECKPOINT (a trained default job), the real decoding workload beside MarianMT, with CUDA graphs;
# 4. the default job with trainer=gpu, timed.
# scripts/gpu/graphs.sh and scripts/gpu/compile.sh go deeper into the CUDA-graph decoding and the compiled
# training step (the graphs with and without, capture cost; the default job compiled).
# Each step has a time limit and the script goes on past a failing one; the logs say which failed.
set -u
RESULTS=${RESULTS:-gpu_checks}
LOGS=$RESULTS
CKPT=${1:-}
source "$(dirname "$0")/gpu/common.sh"

after_step() {  # a batch machine that returns one folder ($OUT): all but checkpoints, after every step
    if [ -n "${OUT:-}" ]; then tar czf "$OUT/gpu_checks.tgz" --exclude='*.ckpt' "$RESULTS"; fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$RESULTS/gpu.txt"
$PY -c "import torch, lightning, transformers; print('torch', torch.__version__, 'lightning', lightning.__version__,
'transformers', transformers.__version__)" | tee -a "$RESULTS/gpu.txt"

step tests 150 $PY -m pytest -q -p no:cacheprovider tests/model/test_fast_paths.py \
    tests/decoding/test_static_decoding.py tests/training/test_module_search.py
step bench_base 120 $PY -m transformer_lab.benchmark --device cuda --preset base --precision bf16 fp32 \
    --sentences 833 --decode-sentences 256 --peer --peer-attn sdpa --cuda-graphs --json "$RESULTS/gpu-base.json"
if [ -n "$CKPT" ]; then
    step real_decode 90 $PY -m transformer_lab.benchmark.translation "$CKPT" --device cuda --sentences 256 \
        --precision fp32 bf16 --peer --peer-attn sdpa --repeats 2 --cuda-graphs --json "$RESULTS/gpu-real-decode.json"
fi
step default_job 200 $PY -m transformer_lab.train trainer=gpu logger=csv hydra.run.dir="$RESULTS/default_job"
step bench_big 90 $PY -m transformer_lab.benchmark --device cuda --preset big --precision bf16 --sentences 833 \
    --no-decode --peer --peer-attn sdpa --json "$RESULTS/gpu-big.json"
step compiled_step 150 $PY -m transformer_lab.benchmark.profile --device cuda --preset base --sentences 833 \
    --precision bf16 --compile-step
cat "$RESULTS/steps.txt"
