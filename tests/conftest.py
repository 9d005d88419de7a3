"""Shared test setup: W&B offline, one shared data cache per test session (per xdist worker), the cores shared
out among the xdist workers, single-threaded torch where the matmuls are tiny."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

# Test folders whose tests run torch single-threaded: their matmuls are tiny, and on a shared 2-core machine
# extra intra-op threads mostly spin and wait (measured 5-20x slower under load).
SINGLE_THREADED = {"model", "decoding", "export"}
TESTS = Path(__file__).resolve().parent
MAX_WORKERS = 4  # `-n auto` (pyproject's addopts): one worker per core, at most this many


def _cores() -> int:
    """The cores this process may run on (a container's or `taskset`'s CPU set, where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pytest_xdist_auto_num_workers(config) -> int:
    """What `-n auto` means here: one worker per core up to MAX_WORKERS. Most of the suite's time is end-to-end
    CLI runs (a process start-up, a tiny training), which overlap well on two cores; more workers than that
    mostly add memory (each run holds torch, Lightning and W&B)."""
    return max(1, min(_cores(), MAX_WORKERS))


def _threads_per_worker() -> int:
    """The cores divided among the xdist workers (all of them without xdist), so that parallel tests do not
    oversubscribe the machine."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, _cores() // workers)


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    """W&B offline and silent, no credentials read, caches under the session's temporary directory, torch (and
    the CLIs the tests start) on this worker's share of the cores."""
    cache = tmp_path_factory.mktemp("tlab_cache")
    saved = dict(os.environ)
    saved_threads = torch.get_num_threads()
    threads = _threads_per_worker()
    torch.set_num_threads(threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
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
    torch.set_num_threads(saved_threads)


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
                   "+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep",
                   "+callbacks.fault.step=2,1000", f"hydra.sweep.dir={sweep_dir}", check=False)
    return proc, sweep_dir
