"""A resumed run first runs the validation that was due at its checkpoint's step, when it never completed.

last.ckpt and the periodic checkpoints are written at the end of a training batch, before the validation
due at that step runs. A kill during that validation (decoding the dev set is the longest part of it)
therefore resumes *after* the step, and Lightning's loop treats the validation as done: its dev BLEU,
samples and chance at a best checkpoint would be lost for good. Whether it completed is what the run's
summary says (`validated_step`, written by RunSummaryCallback once every hook of a validation, the
best-checkpoint save included, has run); when it did not, it runs here, before the first new batch.

Every validation of a resumed run starts over from the first dev batch. Lightning restores the val loop's
batch progress from the checkpoint (the last validation's batch count, or the batches done before a SIGTERM
stopped one) and, while that loop is `restarting`, offsets its data fetcher by the restored count
(`EvaluationLoop.reset`: `fetched += batch_progress.current.ready`), so the pass ends that many batches early:
on the toy dev set, 292 of 800 sentences scored. A validation keeps none of its partial state (metrics,
hypotheses) in a checkpoint, so there is nothing to continue: the val loop is marked as not restarting at
train start, before any validation of this run, and each pass then resets its progress and scores every
dev example exactly once (docs/ARCHITECTURE.md, data contracts).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L

from transformer_lab.training.records.run_record import read_summary

log = logging.getLogger(__name__)


def validation_due_at(trainer: L.Trainer, step: int) -> bool:
    """True when step-based validation (`trainer.val_check_interval` batches) falls on optimizer step `step`."""
    interval = trainer.val_check_batch
    if step <= 0 or trainer.check_val_every_n_epoch is not None or not isinstance(interval, int):
        return False
    return (step * trainer.accumulate_grad_batches) % interval == 0


class ValidateWhatWasDue(L.Callback):
    """Runs the validation a kill interrupted, and makes every validation of a resumed run a whole pass."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # What Lightning itself does before the first training batch (TrainingEpochLoop.advance), done before
        # the validation below too: a restored mid-pass position would cut that pass short.
        trainer.fit_loop.epoch_loop.val_loop.restarting = False
        if trainer.ckpt_path is None or not validation_due_at(trainer, trainer.global_step):
            return
        completed = None
        if trainer.is_global_zero:
            completed = read_summary(Path(trainer.default_root_dir)).get("validated_step")
        completed = trainer.strategy.broadcast(completed, src=0)  # every rank decides alike
        if completed is not None and completed >= trainer.global_step:
            return
        if trainer.is_global_zero:
            log.warning("the validation due at step %d did not complete before the run stopped; running it now",
                        trainer.global_step)
        # What Lightning's training loop does at a validation step (TrainingEpochLoop.on_advance_end).
        trainer.validating = True
        trainer.fit_loop.epoch_loop.val_loop.run()
        trainer.training = True
