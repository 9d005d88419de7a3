"""The training job behind `python -m transformer_lab.train`: compose, instantiate, fit, test, report."""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
import string
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from lightning.pytorch.utilities.exceptions import SIGTERMException

from transformer_lab.checkpointing.layout import WANDB_ID_FILE
from transformer_lab.checkpointing.policy import best_checkpoint_path
from transformer_lab.checkpointing.resume import check_resume_compatible, resolve_ckpt_path
from transformer_lab.checkpointing.writing import AtomicCheckpointIO, ensure_writable_directory
from transformer_lab.training.cadence import trainer_cadence_kwargs
from transformer_lab.training.cluster import PREEMPTED_EXIT_CODE, spawns_ranks_by_rerunning_command
from transformer_lab.training.config import ConfigError
from transformer_lab.training.console import progress_bar_callbacks
from transformer_lab.training.precision import precision_line
from transformer_lab.training.provenance import collect_provenance
from transformer_lab.training.module import TranslationModule
from transformer_lab.training.run_record import RunConfigRecord, mark_interrupted_attempt, record_failure
from transformer_lab.training.wandb_setup import finish_wandb_run, open_wandb_logger, resolve_wandb_mode

log = logging.getLogger(__name__)


def run_training(cfg: DictConfig) -> float | None:
    """Runs one job and returns the best dev BLEU (what sweeps optimize).

    Process-global state a job changes (environment variables such as WANDB_MODE) is restored when the job
    ends, so the next job of a multirun starts clean; the job's W&B run is finished either way, marked
    failed when the job raised. Every failure is recorded in summary.json and train.log.
    """
    environment = dict(os.environ)
    output_dir = Path(cfg.paths.output_dir)
    config_record = RunConfigRecord(output_dir, cfg)
    try:
        result = _train(cfg, config_record)
    except SIGTERMException:
        finish_wandb_run(exit_code=PREEMPTED_EXIT_CODE)
        raise SystemExit(PREEMPTED_EXIT_CODE) from None
    except BaseException as error:
        finish_wandb_run(exit_code=1)
        config_record.reject()
        record_failure(output_dir, error)
        raise
    else:
        finish_wandb_run(exit_code=0)
        return result
    finally:
        os.environ.clear()
        os.environ.update(environment)


def _train(cfg: DictConfig, config_record: RunConfigRecord) -> float | None:
    from transformer_lab.sweeps import validate_job_config

    validate_job_config(cfg)  # types and ranges of every section, the key named (sweeps run it before job 1)
    refuse_multirun_with_spawning_ddp(cfg)
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    mark_interrupted_attempt(output_dir)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # trains/loads the tokenizer so the model can be sized from it
    refuse_empty_evaluation_splits(datamodule, validate=cfg.fit, test=cfg.test)
    module = build_module(cfg, vocab_size=datamodule.tokenizer.vocab_size)
    module.tokenizer = datamodule.tokenizer
    module.data_config = {k: v for k, v in OmegaConf.to_container(cfg.data, resolve=True).items() if k != "_target_"}
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir) if cfg.fit else None
    if ckpt_path is not None:
        check_resume_compatible(ckpt_path, model=module.hparams["model"], data=module.data_config or {},
                                run_dir=output_dir)
    config_record.accept()  # before the loggers: a refused relaunch leaves the run's W&B run untouched

    loggers = build_loggers(cfg, output_dir)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if not loggers:  # LearningRateMonitor refuses to run without a logger; metrics.jsonl keeps the lr anyway
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks += progress_bar_callbacks(cfg.trainer, callbacks)
    plugins = [instantiate(p) for p in (cfg.trainer.get("plugins") or [])]  # a detector may find no cluster: None
    plugins = [plugin for plugin in plugins if plugin is not None] + [AtomicCheckpointIO()]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=plugins,
                                     **trainer_cadence_kwargs(cfg.trainer))  # val_check_interval: updates -> batches

    for callback in trainer.checkpoint_callbacks:
        ensure_writable_directory(Path(callback.dirpath))

    config_dict = OmegaConf.to_container(cfg, resolve=True)
    config_dict["parameters"] = module.model.parameter_counts()
    config_dict["row"] = row_name(cfg)  # W&B filters and groups runs by row and seed
    config_dict["provenance"] = collect_provenance(trainer)
    for logger in trainer.loggers:
        logger.log_hyperparams(config_dict)
    _print_start(module, output_dir)
    log.info(precision_line(OmegaConf.to_container(cfg.trainer, resolve=False).get("precision"), str(trainer.precision)))

    if cfg.fit:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if cfg.test:
        best = best_checkpoint_path(trainer)
        trainer.test(module, datamodule=datamodule, ckpt_path=best, weights_only=True)
    best_bleu = _best_bleu(trainer)
    _print_end(trainer, output_dir, best_bleu)
    return best_bleu


def build_module(cfg: DictConfig, vocab_size: int) -> TranslationModule:
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    configured = model_cfg.get("vocab_size")
    if configured not in (None, vocab_size):
        raise ConfigError(
            f"model.vocab_size={configured} but the data's tokenizer has {vocab_size} entries; "
            f"leave model.vocab_size unset (null) to take the tokenizer's size, or set data.vocab_size"
        )
    model_cfg["vocab_size"] = vocab_size
    return TranslationModule(
        model=model_cfg,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        loss=OmegaConf.to_container(cfg.loss, resolve=True),
        decoding=OmegaConf.to_container(cfg.decoding, resolve=True),
        nonfinite=OmegaConf.to_container(cfg.nonfinite, resolve=True),
    )


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


def refuse_multirun_with_spawning_ddp(cfg: DictConfig, multirun: bool | None = None) -> None:
    """Hydra multirun + DDP where Lightning starts the ranks by re-running sys.argv does not work
    (children start sweeps of their own or hang). Refuse it before any process starts."""
    if multirun is None:
        multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if not multirun:
        return
    if spawns_ranks_by_rerunning_command(cfg.trainer.get("strategy"), cfg.trainer.get("devices", 1)):
        raise ConfigError(
            "Hydra multirun (-m) with a DDP trainer whose ranks Lightning would start by re-running the "
            "command is not supported: each rank would start a sweep of its own. Use instead: on a cluster, "
            "`hydra/launcher=slurm` (SLURM starts every rank of each job); locally, one job per GPU "
            "(trainer=gpu), or run the DDP jobs one at a time without -m."
        )


def refuse_empty_evaluation_splits(datamodule: Any, validate: bool, test: bool) -> None:
    """A dev or test split without sentences would train without BLEU or end without test results."""
    for split, needed, way_out in (("valid", validate, "dev BLEU picks the best checkpoint; it needs sentences"),
                                   ("test", test, "or train without a test split: test=false")):
        if needed and not datamodule.split_texts(split)[0]:
            where = ", ".join(str(p) for p in datamodule.corpus.paths(split)) or f"the {split} split of data.corpus"
            raise ConfigError(f"the {split} split is empty ({where}): give it sentence pairs; {way_out}")


def _best_bleu(trainer: L.Trainer) -> float | None:
    callback = trainer.checkpoint_callback
    score = getattr(callback, "best_model_score", None) if callback is not None else None
    if score is not None:
        return float(score)
    value = trainer.callback_metrics.get("val/bleu")
    return None if value is None else float(value)


@rank_zero_only
def _print_start(module: TranslationModule, output_dir: Path) -> None:
    counts = module.model.parameter_counts()
    log.info("run directory: %s", output_dir)
    log.info("parameters: %s", ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@rank_zero_only
def _print_end(trainer: L.Trainer, output_dir: Path, best_bleu: float | None) -> None:
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    metrics = trainer.callback_metrics
    lines = [f"[bold]run directory[/bold]: {output_dir}"]
    if best_bleu is not None:
        lines.append(f"best dev BLEU: {best_bleu:.2f}")
    for key in ("test/bleu", "test/chrf", "test/chrf++", "test/paper_bleu"):
        if key in metrics:
            lines.append(f"{key}: {float(metrics[key]):.2f}")
    if "test/bleu" in metrics and trainer.datamodule is not None:
        import sacrebleu

        sources, references = trainer.datamodule.split_texts("test")
        copy = sacrebleu.corpus_bleu(sources, [references]).score
        lines.append(f"copy-the-source baseline test BLEU: {copy:.2f}")
    lines.append(f"sacreBLEU signature: {trainer.lightning_module.bleu_signature}")
    offline_runs = sorted((output_dir / "wandb").glob("offline-run-*"))
    if offline_runs:
        lines.append(f"W&B ran offline; to upload: wandb sync {offline_runs[-1]}")
    console.print("\n".join(lines), soft_wrap=True)  # no wrapping: paths and commands stay copyable
