"""Early stopping on a dev metric (`early_stopping.patience=N`): Lightning's `EarlyStopping`, checked at
every validation (whose cadence counts updates, training/cadence.py), keeping the update it stopped at.

Lightning's callback already saves `wait_count` and `best_score` in every checkpoint and restores them on
resume, so a run resumed mid-patience keeps its counter. Two additions: `stopped_step` (the optimizer
update at which patience ran out, for summary.json and the W&B summary), and the patience of the command
that resumes wins over the checkpoint's (Lightning restores the saved one), so a user can raise it to
continue a run that stopped.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping

from transformer_lab.training.records.best_metrics import BEST_OF


class StepEarlyStopping(EarlyStopping):
    """Stops training when `metric` has not improved by more than `min_delta` for `patience` validations
    in a row; the direction (max for BLEU/chrF, min for perplexity) comes from `BEST_OF`."""

    def __init__(self, metric: str = "val/bleu", patience: int = 3, min_delta: float = 0.0) -> None:
        super().__init__(monitor=metric, mode=BEST_OF[metric], patience=patience, min_delta=min_delta,
                         check_on_train_epoch_end=False,  # at each validation, not at epoch ends
                         strict=True, verbose=True)
        self.stopped_step: int | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        was_stopping = trainer.should_stop
        super().on_validation_end(trainer, pl_module)  # the check (skipped while sanity checking)
        if trainer.should_stop and not was_stopping:  # this check stopped the run (patience, or a non-finite metric)
            self.stopped_step = trainer.global_step

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "stopped_step": self.stopped_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience  # this command's patience, not the checkpoint's
        super().load_state_dict(state_dict)
        self.patience = patience
        self.stopped_step = None  # a resumed run that goes on has not stopped (yet)


def early_stopping_callback(section: dict[str, Any] | None) -> StepEarlyStopping | None:
    """The callback of the config's `early_stopping` section; None when `patience` is null (off)."""
    section = section or {}
    if section.get("patience") is None:
        return None
    return StepEarlyStopping(metric=section.get("metric", "val/bleu"), patience=int(section["patience"]),
                             min_delta=float(section.get("min_delta", 0.0)))
