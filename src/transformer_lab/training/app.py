"""The training job behind `python -m transformer_lab.train`: preflight -> data -> module -> fit -> test -> summary.

Every check that needs no data runs first (`preflight`); the config becomes typed settings once there. The
datamodule's tokenizer then sizes the model, and the module receives everything it needs from the run in
its constructor (`RunContext`). Failures of any kind end in summary.json and train.log (`run_record`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

from transformer_lab.training import preflight
from transformer_lab.training.checkpoint_io import UnreadableCheckpointError, load_checkpoint_file
from transformer_lab.training.config import ConfigError
from transformer_lab.training.module import TranslationModule
from transformer_lab.training.precision import precision_line
from transformer_lab.training.preemption import PREEMPTED_EXIT_CODE
from transformer_lab.training.run_context import RunContext
from transformer_lab.training.run_messages import print_end, print_start
from transformer_lab.training.run_record import RunConfigRecord, mark_interrupted_attempt, record_failure
from transformer_lab.training.trainer_setup import build_trainer, log_run_config
from transformer_lab.training.wandb_setup import finish_wandb_run

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
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    preflight.check_job_config(cfg, multirun=multirun)  # every check that needs no data (sweeps run it first)
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    mark_interrupted_attempt(output_dir)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()  # trains/loads the tokenizer, which sizes the model
    preflight.check_evaluation_splits(datamodule, validate=cfg.fit, test=cfg.test)
    tokenizer = datamodule.tokenizer
    settings = preflight.module_settings(cfg, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    module = TranslationModule(settings, RunContext.of_datamodule(datamodule, preflight.data_settings(cfg)))
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir) if cfg.fit else None
    if ckpt_path is not None:
        check_resume_compatible(ckpt_path, module, output_dir)
    config_record.accept()  # before the loggers: a refused relaunch leaves the run's W&B run untouched

    trainer = build_trainer(cfg, output_dir)
    log_run_config(trainer, cfg, module)
    print_start(module, output_dir)
    log.info(precision_line(OmegaConf.to_container(cfg.trainer, resolve=False).get("precision"), str(trainer.precision)))
    if cfg.fit:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if cfg.test:
        trainer.test(module, datamodule=datamodule, ckpt_path=_best_checkpoint(trainer), weights_only=True)
    best_bleu = _best_bleu(trainer)
    print_end(trainer, datamodule, output_dir, best_bleu)
    return best_bleu


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """`last` means <run dir>/checkpoints/last.ckpt, not the newest file by modification time; `auto` (the
    default) resumes from it when it exists, so relaunching a preempted command in its run directory resumes."""
    if ckpt_path is None:
        return None
    if ckpt_path == "auto":
        path = output_dir / "checkpoints" / "last.ckpt"
        if path.is_file():
            log.info("resuming from %s (ckpt_path=auto; ckpt_path=null starts over)", path)
            return str(path)
        return None
    if ckpt_path == "last":
        path = output_dir / "checkpoints" / "last.ckpt"
        if not path.is_file():
            raise FileNotFoundError(
                f"ckpt_path=last: no {path}. Relaunch in the run directory that holds it with "
                f"hydra.run.dir=<that directory>, or give the checkpoint's path: ckpt_path=/path/to/x.ckpt"
            )
        return str(path)
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return ckpt_path


def check_resume_compatible(ckpt_path: str, module: TranslationModule, output_dir: Path) -> None:
    """Resuming with a different model or data fails here with the differing keys named, instead of a
    shape-mismatch traceback from deep inside `load_state_dict` (or silently training on other data).
    An unreadable checkpoint (truncated, empty) fails here too, naming the newest readable one as the way on."""
    try:
        checkpoint = load_checkpoint_file(ckpt_path, mmap=True, required=("state_dict",))  # metadata only
    except UnreadableCheckpointError as error:
        raise ConfigError(f"cannot resume: {error}\n{_way_on_from(output_dir, Path(ckpt_path))}") from None
    saved = {"model": checkpoint.get("hyper_parameters", {}).get("model", {}), "data": checkpoint.get("data_config", {})}
    current = {"model": module.hparams["model"], "data": module.data_config or {}}
    differences = [
        f"{section}.{key}: {saved[section].get(key)!r} in the checkpoint, {current[section].get(key)!r} now"
        for section in ("model", "data")
        for key in sorted(set(saved[section]) | set(current[section]))
        if key not in RESUMABLE_DATA_KEYS and saved[section].get(key) != current[section].get(key)
    ]
    if differences:
        raise ConfigError(
            f"cannot resume from {ckpt_path}: the configuration differs from the one it was trained with:\n  "
            + "\n  ".join(differences)
            + "\nResume with the original settings, or start a new run (ckpt_path=null or a new hydra.run.dir)."
        )


def _way_on_from(output_dir: Path, unreadable: Path) -> str:
    """Names the newest readable, resumable checkpoint of the run directory (by the step stored inside)."""
    candidates = []
    for path in (output_dir / "checkpoints").rglob("*.ckpt"):
        if path.resolve() == unreadable.resolve():
            continue
        try:
            checkpoint = load_checkpoint_file(path, mmap=True, required=("state_dict", "loops"))
        except (UnreadableCheckpointError, OSError):
            continue
        candidates.append((int(checkpoint.get("global_step", 0)), str(path)))
    if not candidates:
        return "No other readable checkpoint is in the run directory: start over with ckpt_path=null."
    step, path = max(candidates)
    return (f"The newest readable checkpoint in the run directory is {path} (step {step}): resume from it with "
            f"ckpt_path={path}, or start over with ckpt_path=null.")


# Data settings that may change between the interrupted run and its resumption (they don't change the data).
RESUMABLE_DATA_KEYS = frozenset({"num_workers", "pin_memory", "cache_dir"})


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    best = getattr(callback, "best_model_path", "") if callback is not None else ""
    return best or None


def _best_bleu(trainer: L.Trainer) -> float | None:
    callback = trainer.checkpoint_callback
    score = getattr(callback, "best_model_score", None) if callback is not None else None
    if score is not None:
        return float(score)
    value = trainer.callback_metrics.get("val/bleu")
    return None if value is None else float(value)
