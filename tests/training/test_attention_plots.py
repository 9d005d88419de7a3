"""The attention figures show each head's weights under the real tokens, and the entropy scalars logged
beside them match the closed form."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from transformer_lab.training.callbacks.attention_plots import attention_entropy, plot_attention_heads

QUERIES = ["<s>", "das", "Haus"]
KEYS = ["the", "house", "is", "</s>"]


def tick_labels(axis) -> list[str]:
    return [label.get_text() for label in axis.get_ticklabels()]


def test_each_head_shows_its_weights_with_keys_under_each_column_and_queries_left_of_each_row():
    weights = torch.softmax(torch.randn(6, len(QUERIES), len(KEYS)), dim=-1)  # 6 heads: 2 rows of 4, 2 empty
    fig = plot_attention_heads(weights, QUERIES, KEYS, "cross layer 0")
    try:
        axes = fig.axes
        assert len(axes) == 8
        for head in range(6):
            assert np.allclose(axes[head].images[0].get_array(), weights[head].numpy())
            assert axes[head].get_title() == f"head {head}"
        lowest_in_column, first_in_row = {2, 3, 4, 5}, {0, 4}
        for head in range(6):
            assert tick_labels(axes[head].xaxis) == (KEYS if head in lowest_in_column else [])
            assert tick_labels(axes[head].yaxis) == (QUERIES if head in first_in_row else [])
        assert not axes[6].axison and not axes[7].axison
    finally:
        plt.close(fig)


def test_weights_that_do_not_match_the_labels_are_refused():
    with pytest.raises(ValueError, match=r"do not match 3x4 labels"):
        plot_attention_heads(torch.rand(2, 3, 5), QUERIES, KEYS, "t")


def test_entropy_is_log_k_for_uniform_rows_zero_for_one_hot_rows_and_ignores_padded_queries():
    K = len(KEYS)
    uniform = torch.full((2, K), 1.0 / K)  # head 0: 2 queries spread evenly
    one_hot = torch.eye(K)[:2]  # head 1: 2 queries on one key each
    weights = torch.stack([uniform, one_hot])[None]  # (B=1, H=2, Tq=2, Tk=K)
    assert torch.allclose(attention_entropy(weights), torch.tensor([math.log(K), 0.0]))
    padded = torch.cat([weights, torch.zeros(1, 2, 1, K)], dim=2)  # a padded query: all-zero rows
    assert torch.allclose(attention_entropy(padded), torch.tensor([math.log(K), 0.0]))
