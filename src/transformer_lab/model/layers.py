"""Encoder and decoder layers (§3.1) built by injection, plus the two residual placements.

Shapes: B batch, S source length, T target length, D d_model, H heads.

Constructor arguments that could be swapped unnoticed (the residual wrappers of a layer, the sizes and
rates) are keyword-only.

A residual wrapper receives the input and the sub-layer as a callable returning (output, extra); it returns
(new x, extra), so attention probabilities pass through untouched. Post-norm (the paper) and pre-norm (a
variant) are two small classes behind that one interface -- no `if normalize_before` inside the layers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from transformer_lab.model.attention import CrossAttention, LayerCache, SelfAttention
from transformer_lab.model.dropout import Dropout
from transformer_lab.model.positional import PositionalScheme

SubLayer = Callable[[Tensor], tuple[Tensor, Any]]


# deviation (variants `activation: gelu|swish`): §3.3 uses ReLU; OPUS-MT's Marian models use swish (SiLU),
# which a model imported from them must keep. "gelu" is the exact erf form (transformers' "gelu").
ACTIVATION_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu, "swish": F.silu}


class FeedForward(nn.Module):
    """§3.3: FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position separately."""

    def __init__(self, *, d_model: int, d_ff: int, activation_dropout: float = 0.0, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATION_FUNCTIONS:
            raise ValueError(f"model.activation={activation!r} must be one of {sorted(ACTIVATION_FUNCTIONS)}")
        self.w1 = nn.Linear(d_model, d_ff)
        self.w2 = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(activation_dropout)  # not in the paper; 0.0 by default
        self.activation = ACTIVATION_FUNCTIONS[activation]

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.dropout(self.activation(self.w1(x))))  # (B, T, D) -> (B, T, d_ff) -> (B, T, D)


class PostNormResidual(nn.Module):
    """§3.1 / §5.4: LayerNorm(x + Dropout(Sublayer(x)))."""

    def __init__(self, d_model: int, *, dropout: float, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, sublayer: SubLayer) -> tuple[Tensor, Any]:
        out, extra = sublayer(x)
        return self.norm(x + self.dropout(out)), extra


class PreNormResidual(nn.Module):
    """x + Dropout(Sublayer(LayerNorm(x))).

    deviation (variant `norm: pre`, not the paper's placement): the later tensor2tensor default; Xiong et al.
    2020 show it trains stably with little warmup. Stacks using it end with a final LayerNorm (builder.py).
    """

    def __init__(self, d_model: int, *, dropout: float, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model, eps=eps)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, sublayer: SubLayer) -> tuple[Tensor, Any]:
        out, extra = sublayer(self.norm(x))
        return x + self.dropout(out), extra


class EncoderLayer(nn.Module):
    def __init__(
        self, self_attn: SelfAttention, feed_forward: FeedForward, *, attn_residual: nn.Module, ff_residual: nn.Module
    ) -> None:
        super().__init__()
        self.self_attn, self.feed_forward = self_attn, feed_forward
        self.attn_residual, self.ff_residual = attn_residual, ff_residual

    def forward(
        self, x: Tensor, mask: Tensor | None, positional: PositionalScheme, need_weights: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, S, D), mask (B, 1, 1, S) -> (B, S, D), self-attention probs (B, H, S, S) or None."""
        x, probs = self.attn_residual(x, lambda h: self.self_attn(h, positional, mask=mask, need_weights=need_weights))
        x, _ = self.ff_residual(x, lambda h: (self.feed_forward(h), None))
        return x, probs


class DecoderLayer(nn.Module):
    def __init__(
        self,
        self_attn: SelfAttention,
        cross_attn: CrossAttention,
        feed_forward: FeedForward,
        *,
        self_residual: nn.Module,
        cross_residual: nn.Module,
        ff_residual: nn.Module,
    ) -> None:
        super().__init__()
        self.self_attn, self.cross_attn, self.feed_forward = self_attn, cross_attn, feed_forward
        self.self_residual, self.cross_residual, self.ff_residual = self_residual, cross_residual, ff_residual

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        positional: PositionalScheme,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """x (B, T, D), memory (B, S, D) -> (B, T, D), self probs (B, H, T, t+T), cross probs (B, H, T, S).

        Target padding needs no mask: targets are right-padded (docs/ARCHITECTURE.md), so under the causal
        mask a real position never sees a pad, and pad positions are ignored by the loss.
        """
        x, self_probs = self.self_residual(
            x, lambda h: self.self_attn(h, positional, causal=True, cache=cache, need_weights=need_weights)
        )
        x, cross_probs = self.cross_residual(
            x, lambda h: self.cross_attn(h, memory, memory_mask, cache=cache, need_weights=need_weights)
        )
        x, _ = self.ff_residual(x, lambda h: (self.feed_forward(h), None))
        return x, self_probs, cross_probs
