#!/usr/bin/env bash
# Sweep rows of the paper's Table 3 (and/or the modern variants) as one Hydra multirun, then write the report.
#
#   scripts/sweep_table3.sh                       # every row: base, A1..E1, big
#   scripts/sweep_table3.sh A B                   # base + the rows of blocks A and B
#   scripts/sweep_table3.sh C4 variants           # base + C4 + every config in conf/experiment/variants/
#   scripts/sweep_table3.sh A -- debug=tiny       # anything after -- goes to the train command
#   scripts/sweep_table3.sh all -- hydra/launcher=slurm hydra.launcher.partition=gpu
#
# Hydra's `experiment=glob(table3/A*)` does not work (glob() only sees the top level of a config group),
# so this script expands the block names from the files. Base is always included: the report blanks the
# cells equal to it, as the paper does. PYTHON overrides the interpreter (default: python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}

selectors=()
while (($#)) && [[ $1 != "--" ]]; do selectors+=("$1"); shift; done
[[ ${1:-} == "--" ]] && shift
((${#selectors[@]})) || selectors=(all)

experiments=(table3/base)
add() { [[ " ${experiments[*]} " == *" $1 "* ]] || experiments+=("$1"); }
for sel in "${selectors[@]}"; do
  case $sel in
    all) for f in conf/experiment/table3/*.yaml; do add "table3/$(basename "$f" .yaml)"; done ;;
    variants) for f in conf/experiment/variants/*.yaml; do add "variants/$(basename "$f" .yaml)"; done ;;
    *)
      matched=0
      for f in conf/experiment/table3/"$sel"*.yaml conf/experiment/variants/"$sel".yaml; do
        [[ -f $f ]] || continue
        add "$(basename "$(dirname "$f")")/$(basename "$f" .yaml)"; matched=1
      done
      ((matched)) || { echo "no Table 3 row or variant matches '$sel'" >&2; exit 2; } ;;
  esac
done

sweep_dir=${SWEEP_DIR:-outputs/train/table3/multirun_$(date +%Y-%m-%d_%H-%M-%S)}
list=$(IFS=,; echo "${experiments[*]}")
echo "sweeping ${#experiments[@]} configs into $sweep_dir: $list"
status=0
"$PYTHON" -m transformer_lab.train -m "experiment=$list" "hydra.sweep.dir=$sweep_dir" "$@" || status=$?
# A failed job does not stop the others; the report lists it with its status either way.
"$PYTHON" -m transformer_lab.report "$sweep_dir"
exit $status
