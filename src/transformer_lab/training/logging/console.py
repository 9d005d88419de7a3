"""What a training or evaluation job prints: each log line once, no noise a user cannot act on, and a
progress bar suited to where the output goes.

- Lightning's `lightning` logger carries a console handler of its own and also propagates to the root
  logger, where Hydra's job logging already has a console and a file handler: every Lightning line came
  twice. Once Hydra has configured logging (root has handlers), Lightning's own handler is removed, so its
  lines go through Hydra's handlers only (console and the run directory's log file).
- Lightning's advertisement for its hosted logger (the "Tip: ... litlogger" line) is dropped.
- The progress bar: Rich's live bar on a terminal; on a file or pipe (sbatch output, `> log.txt`) one plain
  line every `trainer.log_every_n_steps` updates and one after each validation (a live bar written to a
  file is carriage returns and cursor moves, or a single final frame).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback, ProgressBar, RichProgressBar

_ADVERT = "litlogger"


class _DropAdvert(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return _ADVERT not in record.getMessage()


def configure_console() -> None:
    """Call after `lightning` is imported and Hydra has set up logging (inside the job function)."""
    if logging.getLogger().handlers:
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # each may carry its own handler
            source = logging.getLogger(name)
            for handler in list(source.handlers):
                source.removeHandler(handler)
            source.propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        source = logging.getLogger(name)
        if not any(isinstance(f, _DropAdvert) for f in source.filters):
            source.addFilter(_DropAdvert())


def progress_bar_callbacks(trainer_cfg: Mapping[str, Any], callbacks: list[Callback]) -> list[Callback]:
    """The progress bar to add to `callbacks` (none when disabled or when the config already has one)."""
    if not trainer_cfg.get("enable_progress_bar", True) or any(isinstance(c, ProgressBar) for c in callbacks):
        return []
    if sys.stdout.isatty():
        return [RichProgressBar()]
    return [LineProgressBar(every_n_updates=max(1, int(trainer_cfg.get("log_every_n_steps") or 50)))]


class LineProgressBar(ProgressBar):
    """Progress as plain lines, for output that goes to a file: `update 400/1600 | 2.1 updates/s | train/loss=3.2`."""

    def __init__(self, every_n_updates: int) -> None:
        super().__init__()
        self.every_n_updates = every_n_updates
        self._enabled = True
        self._printed_step = -1
        self._start: tuple[float, int] = (time.monotonic(), 0)

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = (time.monotonic(), trainer.global_step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        step = trainer.global_step  # optimizer updates: unchanged on the accumulating batches
        if not self._enabled or step in (0, self._printed_step) or step % self.every_n_updates:
            return
        self._printed_step = step
        started, start_step = self._start
        rate = (step - start_step) / max(time.monotonic() - started, 1e-9)
        total = f"/{trainer.max_steps}" if trainer.max_steps > 0 else ""
        self._line(f"update {step}{total} | {rate:.2f} updates/s", trainer, pl_module)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._enabled and not trainer.sanity_checking and trainer.state.fn == "fit":
            self._line(f"validation at update {trainer.global_step}", trainer, pl_module)

    def _line(self, head: str, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        loss = trainer.callback_metrics.get("train/loss")  # read at this line's cadence, not every batch as
        if loss is not None:                                 # the progress-bar metrics are (a device sync each)
            metrics = {"train/loss": float(loss), **metrics}
        shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        print(f"{head} | {shown}" if shown else head, flush=True)
