"""What happens when a loss or gradient becomes NaN or infinite.

Checked once per optimizer update, after gradients are reduced across ranks and before the step. Under DDP
the reduced gradients are the same on every rank (a NaN on one rank's backward reaches every rank through
the all-reduce), so every rank reaches the same decision without communicating: all skip or all stop.
  policy=skip: drop the update (parameters and Adam state unchanged; the learning-rate schedule still
               advances), and stop after `max_consecutive` bad updates in a row;
  policy=stop: stop at the first bad update;
  policy=off:  no check (saves the one device-to-host read per update the decision needs).
Stopping raises `DivergedError`, which the run summary records as status "diverged".

Under a loss scaler (`trainer.precision=16-mixed` on a GPU: torch's GradScaler), inf/nan gradients of a
finite loss are the scaled loss overflowing float16: the scaler skips that step itself and lowers its scale,
routinely in the first updates. Those are not counted; only non-finite losses are (the scaler would skip
them too, but lowering the scale cannot cure them). A scale that falls below `MIN_LOSS_SCALE` (fairseq's
`--min-loss-scale`) means gradients that overflow whatever the scale: the run stops as diverged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from transformer_lab.training.module.settings import NonFiniteConfig

log = logging.getLogger(__name__)


MIN_LOSS_SCALE = 1e-4
WAYS_OUT = ("Lower optim.lr_scale, raise optim.warmup_steps, or use trainer.gradient_clip_val; resume from the "
            "checkpoint with ckpt_path=...")


class DivergedError(RuntimeError):
    run_status = "diverged"  # read by RunSummaryCallback


def gradients_are_finite(parameters: list[torch.nn.Parameter]) -> bool:
    """True when every gradient is finite: one fused norm per device and one device-to-host read.

    No all-reduce: the gradients are already reduced, hence identical, on every DDP rank."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads)  # non-finite entries make the norm non-finite
    return bool(torch.isfinite(torch.stack(norms)).all())


class NonFiniteGuard:
    def __init__(self, config: NonFiniteConfig) -> None:
        self.config = config
        self.consecutive = 0
        self.skipped_total = 0

    def check(self, parameters: list[torch.nn.Parameter], step: int, last_checkpoint: Path | None,
              scaler: torch.amp.GradScaler | None = None, losses_finite: torch.Tensor | None = None) -> bool:
        """Returns True when the update may proceed; clears the gradients (skip) or raises (stop).
        `last_checkpoint` is named in the messages if it exists (looked up only after a bad update).
        `scaler`: the run's enabled GradScaler, if any; then `losses_finite` (a bool tensor: were all losses of
        this update finite, None: no loss seen) decides instead of the gradients, which the scaler handles."""
        if self.config.policy == "off":
            return True
        if scaler is not None:
            finite = losses_finite is None or bool(losses_finite)
            if finite and scaler.get_scale() < MIN_LOSS_SCALE:
                raise DivergedError(
                    f"the fp16 loss scale fell to {scaler.get_scale():.3g} (< {MIN_LOSS_SCALE:g}, gradients overflow "
                    f"at any scale) {self._where(step, last_checkpoint)}. {WAYS_OUT}"
                )
        else:
            finite = gradients_are_finite(parameters)
        if finite:
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.skipped_total += 1
        where = self._where(step, last_checkpoint)
        if self.config.policy == "stop" or self.consecutive >= self.config.max_consecutive:
            raise DivergedError(
                f"non-finite loss/gradients {where} ({self.consecutive} bad update(s) in a row, "
                f"nonfinite.policy={self.config.policy}, nonfinite.max_consecutive={self.config.max_consecutive}). "
                f"{WAYS_OUT}"
            )
        log.warning("skipping an update with non-finite gradients %s (%d in a row)", where, self.consecutive)
        for parameter in parameters:
            if scaler is None:
                parameter.grad = None  # Adam skips parameters without gradients: no update, no state change
            elif parameter.grad is not None:
                # the scaler must see this update's gradients (it asserts it recorded an inf check); made
                # non-finite, the scaler skips the step itself, leaving parameters and Adam state unchanged
                parameter.grad.fill_(float("nan"))
        return False

    @staticmethod
    def _where(step: int, last_checkpoint: Path | None) -> str:
        saved = last_checkpoint is not None and last_checkpoint.is_file()
        return f"at optimizer step {step}" + (f"; last good checkpoint: {last_checkpoint}" if saved else "")
