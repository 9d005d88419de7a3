"""Which checkpoints a run writes, and when: last, periodic and best.

- `last.ckpt` (`ResumeCheckpoint` below): the full resumable state, on its own cadence (updates and/or
  minutes), at the end of training, and on SIGTERM.
- `periodic/step*.ckpt` and `best-*.ckpt`: Lightning's `ModelCheckpoint`, configured in
  conf/callbacks/default.yaml (every N updates, kept for averaging; the best by dev BLEU, read back by
  `best_checkpoint_path` for the test).

SIGTERM is what SLURM and most schedulers send before preemption: save, finish, exit non-zero
(`training.cluster.PREEMPTED_EXIT_CODE`). Lightning turns SIGTERM into `SIGTERMException` at the next
batch boundary on every rank; `ResumeCheckpoint` then writes last.ckpt (a collective under DDP, reached by
every rank together), so the same command relaunched in the same run directory resumes there
(`ckpt_path=auto`, the default).

The last.ckpt cadence is separate from the periodic checkpoints: those may be frequent and weights-only,
while last.ckpt is the full state (weights and Adam moments, about 3x the weights) written synchronously
while every rank waits, so it is written only as often as losing that much work matters.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from transformer_lab.checkpointing.layout import RunLayout

log = logging.getLogger(__name__)


class ResumeCheckpoint(L.Callback):
    """Writes last.ckpt (weights, optimizer, loops, sampler position, RNG of every rank) every
    `every_n_train_steps` updates and/or every `every_n_minutes` of training, when training ends, and on
    SIGTERM. `ckpt_path=last|auto` always finds a complete state here.

    The time-based cadence follows rank 0's clock: it is read every `TIME_CHECK_EVERY_N_STEPS` updates and
    its decision broadcast, so that every rank saves together (the save is a collective)."""

    TIME_CHECK_EVERY_N_STEPS = 20

    def __init__(self, every_n_train_steps: int | None = None, every_n_minutes: float | None = 30.0) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 1:
            raise ValueError(
                f"callbacks.resume_checkpoint.every_n_train_steps must be >= 1 or null, got {every_n_train_steps}"
            )
        if every_n_minutes is not None and every_n_minutes <= 0:
            raise ValueError(f"callbacks.resume_checkpoint.every_n_minutes must be > 0 or null, got {every_n_minutes}")
        self.every_n_train_steps = every_n_train_steps
        self.every_n_minutes = every_n_minutes
        self._saved_step: int | None = None
        self._saved_time = time.monotonic()
        self._considered_step: int | None = None  # the last update whose end was considered for a save

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._saved_time = time.monotonic()
        self._considered_step = trainer.global_step  # 0, or the resumed step (saved already)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step == self._considered_step:
            return  # a micro-batch that accumulates into the next update: saving there would lose its gradients
        self._considered_step = step
        if (self.every_n_train_steps and step % self.every_n_train_steps == 0) or self._time_is_up(trainer, step):
            self._save(trainer)

    def _time_is_up(self, trainer: L.Trainer, step: int) -> bool:
        if self.every_n_minutes is None or step % self.TIME_CHECK_EVERY_N_STEPS:
            return False
        elapsed = time.monotonic() - self._saved_time >= 60.0 * self.every_n_minutes
        return bool(trainer.strategy.broadcast(elapsed, src=0))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            path = self._save(trainer)
            if trainer.is_global_zero:
                log.warning("SIGTERM: saved %s at step %d; relaunch the same command to resume", path, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._saved_step:
            self._save(trainer)

    def _save(self, trainer: L.Trainer) -> Path:
        path = RunLayout(trainer.default_root_dir).last_checkpoint
        trainer.save_checkpoint(path, weights_only=False)  # a collective under DDP: all ranks reach this hook
        self._saved_step = trainer.global_step
        self._saved_time = time.monotonic()
        return path


def best_checkpoint_path(trainer: L.Trainer) -> str | None:
    """The best checkpoint by the monitored metric (`trainer.checkpoint_callback`, the first
    ModelCheckpoint: `best_checkpoint` in conf/callbacks), or None when there is none (no validation ran)."""
    callback = trainer.checkpoint_callback
    best = getattr(callback, "best_model_path", "") if callback is not None else ""
    return best or None
