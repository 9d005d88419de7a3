"""Label-smoothed cross-entropy over target tokens, ignoring padding (§5.4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class LossSums:
    """Sums over the non-pad target tokens of a batch (divide by `n_tokens` for means)."""

    smoothed: torch.Tensor  # scalar: label-smoothed loss, what is optimized
    nll: torch.Tensor  # scalar: plain negative log-likelihood, for perplexity
    n_tokens: torch.Tensor  # scalar: number of non-pad target tokens


def label_smoothed_loss(logits: torch.Tensor, target: torch.Tensor, epsilon: float, pad_id: int) -> LossSums:
    """logits (B, T, V), target (B, T) -> summed losses over positions where target != pad_id.

    The smoothed target puts (1 - eps) on the reference token and eps spread uniformly over all V
    classes, as in Szegedy et al. (the paper's reference for eps_ls), which is exactly
    `F.cross_entropy(label_smoothing=eps)`. Log-probabilities are computed in float32 even under bf16.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"loss.label_smoothing must be in [0, 1), got {epsilon}")
    flat_logits = logits.reshape(-1, logits.size(-1)).float()  # (B*T, V)
    flat_target = target.reshape(-1)  # (B*T,)
    smoothed = F.cross_entropy(
        flat_logits, flat_target, ignore_index=pad_id, label_smoothing=epsilon, reduction="sum"
    )
    nll = F.cross_entropy(flat_logits, flat_target, ignore_index=pad_id, reduction="sum")
    n_tokens = (flat_target != pad_id).sum()
    return LossSums(smoothed=smoothed, nll=nll, n_tokens=n_tokens)
