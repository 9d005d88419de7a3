"""The training job behind `python -m transformer_lab.train`: preflight -> data -> module -> fit -> test -> summary.
With `init_from=CKPT` the checkpoint's tokenizer is given to the datamodule and its weights to the module
(`init_from.py`: the architecture and vocabulary checks, and why the architecture is not adopted).

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

from transformer_lab.checkpointing.errors import CheckpointError
from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.checkpointing.policy import best_checkpoint_path
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.checkpointing.resume import check_resume_compatible, resolve_ckpt_path
from transformer_lab.training import preflight
from transformer_lab.training.init_from import InitSource
from transformer_lab.training.logging.run_messages import print_end, print_start
from transformer_lab.training.logging.wandb_setup import finish_wandb_run
from transformer_lab.training.module.compiled_step import describe_step
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.records.run_record import RunConfigRecord, mark_interrupted_attempt, record_failure
from transformer_lab.training.records.run_summary import record_in_summary
from transformer_lab.training.runtime.cluster import PREEMPTED_EXIT_CODE
from transformer_lab.training.runtime.precision import precision_line
from transformer_lab.training.runtime.run_lock import run_directory_lock
from transformer_lab.training.trainer_setup import build_trainer, log_run_config

log = logging.getLogger(__name__)


def run_training(cfg: DictConfig) -> float | None:
    """Runs one job and returns the best dev BLEU (what sweeps optimize).

    Process-global state a job changes (environment variables such as WANDB_MODE) is restored when the job
    ends, so the next job of a multirun starts clean; the job's W&B run is finished either way, marked
    failed when the job raised. Every failure is recorded in summary.json and train.log. The run directory
    is locked for the whole job (`runtime/run_lock.py`): a second launch into it exits at once, writing nothing.
    """
    output_dir = Path(cfg.paths.output_dir)
    with run_directory_lock(output_dir):  # before anything is written there: a second launch refuses at once
        return _run_locked(cfg, output_dir)


def _run_locked(cfg: DictConfig, output_dir: Path) -> float | None:
    environment = dict(os.environ)
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

    source = InitSource.read(cfg.init_from) if cfg.get("init_from") else None
    if source is not None:  # refused before any data is prepared
        source.check_vocabulary(preflight.data_settings(cfg))
        sized = preflight.module_settings(cfg, vocab_size=source.tokenizer.vocab_size, pad_id=source.tokenizer.pad_id)
        source.check_architecture(sized.to_plain()["model"])
    # init_from: the checkpoint's tokenizer encodes this run's data; else the datamodule trains or loads one
    datamodule = instantiate(cfg.data, tokenizer=source.tokenizer) if source is not None else instantiate(cfg.data)
    datamodule.prepare_data()  # trains/loads the tokenizer, which sizes the model
    preflight.check_evaluation_splits(datamodule, validate=cfg.fit, test=cfg.test)
    tokenizer = datamodule.tokenizer
    settings = preflight.module_settings(cfg, vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id)
    record = source.record() if source is not None else None
    module = TranslationModule(settings, RunContext.of_datamodule(datamodule, preflight.data_settings(cfg), record))
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, output_dir) if cfg.fit else None
    if ckpt_path is not None:
        check_resume_compatible(ckpt_path, model=module.hparams["model"], data=module.data_config or {},
                                run_dir=output_dir)
    elif source is not None:  # a relaunch that resumes its own last.ckpt has these weights in it already
        module.load_state_dict(source.checkpoint["state_dict"])  # strict: same architecture, checked above
        log.info("initialized from %s (step %s); fresh optimizer, schedule and step count", source.path,
                 source.checkpoint.get("global_step"))
    config_record.accept()  # before the loggers: a refused relaunch leaves the run's W&B run untouched

    trainer = build_trainer(cfg, output_dir)
    if record is not None:
        record_in_summary(trainer, init_from=record)
    log_run_config(trainer, cfg, module)
    print_start(module, output_dir)
    log.info(precision_line(OmegaConf.to_container(cfg.trainer, resolve=False).get("precision"), str(trainer.precision)))
    log.info(describe_step(settings.compile, getattr(datamodule, "pad_to_multiple_of", None)))
    if cfg.fit:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    if cfg.test:
        trainer.test(module, datamodule=datamodule, ckpt_path=_test_checkpoint(trainer, output_dir), weights_only=True)
    best_bleu = _best_bleu(trainer)
    print_end(trainer, datamodule, output_dir, best_bleu)
    return best_bleu


def _test_checkpoint(trainer: L.Trainer, output_dir: Path) -> str | None:
    """The best checkpoint the trainer knows of; when that file is gone, the best one on disk by the score
    stored inside it (the monitor is maximized). last.ckpt is written at the final step before that step's
    validation, so a relaunch after a preemption during the test restores the best path as it was before it:
    a file that validation's better checkpoint replaced (save_top_k=1)."""
    path = best_checkpoint_path(trainer)
    if path is None or Path(path).is_file():
        return path
    scored = [(_stored_score(candidate), str(candidate)) for candidate in RunLayout(output_dir).best_checkpoints()]
    scored = [(score, candidate) for score, candidate in scored if score is not None]
    if not scored:
        raise FileNotFoundError(f"the best checkpoint {path} is gone and no other best-*.ckpt is in "
                                f"{RunLayout(output_dir).checkpoints_dir}: test it with test=false ckpt_path=... "
                                "or evaluate a checkpoint with `python -m transformer_lab.evaluate ckpt=...`")
    score, best = max(scored)
    log.warning("the best checkpoint recorded, %s, is gone; testing %s (val score %.4f), the best on disk", path,
                best, score)
    return best


def _stored_score(path: Path) -> float | None:
    """The monitored score a best checkpoint was saved for (its ModelCheckpoint state's `current_score`)."""
    try:
        checkpoint = load_checkpoint_file(path, mmap=True)
    except (CheckpointError, OSError):
        return None
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if key.startswith("ModelCheckpoint") and isinstance(state, dict) and state.get("monitor"):
            score = state.get("current_score")
            return None if score is None else float(score)
    return None


def _best_bleu(trainer: L.Trainer) -> float | None:
    callback = trainer.checkpoint_callback
    score = getattr(callback, "best_model_score", None) if callback is not None else None
    if score is not None:
        return float(score)
    value = trainer.callback_metrics.get("val/bleu")
    return None if value is None else float(value)
