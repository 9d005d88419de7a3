"""`checkpoints/last.ckpt`, the full resumable state: every N updates, at the end of training, and on SIGTERM.

SIGTERM is what SLURM and most schedulers send before preemption: save, finish, exit non-zero.

Lightning turns SIGTERM into `SIGTERMException` at the next batch boundary on every rank. This callback
then writes `checkpoints/last.ckpt` (a collective under DDP, reached by every rank together), so the
same command relaunched in the same run directory resumes there (`ckpt_path=auto`, the default).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

log = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 143  # 128 + SIGTERM, what shells report for a process ended by SIGTERM


class ResumeCheckpoint(L.Callback):
    """Writes last.ckpt (weights, optimizer, loops, sampler position, RNG) every `every_n_train_steps`
    updates, when training ends, and on SIGTERM. Separate from the periodic checkpoints kept for averaging,
    which may be weights-only; `ckpt_path=last|auto` always finds a complete state here."""

    def __init__(self, every_n_train_steps: int = 1000) -> None:
        if every_n_train_steps < 1:
            raise ValueError(f"callbacks.resume_checkpoint.every_n_train_steps must be >= 1, got {every_n_train_steps}")
        self.every_n_train_steps = every_n_train_steps
        self._saved_step: int | None = None

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every_n_train_steps == 0 and step != self._saved_step:
            self._save(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            path = self._save(trainer)
            if trainer.is_global_zero:
                log.warning("SIGTERM: saved %s at step %d; relaunch the same command to resume", path, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step != self._saved_step:
            self._save(trainer)

    def _save(self, trainer: L.Trainer) -> Path:
        path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path, weights_only=False)  # a collective under DDP: all ranks reach this hook
        self._saved_step = trainer.global_step
        return path
