"""Sweep-level checks: every job of a multirun is composed and validated before the first one starts.

`ValidatingSweeper` (the sweeper of conf/hydra/default.yaml; Hydra requires sweepers
to live in the `hydra_plugins` package, so it is in src/hydra_plugins/transformer_lab_sweeper) is Hydra's basic sweeper;
before launching it composes each job's config and runs the same checks the job itself would run first
(types and ranges of the trainer, data, optim, loss, decoding and nonfinite values, model constructor
checks, DDP + multirun). A typo or an impossible
combination in job 7 is reported at once, and no job starts.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class SweepConfigError(ValueError):
    pass


def validate_job_config(cfg: DictConfig) -> None:
    """The checks a training job runs before it starts, without data, model weights or processes."""
    from transformer_lab.model import TransformerConfig
    from transformer_lab.training.config import DecodingConfig, LossConfig, OptimConfig, dataclass_from_mapping
    from transformer_lab.training.nonfinite import NonFiniteConfig
    from transformer_lab.training.value_checks import (
        DATA_CHECKS,
        TOP_LEVEL_CHECKS,
        TRAINER_CHECKS,
        check_section,
    )

    for section, checks in (("", TOP_LEVEL_CHECKS), ("trainer", TRAINER_CHECKS), ("data", DATA_CHECKS)):
        values = cfg[section] if section else cfg
        plain = {key: OmegaConf.to_object(values[key]) if OmegaConf.is_config(values[key]) else values[key]
                 for key in checks if key in values}  # only these keys: others may need Hydra's resolvers
        check_section(plain, checks, section)
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("vocab_size") is None:  # filled from the tokenizer at run time; any size checks the rest
        model["vocab_size"] = int(cfg.data.get("vocab_size") or 1000)
    TransformerConfig.from_mapping(model).validate()
    dataclass_from_mapping(OptimConfig, OmegaConf.to_container(cfg.optim, resolve=True), "optim")
    dataclass_from_mapping(LossConfig, OmegaConf.to_container(cfg.loss, resolve=True), "loss")
    dataclass_from_mapping(NonFiniteConfig, OmegaConf.to_container(cfg.nonfinite, resolve=True), "nonfinite")
    DecodingConfig.from_mapping(OmegaConf.to_container(cfg.decoding, resolve=True))
