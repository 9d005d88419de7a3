#!/usr/bin/env bash
# Create .venv and install transformer_lab into it.
#   bash scripts/bootstrap.sh           # runtime only
#   bash scripts/bootstrap.sh dev       # + test tools
#   bash scripts/bootstrap.sh dev,sweep # extras are comma-separated
# TORCH_SPEC picks the torch build, installed before the package so pip keeps it:
#   CPU machines (default):  TORCH_SPEC="torch==2.13.0"
#   GPU nodes:               TORCH_SPEC="torch"   (the registry's CUDA build)
# PYTHON picks the interpreter (default python3.11, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install --quiet -e ".[${extras}]"
else
  .venv/bin/python -m pip install --quiet -e .
fi
echo "transformer_lab installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
