"""Rebuilding a trained model from a checkpoint file alone (weights, tokenizer and data settings), and an
ensemble from several checkpoints of one vocabulary."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformer_lab.checkpointing.errors import (
    CheckpointContentError,
    CheckpointNotFoundError,
)
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.data.tokenizers.stored import tokenizer_from_json
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.ensemble import Ensemble
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
    tokenizer = tokenizer_from_json(checkpoint["tokenizer_json"])  # BPE or an imported sentencepiece pair
    context = RunContext(tokenizer=tokenizer, split_texts=split_texts, data_config=checkpoint.get("data_config"))
    module = TranslationModule(settings, context)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    return module, checkpoint


def modules_from_checkpoints(
    paths: Sequence[str | os.PathLike], map_location: Any = "cpu", *, search: SearchConfig | None = None,
    split_texts: SplitTexts | None = None,
) -> tuple[list[TranslationModule], list[dict]]:
    """The modules and checkpoints of several files (an ensemble's), each as `module_from_checkpoint` builds
    it. Every file is checked to exist before any is loaded, and every tokenizer against the first file's:
    CheckpointContentError naming both files and what differs (the models may differ in anything else)."""
    if not paths:
        raise CheckpointNotFoundError("no checkpoint given: name at least one .ckpt file")
    for number, path in enumerate(paths if len(paths) > 1 else (), start=1):  # one file: the reader says why
        if not Path(path).is_file():
            what = "is a directory, not a checkpoint file" if Path(path).is_dir() else "does not exist"
            raise CheckpointNotFoundError(f"checkpoint {number} of {len(paths)}, {path}, {what}; give .ckpt files "
                                          "(e.g. <run dir>/checkpoints/last.ckpt)")
    loaded = [module_from_checkpoint(path, map_location, search=search, split_texts=split_texts) for path in paths]
    first = loaded[0][1]["tokenizer_json"]
    for path, (_, checkpoint) in zip(paths[1:], loaded[1:]):
        if checkpoint["tokenizer_json"] != first:
            raise CheckpointContentError(
                f"{path} and {paths[0]} cannot be ensembled: their tokenizers differ "
                f"({tokenizer_difference(first, checkpoint['tokenizer_json'])}); an ensemble needs checkpoints "
                "trained on one vocabulary (the same data.* tokenizer settings and corpus)")
    return [module for module, _ in loaded], [checkpoint for _, checkpoint in loaded]


def ensemble_of(modules: Sequence[TranslationModule]) -> Ensemble | None:
    """The modules' models as one Ensemble (decoding/ensemble.py), or None for a single module (decoded as is,
    on the CUDA-graph path where it applies)."""
    return Ensemble([m.model for m in modules]) if len(modules) > 1 else None


def tokenizer_difference(a: str, b: str) -> str:
    """What differs between two tokenizers' JSON (`Tokenizer.to_json`), in words: the vocabulary's size, its
    first differing piece, the merges, or another part."""
    try:
        ja, jb = json.loads(a), json.loads(b)
        va, vb = ja["model"]["vocab"], jb["model"]["vocab"]
    except (ValueError, KeyError, TypeError):
        return "their serialized tokenizers are not the same"
    if len(va) != len(vb):
        return f"{len(vb):,} pieces against {len(va):,}"
    if va != vb:
        ia, ib = {i: p for p, i in va.items()}, {i: p for p, i in vb.items()}
        first = min(i for i in set(ia) | set(ib) if ia.get(i) != ib.get(i))
        return f"piece {first} is {ib.get(first)!r} against {ia.get(first)!r}"
    if ja["model"].get("merges") != jb["model"].get("merges"):
        return "the same pieces but different merges"
    parts = [key for key in sorted(set(ja) | set(jb)) if ja.get(key) != jb.get(key)]
    return f"the same pieces, different {', '.join(parts) or 'settings'}"


def _mentions_target(values: Any) -> bool:
    if isinstance(values, dict):
        return "_target_" in values or any(_mentions_target(v) for v in values.values())
    if isinstance(values, (list, tuple)):
        return any(_mentions_target(v) for v in values)
    return False
