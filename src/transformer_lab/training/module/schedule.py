"""The paper's learning-rate schedule (§5.3): linear warmup, then inverse square root decay."""

from __future__ import annotations

import torch


def inverse_sqrt_lr(step: int, d_model: int, warmup_steps: int, scale: float = 1.0) -> float:
    """lrate = scale * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5).

    `step` counts optimizer updates from 1 (the paper's step_num); step 0 is treated as step 1 so the
    very first update does not use a zero learning rate.
    """
    if warmup_steps <= 0:
        raise ValueError(f"optim.warmup_steps must be positive, got {warmup_steps}")
    step = max(step, 1)
    return scale * d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


def inverse_sqrt_scheduler(
    optimizer: torch.optim.Optimizer, d_model: int, warmup_steps: int, scale: float = 1.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR giving `inverse_sqrt_lr` at every update; the optimizer's base lr must be 1.0.

    LambdaLR calls the lambda with 0 before the first update, 1 before the second, ... so we pass
    `i + 1` to match the paper's 1-based step_num.
    """
    for group in optimizer.param_groups:
        if group["lr"] != 1.0:
            raise ValueError(
                f"inverse_sqrt_scheduler multiplies the optimizer's lr; set it to 1.0 (got {group['lr']})"
            )
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: inverse_sqrt_lr(i + 1, d_model, warmup_steps, scale)
    )
