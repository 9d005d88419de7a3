"""Shared test setup: W&B offline, one shared data cache per test session, helpers to run the CLIs."""

from __future__ import annotations

import os

import pytest


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
