"""Checkpoint averaging (§6.1: the base model averages the last 5 periodic checkpoints, big the last 20).

"Last" is by the global step stored in each file, never by modification time. The result keeps the newest
checkpoint's hyperparameters, tokenizer and data settings, so `evaluate` and `translate` take it like any
checkpoint; it carries no optimizer state, so it cannot resume training.

Memory: the checkpoints are memory-mapped and added one at a time to a running float64 sum, so the peak
is about the sum (2x the float32 weights) plus one checkpoint's weights, whatever N (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from transformer_lab.checkpointing.errors import CheckpointContentError
from transformer_lab.checkpointing.layout import CHECKPOINT_PATTERN, RunLayout
from transformer_lab.checkpointing.reading import load_checkpoint_file

# Training state that an average of weights cannot carry: the result is for evaluation, not for resuming.
DROPPED_KEYS = ("state_dict", "optimizer_states", "lr_schedulers", "loops", "callbacks")


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

    def add(self, state_dict: Mapping[str, torch.Tensor], name: str | None = None) -> None:
        """Adds one state dict; `name` (its file) is used in the errors. Refuses one whose parameter names
        or shapes differ from the first's (another architecture), before adding anything of it."""
        name = name or f"checkpoint {self.count}"
        if self.count == 0:
            self._keys = list(state_dict)
            self._alias = _tied_keys(state_dict)
            self._shapes = {key: tuple(tensor.shape) for key, tensor in state_dict.items()}
            self._first = name
        elif list(state_dict) != self._keys:
            extra = sorted(set(state_dict) - set(self._keys))[:3]
            absent = sorted(set(self._keys) - set(state_dict))[:3]
            raise CheckpointContentError(
                f"{name} has different parameters than {self._first} (only in {name}: {extra or 'none'}; only in "
                f"{self._first}: {absent or 'none'}): averaged checkpoints must come from one model configuration; "
                "pick the checkpoints of one run")
        else:
            for key, tensor in state_dict.items():
                if tuple(tensor.shape) != self._shapes[key]:
                    raise CheckpointContentError(
                        f"{name}: {key} has shape {tuple(tensor.shape)}, {self._shapes[key]} in {self._first}: "
                        "averaged checkpoints must come from one model configuration; pick the checkpoints of one run")
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


def average_state_dicts(state_dicts: Iterable[Mapping[str, torch.Tensor]],
                        names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Element-wise mean of floating-point tensors (accumulated in float64); other tensors from the last.

    `state_dicts` may be a generator that loads each one when asked: only one is held at a time; `names`
    (their files) are used in the errors."""
    average = RunningAverage()
    dtypes: dict[str, torch.dtype] = {}
    names = list(names) if names is not None else []
    for index, state_dict in enumerate(state_dicts):
        average.add(state_dict, names[index] if index < len(names) else None)
        dtypes = {key: tensor.dtype for key, tensor in state_dict.items()}
        del state_dict  # let it go before the generator loads the next one
    return average.result(dtypes)


def find_checkpoints(inputs: Iterable[str | Path]) -> list[Path]:
    """The .ckpt files named by `inputs`: files as given; for a directory, its run layout's periodic
    checkpoints when it is a run directory, else the .ckpt files directly inside it."""
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            layout = RunLayout(path)
            search_dir = layout.periodic_dir if layout.periodic_dir.is_dir() else path
            paths.extend(sorted(search_dir.glob(CHECKPOINT_PATTERN)))
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"{path}: neither a checkpoint file nor a directory")
    return paths


@dataclass
class AveragedCheckpoint:
    checkpoint: dict[str, Any]  # the newest input's metadata, the averaged `state_dict`, `averaged_from`
    steps: list[int]  # the global step of each averaged input, oldest first


def average_last_checkpoints(paths: Iterable[Path], last: int) -> AveragedCheckpoint:
    """Averages the `last` checkpoints of `paths` with the highest stored global step (fewer when fewer)."""
    paths = list(paths)
    # Memory-mapped: reading a checkpoint's step does not read its tensors.
    metadata = {path: load_checkpoint_file(path, mmap=True, required=("state_dict",)) for path in paths}
    steps = {path: checkpoint.get("global_step", 0) for path, checkpoint in metadata.items()}
    chosen = sorted(paths, key=lambda path: steps[path])[-last:]
    check_same_model(chosen, {path: metadata[path] for path in chosen})
    del metadata
    # One checkpoint at a time is mapped and added to a running float64 sum (docs/PERFORMANCE.md).
    state_dicts = (load_checkpoint_file(path, mmap=True)["state_dict"] for path in chosen)
    newest = load_checkpoint_file(chosen[-1], mmap=True)
    averaged = {key: value for key, value in newest.items() if key not in DROPPED_KEYS}
    averaged["state_dict"] = average_state_dicts(state_dicts, names=[str(path) for path in chosen])
    averaged["averaged_from"] = [f"{p.name}@step{steps[p]}" for p in chosen]
    return AveragedCheckpoint(checkpoint=averaged, steps=[steps[p] for p in chosen])


def check_same_model(paths: list[Path], checkpoints: Mapping[Path, Mapping[str, Any]]) -> None:
    """Refuse checkpoints whose model settings (`hyper_parameters.model`) differ from the newest one's,
    naming the file and each differing key: the same parameter shapes can hold another architecture
    (post- vs pre-norm, other head counts), whose average would be a meaningless model."""
    newest = paths[-1]
    reference = _model_settings(checkpoints[newest])
    for path in paths[:-1]:
        settings = _model_settings(checkpoints[path])
        differing = [f"model.{key}: {settings.get(key)!r} there, {reference.get(key)!r} in {newest.name}"
                     for key in sorted(set(settings) | set(reference), key=str)
                     if settings.get(key) != reference.get(key)]
        if differing:
            raise CheckpointContentError(
                f"{path} has another model than {newest} ({'; '.join(differing[:4])}): averaged checkpoints must "
                "come from one model configuration; pick the checkpoints of one run. Nothing was written.")


def _model_settings(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    hyper_parameters = checkpoint.get("hyper_parameters") or {}
    model = hyper_parameters.get("model") if isinstance(hyper_parameters, Mapping) else None
    return dict(model) if isinstance(model, Mapping) else {}
