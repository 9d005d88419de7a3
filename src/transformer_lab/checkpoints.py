"""Rebuilding a trained model from a checkpoint file alone (weights, tokenizer and data settings)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from transformer_lab.data.tokenizer import Tokenizer
from transformer_lab.training.checkpoint_io import CheckpointError, load_checkpoint_file
from transformer_lab.training.config import ModuleSettings, SearchConfig
from transformer_lab.training.module import TranslationModule
from transformer_lab.training.run_context import RunContext, SplitTexts


class CheckpointContentError(CheckpointError):
    pass


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


class RunningAverage:
    """Element-wise mean of state dicts added one at a time: holds the float64 sum and nothing else, so
    averaging N checkpoints needs the memory of the sum plus the one being added, whatever N.

    Floating-point tensors are summed in float64 and divided once at the end (the same arithmetic as
    summing them all at once); other tensors (integer buffers) are taken from the last state dict added.
    Keys that share storage in the first state dict (tied weights) are summed once and share storage in
    the result.
    """

    def __init__(self) -> None:
        self.count = 0
        self._keys: list[str] = []
        self._alias: dict[str, str] = {}  # key -> the first key holding the same tensor
        self._sums: dict[str, torch.Tensor] = {}
        self._others: dict[str, torch.Tensor] = {}

    def add(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        if self.count == 0:
            self._keys = list(state_dict)
            self._alias = _tied_keys(state_dict)
        elif list(state_dict) != self._keys:
            raise CheckpointContentError(
                f"checkpoint {self.count} has different parameters than checkpoint 0: all averaged checkpoints "
                "must come from the same model configuration")
        for key, tensor in state_dict.items():
            if self._alias[key] != key:
                continue
            if not tensor.is_floating_point():
                self._others[key] = tensor.clone()
            elif key not in self._sums:
                self._sums[key] = tensor.to(torch.float64, copy=True)
            else:
                self._sums[key].add_(tensor)  # in place, promoted to float64: no temporary copy
        self.count += 1

    def result(self, dtypes: Mapping[str, torch.dtype]) -> dict[str, torch.Tensor]:
        """The mean, in each key's `dtypes[key]` (those of the newest checkpoint); consumes the sum."""
        if self.count == 0:
            raise ValueError("no checkpoints to average")
        averaged: dict[str, torch.Tensor] = {}
        for key in self._keys:
            owner = self._alias[key]
            if owner not in averaged:
                if owner in self._others:
                    averaged[owner] = self._others[owner]
                else:
                    averaged[owner] = (self._sums.pop(owner) / self.count).to(dtypes[owner])
            averaged[key] = averaged[owner]
        return averaged


def _tied_keys(state_dict: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """key -> the first key whose tensor is the very same view of the same storage (tied weights)."""
    first: dict[tuple, str] = {}
    alias = {}
    for key, tensor in state_dict.items():
        identity = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
                    tuple(tensor.stride()), tensor.dtype)
        alias[key] = first.setdefault(identity, key)
    return alias


def average_state_dicts(state_dicts: Iterable[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors (accumulated in float64); other tensors from the last.

    `state_dicts` may be a generator that loads each one when asked: only one is held at a time."""
    average = RunningAverage()
    dtypes: dict[str, torch.dtype] = {}
    for state_dict in state_dicts:
        average.add(state_dict)
        dtypes = {key: tensor.dtype for key, tensor in state_dict.items()}
        del state_dict  # let it go before the generator loads the next one
    return average.result(dtypes)
