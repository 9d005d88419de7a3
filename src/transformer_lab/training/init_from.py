"""`init_from=CKPT`: start a new run from a trained model's weights (fine-tuning, continued training, domain
adaptation), with a fresh optimizer, learning-rate schedule and step count.

What the checkpoint decides and what the config decides:
- the weights and the tokenizer come from the checkpoint (`state_dict`, `tokenizer_json`); the datamodule
  receives the tokenizer ready-made and encodes the new run's data with it;
- the architecture must match. The composed `model` config is compared with the checkpoint's, every
  differing key named with both values and the overrides that make them match. The checkpoint's
  architecture is not adopted silently: Hydra cannot tell a value the user typed from a group default, so
  "adopt unless overridden" would either miss a typed override or overrule none; and the run's own config
  record (`.hydra/config.yaml`, what `describe`, the report and a resume read) must say what was trained.
  fairseq asks for the same `--arch` for the same reason. Only the dropout rates may differ: they are
  training settings (like label smoothing and the learning-rate settings, which live outside `model`);
- the vocabulary must match: `data.tokenizer_file` cannot be given alongside, and `data.vocab_size` (when the
  source run trained its own BPE) must be the source's.
- `init_from` with `ckpt_path=last` or a checkpoint path is refused (resume *or* initialize); with
  `ckpt_path=auto` (the default) a relaunch that finds the run's own last.ckpt resumes from it, so a
  preempted fine-tuning run continues instead of starting over from the source weights.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_lab.checkpointing.errors import CheckpointError
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.checkpointing.resume import model_with_defaults
from transformer_lab.config.checks import ConfigError
from transformer_lab.data.tokenizers.stored import AnyTokenizer, tokenizer_from_json

# Model keys that may differ from the source checkpoint's: regularization, not architecture (no parameter
# shape and no computed function of a trained model changes with them at inference).
TRAINING_ONLY_MODEL_KEYS = frozenset({"dropout", "attention_dropout", "activation_dropout"})
# The data keys that train a tokenizer, unused with init_from: the checkpoint's tokenizer is taken.
TOKENIZER_DATA_KEYS = ("vocab_size", "tokenizer_file")


def check_init_from_config(init_from: Any, ckpt_path: Any, tokenizer_file: Any) -> None:
    """The checks that need no file read (preflight runs them for every job of a sweep first)."""
    if init_from is None:
        return
    if not isinstance(init_from, str) or not init_from:
        raise ConfigError(f"init_from={init_from!r} is not valid: give the path of a transformer_lab checkpoint "
                          "(.ckpt), or null")
    if ckpt_path not in (None, "auto"):
        raise ConfigError(
            f"init_from={init_from} together with ckpt_path={ckpt_path}: a run either resumes a checkpoint "
            "(ckpt_path: its optimizer, schedule and step count too) or starts from a model's weights "
            "(init_from: fresh optimizer, schedule and steps). Drop one of them; ckpt_path=auto (the default) "
            "resumes the fine-tuning run itself when it is relaunched."
        )
    if tokenizer_file:
        raise ConfigError(
            f"init_from={init_from} together with data.tokenizer_file={tokenizer_file}: the model's embeddings "
            "belong to the tokenizer inside the checkpoint, which init_from uses. Drop data.tokenizer_file "
            "(data.tokenizer_file=null)."
        )
    if not Path(init_from).expanduser().is_file():
        what = "a directory" if Path(init_from).expanduser().is_dir() else "no such file"
        raise ConfigError(f"init_from={init_from}: {what}; give a checkpoint file, e.g. "
                          "<run dir>/checkpoints/best-....ckpt or last.ckpt")


@dataclass(frozen=True)
class InitSource:
    """The checkpoint a run starts from: its path, contents and tokenizer."""

    path: Path
    checkpoint: Mapping[str, Any]
    tokenizer: AnyTokenizer

    @classmethod
    def read(cls, path: str | os.PathLike) -> InitSource:
        path = Path(path).expanduser()
        try:
            checkpoint = load_checkpoint_file(path, required=("state_dict", "hyper_parameters", "tokenizer_json"))
        except CheckpointError as error:  # names the file and why it is not a checkpoint
            raise ConfigError(f"init_from: {error}") from None
        return cls(path=path, checkpoint=checkpoint, tokenizer=tokenizer_from_json(checkpoint["tokenizer_json"]))

    @property
    def model(self) -> Mapping[str, Any]:
        return self.checkpoint["hyper_parameters"].get("model", {})

    @property
    def data_config(self) -> Mapping[str, Any]:
        return self.checkpoint.get("data_config") or {}

    def check_vocabulary(self, data: Mapping[str, Any]) -> None:
        """`data.vocab_size` of this run must be the source run's (when the source trained its own BPE)."""
        saved, now = self.data_config.get("vocab_size"), data.get("vocab_size")
        if self.data_config.get("tokenizer_file") or saved is None or now == saved:
            return
        raise ConfigError(
            f"init_from={self.path}: data.vocab_size is {saved!r} in the checkpoint, {now!r} now. The run uses "
            f"the checkpoint's tokenizer ({self.tokenizer.vocab_size} entries); set data.vocab_size={saved}."
        )

    def check_architecture(self, model: Mapping[str, Any]) -> None:
        """Every architecture key of `model` (plain, vocabulary filled in) must equal the checkpoint's."""
        saved, now = _flat(model_with_defaults(self.model)), _flat(model_with_defaults(model))
        differing = [key for key in sorted(set(saved) | set(now))
                     if key.split(".")[-1] not in TRAINING_ONLY_MODEL_KEYS and saved.get(key) != now.get(key)]
        if not differing:
            return
        lines = "\n  ".join(f"model.{key}: {saved.get(key)!r} in the checkpoint, {now.get(key)!r} in the config"
                            for key in differing)
        overrides = " ".join(f"model.{key}={_override_value(saved.get(key))}" for key in differing)
        raise ConfigError(
            f"init_from={self.path}: the model config differs from the checkpoint's architecture:\n  {lines}\n"
            f"Make them match: add `{overrides}` (or the model config and experiment the checkpoint was trained "
            "with); only model.dropout, model.attention_dropout and model.activation_dropout may differ."
        )

    def record(self) -> dict[str, Any]:
        """What summary.json keeps of the source: its path, md5, size and modification time."""
        stat = self.path.stat()
        return {"path": str(self.path.resolve()), "md5": _md5(self.path), "size": stat.st_size,
                "mtime": stat.st_mtime, "global_step": int(self.checkpoint.get("global_step", 0))}


def _flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"positional": {"name": ...}} -> {"positional.name": ...}: nested keys named as overrides spell them."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _override_value(value: Any) -> str:
    return "null" if value is None else str(value)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
