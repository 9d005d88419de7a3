"""Validation cadence in optimizer updates, whatever the gradient accumulation.

In this project `trainer.val_check_interval` (an int) counts optimizer updates, like `trainer.max_steps`
and the checkpoint callbacks' `every_n_train_steps` (which Lightning already counts in updates through
`trainer.global_step`). Lightning counts an int `val_check_interval` in training batches, so the Trainer is
built with `val_check_interval x accumulate_grad_batches` batches (training/app.py); a float (a fraction of
an epoch) is passed unchanged. `python -m transformer_lab.describe` prints both figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def accumulation(trainer_cfg: Mapping[str, Any]) -> int:
    return int(trainer_cfg.get("accumulate_grad_batches") or 1)


def val_check_interval_in_batches(trainer_cfg: Mapping[str, Any]) -> int | float | None:
    """Lightning's `val_check_interval` for a trainer config whose int interval counts updates."""
    interval = trainer_cfg.get("val_check_interval")
    if isinstance(interval, int) and not isinstance(interval, bool):
        if interval < 1:
            raise ValueError(f"trainer.val_check_interval={interval}: validate every N >= 1 updates")
        return interval * accumulation(trainer_cfg)
    return interval


def trainer_cadence_kwargs(trainer_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments that override the config's when the Trainer is instantiated."""
    if "val_check_interval" not in trainer_cfg:
        return {}
    return {"val_check_interval": val_check_interval_in_batches(trainer_cfg)}
