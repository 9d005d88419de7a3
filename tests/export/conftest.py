"""Checkpoints shared by the export tests: one from a tiny run (seconds), one trained long enough to write
real sentences (slow tests only). Torch runs single-threaded here (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import TINY, run_cli


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """10 updates of a 2-layer encoder / 1-layer decoder (unequal depths, which MarianMT can express)."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    run_cli("transformer_lab.train", *TINY, "logger=none", "test=false", "trainer.max_steps=10",
            "model.n_encoder_layers=2", "model.n_decoder_layers=1", "model.n_heads=4", f"hydra.run.dir={run_dir}",
            timeout=1200)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def real_checkpoint(tmp_path_factory) -> Path:
    """The default job's model (experiment=toy, 1,600 updates; 61.85 test BLEU in the README), without its
    test pass: about 5 minutes of an idle 2-core CPU, so the tests using it are marked slow."""
    run_dir = tmp_path_factory.mktemp("real_run")
    run_cli("transformer_lab.train", "experiment=toy", "logger=none", "test=false", "trainer.max_time=00:01:00:00",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", env={"OMP_NUM_THREADS": "1"},
            timeout=3600)
    return run_dir / "checkpoints" / "last.ckpt"

