"""The one boundary between a composed Hydra config and the code: every check a job can make before it
starts, and the config sections turned into typed settings once.

The job (`training.app`), the sweeper (`hydra_plugins.transformer_lab_sweeper`, on every job of a multirun
before the first starts) and `describe` call it:
- `check_job_config`: types and ranges of the top-level, trainer and data values, `init_from` beside
  `ckpt_path` and `data.tokenizer_file` (`init_from.check_init_from_config`), the module's sections
  parsed into `ModuleSettings` (with the vocabulary size the data config plans), and DDP + multirun;
- `module_settings`: the module's settings with the vocabulary size and pad id of the real tokenizer
  (`model.vocab_size` is filled here and nowhere else, and `model.pad_id` checked against the tokenizer's);
- `data_settings`: the plain data section a checkpoint stores;
- `check_evaluation_splits`: dev/test splits that would leave the run without BLEU are refused.
No Lightning import at module level: the sweeper imports this.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from transformer_lab.config.checks import (
    DATA_CHECKS,
    EARLY_STOPPING_CHECKS,
    TOP_LEVEL_CHECKS,
    TRAINER_CHECKS,
    ConfigError,
    check_section,
    one_of,
)
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.init_from import check_init_from_config
from transformer_lab.training.module.settings import MODULE_SECTIONS, ModuleSettings
from transformer_lab.training.records.best_metrics import BEST_OF


class SweepConfigError(ValueError):
    """Some jobs of a sweep cannot run; raised by the sweeper before any job starts."""


# A vocabulary size to check the other model settings with when neither model.vocab_size nor data.vocab_size
# is set (an external tokenizer_file: its size is known only once it is read).
UNKNOWN_VOCAB_PLACEHOLDER = 1000


def plain(cfg: DictConfig, key: str) -> Any:
    """One section of the composed config as plain containers, interpolations resolved."""
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def check_job_config(cfg: DictConfig, multirun: bool) -> ModuleSettings:
    """The checks a training job runs before it starts, without data, weights or processes; returns the
    module settings sized with the planned vocabulary (the data config's BPE size)."""
    for section, checks in (("", TOP_LEVEL_CHECKS), ("trainer", TRAINER_CHECKS), ("data", DATA_CHECKS),
                            ("early_stopping", {**EARLY_STOPPING_CHECKS, "metric": one_of(BEST_OF)})):
        values = (cfg.get(section) or {}) if section else cfg
        values = {key: OmegaConf.to_object(values[key]) if OmegaConf.is_config(values[key]) else values[key]
                  for key in checks if key in values}  # only these keys: others may need Hydra's runtime
        check_section(values, checks, section)
    check_init_from_config(cfg.get("init_from"), cfg.get("ckpt_path"), OmegaConf.select(cfg, "data.tokenizer_file"))
    settings = module_settings(cfg, vocab_size=planned_vocab_size(cfg) or UNKNOWN_VOCAB_PLACEHOLDER, pad_id=PAD_ID)
    refuse_multirun_with_spawning_ddp(cfg, multirun)
    return settings


def planned_vocab_size(cfg: DictConfig) -> int | None:
    """`model.vocab_size` when given, else the data config's `vocab_size` (the BPE size the tokenizer is
    trained to; the real tokenizer can end a few entries short), else None."""
    vocab = OmegaConf.select(cfg, "model.vocab_size") or OmegaConf.select(cfg, "data.vocab_size")
    return None if vocab is None else int(vocab)


def module_settings(cfg: DictConfig, vocab_size: int, pad_id: int) -> ModuleSettings:
    """The module's sections of `cfg`, typed, with the tokenizer's vocabulary size and pad id."""
    sections = {name: plain(cfg, name) for name in MODULE_SECTIONS}
    model = dict(sections["model"] or {})
    configured = model.get("vocab_size")
    if configured not in (None, vocab_size):
        raise ConfigError(
            f"model.vocab_size={configured} but the data's tokenizer has {vocab_size} entries; "
            f"leave model.vocab_size unset (null) to take the tokenizer's size, or set data.vocab_size"
        )
    if model.get("pad_id", pad_id) != pad_id:
        raise ConfigError(
            f"model.pad_id={model['pad_id']} but the tokenizer's <pad> is id {pad_id}: the model must mask the "
            f"padding the data writes; set model.pad_id={pad_id} (or leave it at the model config's default)"
        )
    sections["model"] = {**model, "vocab_size": vocab_size, "pad_id": pad_id}
    return ModuleSettings.from_plain(sections)


def data_settings(cfg: DictConfig) -> dict[str, Any]:
    """The data section without Hydra's `_target_`/`_convert_` (checkpoints store it; no code reference is ever
    stored)."""
    return {key: value for key, value in plain(cfg, "data").items() if not key.startswith("_")}


def refuse_multirun_with_spawning_ddp(cfg: DictConfig, multirun: bool) -> None:
    """Hydra multirun + DDP where Lightning starts the ranks by re-running sys.argv does not work
    (children start sweeps of their own or hang). Refuse it before any process starts."""
    if not multirun:
        return
    from transformer_lab.training.runtime.cluster import spawns_ranks_by_rerunning_command

    if spawns_ranks_by_rerunning_command(cfg.trainer.get("strategy"), cfg.trainer.get("devices", 1)):
        raise ConfigError(
            "Hydra multirun (-m) with a DDP trainer whose ranks Lightning would start by re-running the "
            "command is not supported: each rank would start a sweep of its own. Use instead: on a cluster, "
            "`hydra/launcher=slurm` (SLURM starts every rank of each job); locally, one job per GPU "
            "(trainer=gpu), or run the DDP jobs one at a time without -m."
        )


def check_evaluation_splits(datamodule: Any, validate: bool, test: bool) -> None:
    """A dev or test split without sentences would train without BLEU or end without test results."""
    for split, needed, way_out in (("valid", validate, "dev BLEU picks the best checkpoint; it needs sentences"),
                                   ("test", test, "or train without a test split: test=false")):
        if needed and not datamodule.split_texts(split)[0]:
            where = ", ".join(str(p) for p in datamodule.corpus.paths(split)) or f"the {split} split of data.corpus"
            raise ConfigError(f"the {split} split is empty ({where}): give it sentence pairs; {way_out}")
