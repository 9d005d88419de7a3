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
    classes, as in Szegedy et al. (the paper's reference for eps_ls); this is the definition of
    `F.cross_entropy(label_smoothing=eps)`, computed from one log-softmax for both the smoothed loss and
    the plain NLL. Log-probabilities are float32 even under bf16.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"loss.label_smoothing must be in [0, 1), got {epsilon}")
    logp = F.log_softmax(logits.reshape(-1, logits.size(-1)).float(), dim=-1)  # (B*T, V)
    flat_target = target.reshape(-1)  # (B*T,)
    real = flat_target != pad_id  # (B*T,)
    nll_per_token = -logp.gather(1, flat_target.unsqueeze(1)).squeeze(1)  # (B*T,)
    uniform_per_token = -logp.mean(dim=-1)  # (B*T,) cross-entropy against the uniform distribution
    smoothed_per_token = (1.0 - epsilon) * nll_per_token + epsilon * uniform_per_token
    return LossSums(
        smoothed=(smoothed_per_token * real).sum(),
        nll=(nll_per_token * real).sum(),
        n_tokens=real.sum(),
    )
