"""Lets these tests reuse tests/training/training_helpers.py (run_cli, W&B offline reader)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))
