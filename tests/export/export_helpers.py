"""Helpers for the export and translate tests: the CLI runner, checkpoints of models built in a test."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))  # the CLI helpers
from training_helpers import TINY, run_cli  # noqa: E402, F401


def save_module_checkpoint(module, path: Path) -> Path:
    """A checkpoint file as training writes it, for a module built in the test (random weights)."""
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "tokenizer_json": module.tokenizer.to_json(), "data_config": module.data_config}, path)
    return path


def random_checkpoint(tiny_checkpoint: Path, path: Path) -> Path:
    """Random weights, LayerNorm parameters and biases included, for the tiny run's tokenizer: unlike a
    10-update model (whose outputs barely depend on its input yet), every weight shows in the logits."""
    from transformer_lab.inference.loading import module_from_checkpoint
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.settings import ModuleSettings

    tiny, _ = module_from_checkpoint(tiny_checkpoint)
    torch.manual_seed(0)
    model = dict(vocab_size=tiny.tokenizer.vocab_size, n_encoder_layers=2, n_decoder_layers=3, d_model=32, d_ff=64,
                 n_heads=4, dropout=0.0)
    module = TranslationModule(ModuleSettings.from_plain({"model": model}), tiny.context)
    with torch.no_grad():
        for name, parameter in module.model.named_parameters():
            if "norm" in name or "bias" in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
    save_module_checkpoint(module, path)
    return path
