#!/usr/bin/env bash
# GPU checks of the static-shape decoding path (cuda_graphs=True), about 3 minutes on an H200:
#   GPU_LOG_DIR=out bash scripts/gpu/graphs.sh [CHECKPOINT]
# 1. tests/decoding/test_static_decoding.py, its CUDA tests included (graph replay == eager static == beam_search;
#    one capture per shape; bf16 autocast);
# 2. forced-length beam-4 decoding (256 sentences x 30 tokens, base shape, fp32 and bf16) beside MarianMT,
#    with --cuda-graphs (decode.json) and, without CHECKPOINT, without them (decode_eager.json);
# 3. scripts/gpu/graphs_timing.py: capture cost, search time with and without graphs in one process, one
#    replayed step, and whether the tokens match (timing.json);
# 4. only with CHECKPOINT (a trained default job; about 90 s): the real decoding workload with
#    --cuda-graphs beside MarianMT (real_decode.json; the run without graphs is in docs/PERFORMANCE.md).
# Logs and JSON go to $GPU_LOG_DIR (also packed into graphs_logs.tgz there).
# Each step has a time limit and the script goes on past a failing one; steps.txt says which failed.
set -u
LOGS=${GPU_LOG_DIR:-gpu_logs}
source "$(dirname "$0")/common.sh"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__)" | tee -a "$LOGS/gpu.txt"
step tests 60 $PY -m pytest -q -p no:cacheprovider tests/decoding/test_static_decoding.py
BENCH=(--device cuda --preset base --no-train --precision fp32 bf16 --decode-sentences 256 --peer --peer-attn sdpa)
step decode_graphs 55 $PY -m transformer_lab.benchmark "${BENCH[@]}" --cuda-graphs --json "$LOGS/decode.json"
if [ -z "${1:-}" ]; then  # with a checkpoint, its time goes to the real workload (timing.json compares too)
    step decode_eager 55 $PY -m transformer_lab.benchmark "${BENCH[@]}" --json "$LOGS/decode_eager.json"
fi
step timing 50 $PY scripts/gpu/graphs_timing.py --json "$LOGS/timing.json"
if [ -n "${1:-}" ]; then
    step real_decode 120 $PY -m transformer_lab.benchmark.translation "$1" --device cuda --sentences 256 \
        --precision fp32 bf16 --peer --peer-attn sdpa --repeats 2 --cuda-graphs --json "$LOGS/real_decode.json"
fi
cat "$LOGS/steps.txt"
tar czf "$LOGS/graphs_logs.tgz" -C "$LOGS" --exclude=graphs_logs.tgz . 2>/dev/null || true
