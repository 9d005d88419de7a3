# Sourced by the GPU scripts (scripts/gpu_checks.sh, scripts/gpu/*.sh) once they have set LOGS, the folder
# for their logs: makes it, sets PY (python3 unless PYTHON says otherwise) and the environment, and defines
#   step NAME LIMIT_S CMD...   run CMD with a time limit, its output in $LOGS/NAME.log; record the exit status
#                              and seconds in $LOGS/steps.txt, print the log's tail, then call `after_step`
#                              if the script defines one. A failing step does not stop the script.
# With BUDGET_S set, a step is skipped when fewer than 40 s of the budget (counted from here) are left, and
# its limit is cut to what is left.
mkdir -p "$LOGS"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=offline TOKENIZERS_PARALLELISM=false
STEPS_START=$SECONDS

step() {
    local name=$1 limit=$2; shift 2
    if [ -n "${BUDGET_S:-}" ]; then
        local left=$((BUDGET_S - (SECONDS - STEPS_START)))
        if [ "$left" -lt 40 ]; then echo "$name skipped: ${left}s of the budget left" | tee -a "$LOGS/steps.txt"; return; fi
        [ "$limit" -gt "$left" ] && limit=$left
    fi
    local begin=$SECONDS
    echo "=== $name (limit ${limit}s): $*"
    timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1
    local rc=$?
    echo "$name rc=$rc $((SECONDS - begin))s" | tee -a "$LOGS/steps.txt"
    tail -n 20 "$LOGS/$name.log"
    if declare -F after_step >/dev/null; then after_step; fi
}
