"""Runs shared by several test files: each is trained once per session and read (or copied, then damaged) by
every test that needs it, instead of each test training its own. (`failing_sweep`, also read by the report
tests, is in tests/conftest.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from training_helpers import EIGHT_STEPS, run_cli


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """A finished 8-step run: periodic checkpoints at steps 4 and 8, last.ckpt at 8, a best checkpoint."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    run_cli("transformer_lab.train", *EIGHT_STEPS, f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path) -> Path:
    """A copy of the finished run that a test may damage."""
    return Path(shutil.copytree(finished_run, tmp_path / "run", symlinks=True))
