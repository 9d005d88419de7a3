"""`checkpoints/last.ckpt` at the moments the periodic saves miss: SIGTERM and the end of training.

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
    """Saves last.ckpt on SIGTERM and when training ends (if the periodic saves have not just done so)."""

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException) and trainer.state.fn == "fit":
            path = self._save(trainer)
            if trainer.is_global_zero:
                log.warning("SIGTERM: saved %s at step %d; relaunch the same command to resume", path, trainer.global_step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        saved_steps = {getattr(cb, "_last_global_step_saved", None) for cb in trainer.checkpoint_callbacks
                       if getattr(cb, "save_last", False)}
        if trainer.global_step not in saved_steps or not path.is_file():
            self._save(trainer)

    @staticmethod
    def _save(trainer: L.Trainer) -> Path:
        path = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        trainer.save_checkpoint(path)  # a collective under DDP: every rank reaches this hook together
        return path
