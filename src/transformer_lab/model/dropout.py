"""Dropout (§5.4) whose CPU masks cost a quarter of the random draws.

PyTorch's CPU dropout draws one Mersenne-Twister number per element (`bernoulli_`), one after another: at the
base model's 1,920 x 512 activations that is 5.7 ms per mask on a 2-core Zen 4, and the 32 masks of a
training step took about a tenth of a bf16 step (docs/PERFORMANCE.md). Here every 64-bit draw is cut into four
16-bit lanes, each compared with a threshold: four times fewer draws from the same generator (so
`torch.manual_seed` and the checkpointed RNG state govern the masks as before), and a boolean mask kept for
backward, as PyTorch's own dropout keeps one.

GPUs (Philox random numbers, fused kernels) and compiled graphs (inductor generates its own random numbers)
keep `F.dropout`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LANE_VALUES = 1 << 16  # a 16-bit lane takes 65,536 values, each equally likely


def dropped_lane_values(p: float) -> int:
    """How many of a lane's 65,536 values mean "dropped": p rounded to a multiple of 1/65536."""
    return round(p * LANE_VALUES)


def lane_drop_probability(p: float) -> float:
    """The drop probability the CPU masks realize.

    deviation: the paper's P_drop = 0.1 becomes 6554/65536 = 0.1000061 on CPU; kept values are scaled by
    1/(1 - that probability), so the expected output still equals the input exactly.
    """
    return dropped_lane_values(p) / LANE_VALUES


def drop_mask(shape: torch.Size, p: float, device: torch.device) -> Tensor:
    """(shape) bool, True where an element is dropped: each independently, with `lane_drop_probability(p)`."""
    n = shape.numel()
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device)
    words.random_(-(1 << 63), None)  # every 64-bit pattern equally likely: four independent uniform lanes
    lanes = words.view(torch.int16)[:n]  # (n,) signed: -32768 .. 32767
    threshold = dropped_lane_values(p) - LANE_VALUES // 2  # the lanes below it: dropped_lane_values(p) values
    return (lanes < threshold).view(shape)


class _ZeroAndScale(torch.autograd.Function):
    """y = x with the dropped elements zeroed, times `scale`; the same for the gradient (the mask is saved)."""

    @staticmethod
    def forward(ctx, x: Tensor, dropped: Tensor, scale: float) -> Tensor:
        ctx.save_for_backward(dropped)
        ctx.scale = scale
        return x.masked_fill(dropped, 0).mul_(scale)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
        (dropped,) = ctx.saved_tensors
        return grad.masked_fill(dropped, 0).mul_(ctx.scale), None, None


def dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """`F.dropout(x, p, training)`, with the cheaper masks of `drop_mask` on CPU outside compiled graphs."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or torch.compiler.is_compiling():
        return F.dropout(x, p, training=True)
    realized = lane_drop_probability(p)
    if realized >= 1.0:
        return torch.zeros_like(x)
    return _ZeroAndScale.apply(x, drop_mask(x.shape, p, x.device), 1.0 / (1.0 - realized))


class Dropout(nn.Module):
    """`nn.Dropout` (zero each element with probability p in training, scale the rest by 1/(1-p)) through
    `dropout` above."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
