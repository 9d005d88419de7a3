"""Rebuilding a trained model from a checkpoint file alone (weights, tokenizer and data settings)."""

from __future__ import annotations

import os
from typing import Any

from transformer_lab.checkpointing.errors import CheckpointContentError
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext, SplitTexts
from transformer_lab.training.module.settings import ModuleSettings


def module_from_checkpoint(
    path: str | os.PathLike, map_location: Any = "cpu", *, search: SearchConfig | None = None,
    split_texts: SplitTexts | None = None,
) -> tuple[TranslationModule, dict]:
    """Loads with `weights_only=True` and builds the module from the plain settings, tokenizer and data
    settings stored inside. `search`: decode validation and test with it instead of the stored settings;
    `split_texts`: the splits to evaluate on (a datamodule's `split_texts`), None to translate only.

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
    if "tokenizer_json" not in checkpoint:
        raise CheckpointContentError(f"{path} carries no tokenizer (`tokenizer_json`): it was not written by "
                                     "transformer_lab.train")
    settings = ModuleSettings.from_plain(hparams)
    if search is not None:
        settings = settings.with_search(search)
    tokenizer = Tokenizer.from_json(checkpoint["tokenizer_json"])
    context = RunContext(tokenizer=tokenizer, split_texts=split_texts, data_config=checkpoint.get("data_config"))
    module = TranslationModule(settings, context)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    return module, checkpoint


def _mentions_target(values: Any) -> bool:
    if isinstance(values, dict):
        return "_target_" in values or any(_mentions_target(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return any(_mentions_target(v) for v in values)
    return False
