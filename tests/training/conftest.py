"""Runs shared by several test files: each is trained once per session and read (or copied, then damaged) by
every test that needs it, instead of each test training its own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from training_helpers import EIGHT_STEPS, FAST, run_cli


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


@pytest.fixture(scope="session")
def failing_sweep(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A 2-job sweep of 4-step runs whose job 0 raises at step 2 and whose job 1 completes: the finished
    process and the sweep directory (jobs 0/ and 1/)."""
    sweep_dir = tmp_path_factory.mktemp("failing_sweep")
    proc = run_cli("transformer_lab.train", "-m", *FAST, "trainer.max_steps=4", "trainer.val_check_interval=4",
                   "+callbacks.fault._target_=transformer_lab.training.faults.RaiseAtStep",
                   "+callbacks.fault.step=2,1000", f"hydra.sweep.dir={sweep_dir}", check=False)
    return proc, sweep_dir
