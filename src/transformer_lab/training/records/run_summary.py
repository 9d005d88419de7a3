"""`RunSummaryCallback`: the run's `metrics.jsonl` (one record per logged update or evaluation) and
`summary.json` (status, best and last dev metrics, test metrics, provenance), kept up to date as it runs."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.training.logging.loggers import wandb_loggers
from transformer_lab.training.records.best_metrics import BestTracker, define_wandb_best_metrics
from transformer_lab.training.records.provenance import collect_provenance
from transformer_lab.training.records.run_record import read_summary, write_summary


def _record_kind(record: dict[str, Any]) -> str:
    """"val" for an evaluation's record, "train" for a training update's."""
    return "val" if any(key.startswith("val/") for key in record) else "train"


class RunSummaryCallback(L.Callback):
    """Keeps `metrics.jsonl` (every evaluation's metrics) and `summary.json` (final metrics, parameter
    counts, status) in the run directory: the machine-readable record the report reads."""

    def __init__(self, monitor: str = "val/bleu") -> None:
        self.monitor = monitor
        self.status = "running"
        self.best: float | None = None
        self.bests = BestTracker()  # best dev BLEU/chrF/chrF++ and lowest dev perplexity, with their steps
        self.last_val: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self._start = time.time()
        self._written_at_resume: set[tuple[str, int]] = set()  # (kind, step) of records kept at the resumed step
        self._last_train_step = 0  # the update whose training record was last considered
        self._validation_ending: int | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.time()
        if trainer.ckpt_path is not None:  # a resumed run keeps the record of the attempts before it
            previous = read_summary(RunLayout.of_trainer(trainer).root)
            self.extra.update({k: previous[k] for k in ("interrupted_at_steps", "validated_step") if k in previous})
        self._write_summary(trainer, pl_module)
        for logger in wandb_loggers(trainer):
            if trainer.is_global_zero:
                logger.experiment.summary["sacrebleu_signature"] = pl_module.bleu_signature
                define_wandb_best_metrics(logger.experiment)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # The loops are restored by now (not yet at on_fit_start): global_step is the resumed step.
        self._last_train_step = trainer.global_step
        self._forget_records_after(trainer, trainer.global_step)  # a resume re-runs the steps after its checkpoint

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = self._scalars(trainer, prefix="val/")
        self.last_val = metrics
        value = metrics.get(self.monitor)
        if value is not None and math.isfinite(value) and (self.best is None or value > self.best):
            self.best = value
            for logger in wandb_loggers(trainer):
                if trainer.is_global_zero:  # a flat number for W&B Sweeps' `metric` (conf/wandb_sweep/)
                    logger.experiment.summary[f"best_{self.monitor.replace('/', '_')}"] = value
        for key in self.bests.update(metrics, trainer.global_step):
            for logger in wandb_loggers(trainer):
                if trainer.is_global_zero:
                    logger.experiment.summary[f"{key}_best_step"] = trainer.global_step
        self._append(trainer, {"step": trainer.global_step, "epoch": trainer.current_epoch,
                               "time_s": self._elapsed(), **metrics})
        self._write_summary(trainer, pl_module)
        self._validation_ending = trainer.global_step  # completed once every callback's hook has run

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._write_summary(trainer, pl_module)  # a killed run's summary shows the step it had reached

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._record_completed_validation(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record_completed_validation(trainer, pl_module)

    def _record_completed_validation(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """`validated_step`: the last validation whose hooks (best-checkpoint save included) all ran; read
        by ValidateWhatWasDue on resume."""
        if self._validation_ending is not None:
            self.extra["validated_step"] = self._validation_ending
            self._validation_ending = None
            self._write_summary(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Runs once per micro-batch: under gradient accumulation several batches end at the same update,
        # which gets one record (the batch that completed it, when global_step moved on).
        if trainer.global_step == self._last_train_step:
            return
        self._last_train_step = trainer.global_step
        if trainer.global_step % max(trainer.log_every_n_steps, 1) == 0:
            metrics = self._scalars(trainer, prefix="train/")
            if metrics:
                lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
                self._append(trainer, {"step": trainer.global_step, "epoch": trainer.current_epoch,
                                       "time_s": self._elapsed(), "lr": lr, **metrics})

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.status == "running":
            self.status = "completed"
        self._record_early_stop(trainer)
        self._write_summary(trainer, pl_module)

    def _record_early_stop(self, trainer: L.Trainer) -> None:
        """`stopped_early` (and `stopped_early_step`, the update) in summary.json and the W&B summary, when
        the run has an early-stopping callback (`early_stopping.patience` set)."""
        stopper = trainer.early_stopping_callback
        if stopper is None:
            return
        step = getattr(stopper, "stopped_step", None)
        record = {"stopped_early": step is not None, "stopped_early_step": step}
        self.extra.update(record)
        for logger in wandb_loggers(trainer):
            if trainer.is_global_zero:
                logger.experiment.summary.update(record)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.extra.update(self._scalars(trainer, prefix="test/"))
        self._write_summary(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if getattr(exception, "run_status", None):
            self.status = exception.run_status
        elif isinstance(exception, SIGTERMException):
            self.status = "preempted"
        elif isinstance(exception, KeyboardInterrupt):
            self.status = "interrupted"
        else:
            self.status = "failed"
        self.extra["error"] = f"{type(exception).__name__}: {exception}"[:2000]
        self.extra["stopped_in"] = str(getattr(trainer.state.fn, "value", trainer.state.fn))  # "fit" or "test"
        self._write_summary(trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"best_val": self.bests.state_dict()}  # in every checkpoint: a resumed run keeps its bests

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.bests.load_state_dict(state_dict.get("best_val", {}))
        if self.monitor in self.bests.best and self.bests.best_of.get(self.monitor) == "max":
            self.best = self.bests.best[self.monitor]["value"]

    # ----------------------------------------------------------------------------------------- helpers
    def _elapsed(self) -> float:
        return round(time.time() - self._start, 1)  # seconds since this process started fitting

    @staticmethod
    def _scalars(trainer: L.Trainer, prefix: str) -> dict[str, float]:
        out = {}
        for key, value in trainer.callback_metrics.items():
            if key.startswith(prefix) and isinstance(value, (torch.Tensor, float, int)):
                out[key] = float(value)
        return out

    def _append(self, trainer: L.Trainer, record: dict[str, Any]) -> None:
        kind = _record_kind(record)
        if not trainer.is_global_zero or (kind, record["step"]) in self._written_at_resume:
            return  # rank 0 writes; a resume does not repeat a record its checkpoint's step already has
        with open(RunLayout.of_trainer(trainer).metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def _forget_records_after(self, trainer: L.Trainer, step: int) -> None:
        """Drops the records of steps after `step` (an interrupted attempt's, which the resumed run writes
        again) and remembers which kinds of record `step` itself has, so that none is written twice."""
        path = RunLayout.of_trainer(trainer).metrics
        if not trainer.is_global_zero or step == 0 or not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
        self._written_at_resume = {(_record_kind(r), step) for r in map(json.loads, kept) if r.get("step") == step}
        if len(kept) != len(lines):
            temporary = path.with_suffix(".jsonl.tmp")
            temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            temporary.replace(path)

    def _write_summary(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        summary = {
            "status": self.status,
            "global_step": trainer.global_step,
            "epoch": trainer.current_epoch,
            "wall_time_s": self._elapsed(),
            "best_val_bleu": self.best,
            "best_val": self.bests.state_dict(),  # {"val/bleu": {"value", "step"}, "val/ppl": ...}
            "last_val": self.last_val,
            "parameters": pl_module.model.parameter_counts(),
            "bleu_signature": pl_module.bleu_signature,
            "provenance": collect_provenance(trainer),
            **self.extra,
        }
        write_summary(RunLayout.of_trainer(trainer).root, summary)


def record_in_summary(trainer: L.Trainer, **values: Any) -> None:
    """Adds `values` to the summary.json that the trainer's `RunSummaryCallback` writes (e.g. `init_from`)."""
    for callback in trainer.callbacks:
        if isinstance(callback, RunSummaryCallback):
            callback.extra.update(values)
