"""Attention heatmaps with the real subword tokens on the axes, one grid of heads per layer."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def plot_attention_heads(
    weights: torch.Tensor, query_tokens: Sequence[str], key_tokens: Sequence[str], title: str
) -> Figure:
    """weights (H, Tq, Tk), rows = queries, columns = keys -> a figure with one heatmap per head."""
    n_heads, n_queries, n_keys = weights.shape
    if (n_queries, n_keys) != (len(query_tokens), len(key_tokens)):
        raise ValueError(f"weights {tuple(weights.shape)} do not match {len(query_tokens)}x{len(key_tokens)} labels")
    cols = min(n_heads, 4)
    rows = math.ceil(n_heads / cols)
    cell = 0.22  # inches per token
    width = max(3.0, cell * n_keys + 1.2) * cols
    height = max(3.0, cell * n_queries + 1.2) * rows
    fig, axes = plt.subplots(rows, cols, figsize=(min(width, 40), min(height, 40)), squeeze=False)
    data = weights.detach().float().cpu().numpy()
    font = 7 if max(n_queries, n_keys) < 30 else 5
    for head, ax in enumerate(axes.flat):
        if head >= n_heads:
            ax.axis("off")
            continue
        ax.imshow(data[head], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_title(f"head {head}", fontsize=9)
        # Every head has the same tokens: keys are labelled under the lowest head of each column, queries left
        # of each row's first head (matplotlib's tick labels are most of a figure's drawing time).
        if head + cols >= n_heads:
            ax.set_xticks(range(n_keys), labels=list(key_tokens), rotation=90, fontsize=font)
        else:
            ax.set_xticks([])
        if head % cols == 0:
            ax.set_yticks(range(n_queries), labels=list(query_tokens), fontsize=font)
        else:
            ax.set_yticks([])
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """weights (B, H, Tq, Tk) -> (H,) mean entropy (nats) of each head's distributions over keys.

    Rows that are all zero (padded queries) are ignored.
    """
    probs = weights.float()
    entropy = -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1)  # (B, H, Tq)
    valid = probs.sum(-1) > 0.5  # (B, H, Tq)
    return (entropy * valid).sum(dim=(0, 2)) / valid.sum(dim=(0, 2)).clamp(min=1)
