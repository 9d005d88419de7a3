#!/usr/bin/env bash
# Model FLOPs utilization of the training step on a CUDA node, from the repository root:
#   GPU_LOG_DIR=DIR BUDGET_S=480 bash scripts/gpu/mfu.sh
# bf16, 833 sentences x (30 + 30) tokens per step (the paper's 25k target tokens), eager vs the trainer's
# compiled forward + loss (`benchmark.profile --compile-step`), each with its MFU against the datasheet peak:
# 1. base, vocabulary 8,000 (the benchmark's default), with the compiled step's kernels listed;
# 2. big and 3. base with the paper's 37,000-token shared vocabulary (WMT14 EN-DE);
# 4. base, vocabulary 8,000, compile.mode=max-autotune-no-cudagraphs (Triton matmul templates tuned);
# 5. the static decoders' memory budget tests on the GPU (tests/decoding/test_static_decoding.py -k budget);
# 6. big, vocabulary 8,000.
# Each step has a time limit and is skipped when it would not fit in BUDGET_S; a failing step does not stop
# the script. Logs and a summary (steps.txt) go to $GPU_LOG_DIR.
set -u
LOGS=${GPU_LOG_DIR:-gpu_logs/mfu}
BUDGET_S=${BUDGET_S:-480}
source "$(dirname "$0")/common.sh"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/gpu.txt"
$PY -c "import torch; print('torch', torch.__version__)" | tee -a "$LOGS/gpu.txt"

profile="$PY -m transformer_lab.benchmark.profile --device cuda --sentences 833 --precision bf16 --compile-step"
step base_v8k 120 $profile --preset base --vocab 8000 --profile-compiled --rows 25
step big_v37k 120 $profile --preset big --vocab 37000 --rows 12
step base_v37k 100 $profile --preset base --vocab 37000 --rows 12
step base_v8k_autotune 240 $profile --preset base --vocab 8000 --rows 12 --compile-mode max-autotune-no-cudagraphs
step budget_tests 60 $PY -m pytest -q -p no:cacheprovider tests/decoding/test_static_decoding.py -k budget
step big_v8k 120 $profile --preset big --vocab 8000 --rows 12
grep -h "step median\|MFU" "$LOGS"/*.log | tee -a "$LOGS/steps.txt"
echo "total $((SECONDS - STEPS_START))s" | tee -a "$LOGS/steps.txt"
