"""Shared test setup: W&B offline, one shared data cache per test session, single-threaded torch where the
matmuls are tiny."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

# Test folders whose tests run torch single-threaded: their matmuls are tiny, and on a shared 2-core machine
# extra intra-op threads mostly spin and wait (measured 5-20x slower under load).
SINGLE_THREADED = {"model", "export"}
TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """W&B offline and silent, no credentials read, caches under the session's temporary directory."""
    cache = tmp_path_factory.mktemp("tlab_cache")
    saved = dict(os.environ)
    os.environ.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_DISABLE_GIT="true",
        WANDB_CONSOLE="off",
        TLAB_CACHE=str(cache),
        TOKENIZERS_PARALLELISM="false",
        NETRC=str(cache / "no-netrc"),
    )
    os.environ.pop("WANDB_API_KEY", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def single_thread():
    """torch.set_num_threads(1) for the test, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _single_thread_in_tiny_matmul_folders(request):
    """`single_thread` for every test under the SINGLE_THREADED folders (elsewhere a test asks for it by name)."""
    if Path(request.node.path).resolve().relative_to(TESTS).parts[0] in SINGLE_THREADED:
        request.getfixturevalue("single_thread")
    yield


@pytest.fixture(scope="session")
def failing_sweep(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """A 2-job sweep of 4-step runs of Table 3 row C1 whose job 0 raises at step 2 and whose job 1 completes:
    the finished process and the sweep directory (jobs 0/ and 1/). Read by the training and report tests."""
    from training_helpers import FAST, run_cli

    sweep_dir = tmp_path_factory.mktemp("failing_sweep")
    proc = run_cli("transformer_lab.train", "-m", "experiment=table3/C1", *FAST, "trainer.max_steps=4", "trainer.val_check_interval=4",
                   "+callbacks.fault._target_=transformer_lab.training.faults.RaiseAtStep",
                   "+callbacks.fault.step=2,1000", f"hydra.sweep.dir={sweep_dir}", check=False)
    return proc, sweep_dir
