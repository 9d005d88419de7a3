"""The Lightning Trainer of a job, as configured: loggers, callbacks (minus those that cannot run without a
logger), progress display, the cluster plugin and atomic checkpoint writes, validation cadence in updates;
and the run's configuration as the loggers record it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from omegaconf import DictConfig, OmegaConf

from transformer_lab.checkpointing.writing import AtomicCheckpointIO, ensure_writable_directory
from transformer_lab.training.cadence import trainer_cadence_kwargs
from transformer_lab.training.callbacks.early_stopping import early_stopping_callback
from transformer_lab.training.logging.console import progress_bar_callbacks
from transformer_lab.training.logging.loggers import build_loggers, row_name
from transformer_lab.training.records.provenance import collect_provenance


def build_trainer(cfg: DictConfig, output_dir: Path) -> L.Trainer:
    loggers = build_loggers(cfg, output_dir)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if not loggers:  # LearningRateMonitor refuses to run without a logger; metrics.jsonl keeps the lr anyway
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    stopper = early_stopping_callback(OmegaConf.to_container(cfg.early_stopping, resolve=True)
                                      if cfg.get("early_stopping") is not None else None)
    callbacks += [stopper] if stopper is not None else []  # early_stopping.patience=N; null: off
    callbacks += progress_bar_callbacks(cfg.trainer, callbacks)
    plugins = [instantiate(p) for p in (cfg.trainer.get("plugins") or [])]  # a detector may find no cluster: None
    plugins = [plugin for plugin in plugins if plugin is not None] + [AtomicCheckpointIO()]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins,
                                     **trainer_cadence_kwargs(cfg.trainer))  # val_check_interval: updates -> batches
    for callback in trainer.checkpoint_callbacks:
        ensure_writable_directory(Path(callback.dirpath))
    return trainer


def log_run_config(trainer: L.Trainer, cfg: DictConfig, module: L.LightningModule) -> None:
    """The resolved config plus parameter counts, the report's row and the provenance, to every logger."""
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)
    config["parameters"] = module.model.parameter_counts()
    config["row"] = row_name(cfg)  # W&B filters and groups runs by row and seed
    config["provenance"] = collect_provenance(trainer)
    for logger in trainer.loggers:
        logger.log_hyperparams(config)
