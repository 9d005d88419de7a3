"""Shared test setup: W&B offline, one shared data cache per test session, single-threaded torch where the
matmuls are tiny."""

from __future__ import annotations

import os
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
