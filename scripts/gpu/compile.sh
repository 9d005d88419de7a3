#!/usr/bin/env bash
# The compiled training step (compile.enabled) on a CUDA node, from the repository root:
#   GPU_LOG_DIR=DIR bash scripts/gpu/compile.sh                # about 3 minutes: step 1 (and more if it fits)
#   GPU_LOG_DIR=DIR BUDGET_S=600 bash scripts/gpu/compile.sh   # all of them (about 10 minutes)
# 1. the default job with the step compiled and lengths padded to multiples of 8: fit seconds, wall time,
#    test BLEU, recompiles (TORCH_LOGS=recompiles);
# 2. the same job eager (the baseline, same machine);
# 3. tests/training/test_compiled_step.py (its CUDA case: a short trainer=gpu run, step compiled, recompiles
#    bounded);
# 4. one base and one big bf16 training step profiled, eager vs compiled forward + loss, with the MFU of each.
# Each step has a time limit and is skipped when it would not fit in BUDGET_S; a failing step does not stop
# the script. Logs and a summary (steps.txt) go to $GPU_LOG_DIR.
set -u
LOGS=${GPU_LOG_DIR:-gpu_logs/compile}
BUDGET_S=${BUDGET_S:-195}
source "$(dirname "$0")/common.sh"

job_summary() {  # job_summary NAME: fit seconds, status, steps, wall time, BLEU and recompiles of a job
    local name=$1
    [ -f "$LOGS/$name.log" ] || return
    $PY - "$LOGS/$name" "$LOGS/$name.log" <<'PYEOF' | tee -a "$LOGS/steps.txt"
import json, re, sys
from datetime import datetime
from pathlib import Path
run, log = Path(sys.argv[1]), Path(sys.argv[2])
summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else {}
text = log.read_text(errors="replace") if log.exists() else ""
stamps = {}
for line in text.splitlines():  # fit = from the "training step:" line (just before fit) to Lightning's stop line
    match = re.match(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]", line)
    if match and ("training step:" in line or "`Trainer.fit` stopped" in line):
        stamps["stop" if "stopped" in line else "start"] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
fit = f"{(stamps['stop'] - stamps['start']).total_seconds():.1f}" if len(stamps) == 2 else None
keys = ("status", "global_step", "wall_time_s", "best_val_bleu", "test/bleu")
print(f"  {run.name}: fit_s={fit}, " + ", ".join(f"{k}={summary.get(k)}" for k in keys)
      + f", recompiles={text.count('Recompiling function')}")
PYEOF
    find "$LOGS/$name" -name '*.ckpt' -delete 2>/dev/null  # the logs are what comes back, not the weights
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$LOGS/gpu.txt"
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" | tee -a "$LOGS/gpu.txt"

TORCH_LOGS=recompiles step job_compiled 600 $PY -m transformer_lab.train trainer=gpu logger=csv \
    compile.enabled=true data.pad_to_multiple_of=8 hydra.run.dir="$LOGS/job_compiled"
job_summary job_compiled
step job_eager 200 $PY -m transformer_lab.train trainer=gpu logger=csv hydra.run.dir="$LOGS/job_eager"
job_summary job_eager
step tests 200 $PY -m pytest -q -p no:cacheprovider tests/training/test_compiled_step.py
step profile_base 90 $PY -m transformer_lab.benchmark.profile --device cuda --preset base --sentences 833 \
    --precision bf16 --compile-step --rows 15
step profile_big 100 $PY -m transformer_lab.benchmark.profile --device cuda --preset big --sentences 833 \
    --precision bf16 --compile-step --rows 15
echo "total $((SECONDS - STEPS_START))s" | tee -a "$LOGS/steps.txt"
