"""Rebuilding a trained model from a checkpoint file alone (weights, tokenizer and data settings)."""

from __future__ import annotations

import os
from typing import Any

from transformer_lab.checkpointing.errors import CheckpointContentError
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.training.module import TranslationModule


def module_from_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> tuple[TranslationModule, dict]:
    """Loads with `weights_only=True` and builds the module from the plain hyperparameters stored inside.

    No `_target_` or other code reference is ever read from a checkpoint: the module class is fixed here.
    """
    checkpoint = load_checkpoint_file(path, map_location=map_location, required=("state_dict", "hyper_parameters"))
    hparams = checkpoint["hyper_parameters"]
    for section, values in (("hyper_parameters", hparams), ("data_config", checkpoint.get("data_config") or {})):
        if _mentions_target(values):
            raise CheckpointContentError(
                f"{path}: `{section}` names a `_target_`; code references are only taken from the project's "
                "config tree and your own overrides, never from checkpoints. Refusing to load it."
            )
    module = TranslationModule(**{k: hparams.get(k) for k in ("model", "optim", "loss", "decoding", "nonfinite")})
    module.load_state_dict(checkpoint["state_dict"])
    module.on_load_checkpoint(checkpoint)
    module._pending_rng_state = None  # not training
    module.eval()
    return module, checkpoint


def _mentions_target(values: Any) -> bool:
    if isinstance(values, dict):
        return "_target_" in values or any(_mentions_target(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return any(_mentions_target(v) for v in values)
    return False
