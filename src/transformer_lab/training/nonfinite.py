"""What happens when a loss or gradient becomes NaN or infinite.

Checked once per optimizer update, after gradients are reduced across ranks and before the step; the
decision is all-reduced too, so every DDP rank skips or stops together and none waits in a collective.
  policy=skip: drop the update (parameters and Adam state unchanged; the learning-rate schedule still
               advances), and stop after `max_consecutive` bad updates in a row;
  policy=stop: stop at the first bad update.
Stopping raises `DivergedError`, which the run summary records as status "diverged".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class NonFiniteConfig:
    policy: str = "skip"  # skip | stop
    max_consecutive: int = 5  # bad updates in a row before stopping (policy=skip)

    def __post_init__(self) -> None:
        if self.policy not in ("skip", "stop"):
            raise ValueError(f"nonfinite.policy must be 'skip' or 'stop', got {self.policy!r}")
        if self.max_consecutive < 1:
            raise ValueError(f"nonfinite.max_consecutive must be >= 1, got {self.max_consecutive}")


class DivergedError(RuntimeError):
    run_status = "diverged"  # read by RunSummaryCallback


def gradients_are_finite(parameters: list[torch.nn.Parameter]) -> bool:
    """True when every gradient of every rank is finite (one small all-reduce under DDP)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if grads:
        norms = torch._foreach_norm(grads)  # non-finite entries make the norm non-finite
        finite = torch.isfinite(torch.stack(norms)).all().float()
    else:
        finite = torch.ones(())
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    return bool(finite.item())


class NonFiniteGuard:
    def __init__(self, config: NonFiniteConfig) -> None:
        self.config = config
        self.consecutive = 0
        self.skipped_total = 0

    def check(self, parameters: list[torch.nn.Parameter], step: int, last_checkpoint: str | None) -> bool:
        """Returns True when the update may proceed; clears the gradients (skip) or raises (stop)."""
        if gradients_are_finite(parameters):
            self.consecutive = 0
            return True
        self.consecutive += 1
        self.skipped_total += 1
        where = f"at optimizer step {step}" + (f"; last good checkpoint: {last_checkpoint}" if last_checkpoint else "")
        if self.config.policy == "stop" or self.consecutive >= self.config.max_consecutive:
            raise DivergedError(
                f"non-finite loss/gradients {where} ({self.consecutive} bad update(s) in a row, "
                f"nonfinite.policy={self.config.policy}, nonfinite.max_consecutive={self.config.max_consecutive}). "
                "Lower optim.lr_scale, raise optim.warmup_steps, or use trainer.gradient_clip_val; "
                "resume from the checkpoint with ckpt_path=..."
            )
        log.warning("skipping an update with non-finite gradients %s (%d in a row)", where, self.consecutive)
        for parameter in parameters:
            parameter.grad = None  # Adam skips parameters without gradients: no update, no state change
        return False
