"""The run's loggers: W&B (one run per run directory, kept across relaunches), CSV, TensorBoard, as configured
under `logger`; the W&B run is named, tagged and grouped by the report's row and seed."""

from __future__ import annotations

import importlib.util
import secrets
import string
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict

from transformer_lab.checkpointing.layout import WANDB_ID_FILE
from transformer_lab.config.checks import ConfigError
from transformer_lab.training.logging.wandb_setup import open_wandb_logger, resolve_wandb_mode


def build_loggers(cfg: DictConfig, output_dir: Path) -> list[Any]:
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if logger_cfg is None:
            continue
        if name == "wandb":
            loggers.append(_build_wandb_logger(cfg, logger_cfg, output_dir))
        else:
            _require_tensorboard_if_used(name, logger_cfg)
            loggers.append(instantiate(logger_cfg))
    return [logger for logger in loggers if logger is not None]


def _require_tensorboard_if_used(name: str, logger_cfg: DictConfig) -> None:
    """TensorBoard is an optional extra of the package (pyproject.toml): say how to get it."""
    if not str(logger_cfg.get("_target_", "")).endswith("TensorBoardLogger"):
        return
    if importlib.util.find_spec("tensorboard") is None and importlib.util.find_spec("tensorboardX") is None:
        raise ConfigError(
            f"logger.{name} needs the tensorboard package, an optional extra of transformer_lab: "
            "pip install 'transformer_lab[tensorboard]' (or choose logger=wandb, logger=csv or logger=none)"
        )


def _build_wandb_logger(cfg: DictConfig, logger_cfg: DictConfig, output_dir: Path):
    logger_cfg = logger_cfg.copy()
    with open_dict(logger_cfg):  # ours, not WandbLogger's: how long to wait, and what to do without a server
        init_timeout = float(logger_cfg.pop("init_timeout", 60))
        fallback_offline = bool(logger_cfg.pop("fallback_offline", False))
    mode = resolve_wandb_mode(logger_cfg.get("mode"))
    if mode == "disabled":
        return None
    # One W&B run per run directory: the id is kept beside the checkpoints, so a relaunch that resumes
    # from them continues the same W&B run (and a new job never merges into an old one).
    id_file = output_dir / WANDB_ID_FILE
    run_id = logger_cfg.get("id")
    if run_id is None and id_file.exists():
        run_id = id_file.read_text().strip()
    if run_id is None:
        run_id = new_wandb_run_id()
    if rank_zero_only.rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(run_id)
    # `mode` goes to wandb.init; WandbLogger(offline=True) would set WANDB_MODE for the whole process.
    overrides = {"id": run_id, "resume": "allow", "tags": wandb_tags(cfg)}
    if cfg.get("run_name") is None:
        overrides["name"] = _default_run_name()
    return open_wandb_logger(
        lambda mode, settings: instantiate(logger_cfg, mode=mode, settings=settings, **overrides),
        mode, init_timeout, fallback_offline,
    )


def new_wandb_run_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def _default_run_name() -> str | None:
    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    overrides = [o for o in hydra_cfg.overrides.task if not o.startswith(("hydra.", "paths."))]
    return ",".join(overrides)[:120] or hydra_cfg.job.name


def row_name(cfg: DictConfig) -> str:
    """The report's row this job belongs to: the config's `row` (Table 3 label), else the job's own
    overrides minus the seed and where-it-runs settings, else the experiment's name."""
    if cfg.get("row"):
        return str(cfg.row)
    overrides = []
    if HydraConfig.initialized():
        overrides = [o for o in HydraConfig.get().overrides.task
                     if not o.lstrip("+~").startswith(("seed=", "hydra.", "paths.", "logger", "trainer.enable_"))]
    return ",".join(overrides)[:120] or str(cfg.get("experiment_name") or "default")


def wandb_tags(cfg: DictConfig) -> list[str]:
    """The configured tags plus the row name and `seed=N`, so runs of one row filter together in W&B."""
    tags = [str(t) for t in (cfg.get("tags") or [])]
    for tag in (row_name(cfg), f"seed={cfg.seed}"):
        if tag[:64] not in tags:  # W&B limits tags to 64 characters
            tags.append(tag[:64])
    return tags


def wandb_loggers(trainer) -> list[WandbLogger]:
    """The trainer's W&B loggers (callbacks log images and tables to these only)."""
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
