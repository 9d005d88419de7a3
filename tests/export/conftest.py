"""Checkpoints shared by the export and translate tests: one from a tiny run (seconds), one trained long
enough to write real sentences (slow tests only), and a random-weight one with learned positions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))  # the CLI helpers
from training_helpers import TINY, run_cli  # noqa: E402


@pytest.fixture(autouse=True)
def _single_thread():
    """Tiny matmuls: extra intra-op threads only wait on a shared machine (as in tests/model)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """10 updates of a 2-layer encoder / 1-layer decoder (unequal depths, which MarianMT can express)."""
    run_dir = tmp_path_factory.mktemp("tiny_run")
    run_cli("transformer_lab.train", *TINY, "logger=none", "test=false", "trainer.max_steps=10",
            "model.n_encoder_layers=2", "model.n_decoder_layers=1", "model.n_heads=4", f"hydra.run.dir={run_dir}", timeout=1200)
    return run_dir / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="session")
def real_checkpoint(tmp_path_factory) -> Path:
    """A model that writes real sentences of the built-in corpus (minutes of CPU: slow tests only)."""
    run_dir = tmp_path_factory.mktemp("real_run")
    run_cli("transformer_lab.train", "experiment=toy", "logger=none", "test=false", "model.d_model=64",
            "model.d_ff=256", "trainer.max_steps=150", "trainer.val_check_interval=150", "optim.warmup_steps=60",
            "optim.lr_scale=1.5", "callbacks.periodic_checkpoint.every_n_train_steps=150",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", timeout=3600)
    return run_dir / "checkpoints" / "last.ckpt"


def save_module_checkpoint(module, path: Path) -> Path:
    """A checkpoint file as training writes it, for a module built in the test (random weights)."""
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "tokenizer_json": module.tokenizer.to_json(), "data_config": module.data_config}, path)
    return path
