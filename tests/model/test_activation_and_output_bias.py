"""`model.activation` (relu, the paper's; gelu; swish, OPUS-MT's) and `model.output_bias` (Marian's
final_logits_bias): the same functions as transformers' activations, zero-initialized bias, guards."""

from __future__ import annotations

import pytest
import torch

from transformer_lab.model import TransformerConfig, build_transformer
from transformer_lab.model.layers import FeedForward

TINY = dict(vocab_size=20, n_layers=1, d_model=8, d_ff=16, n_heads=2, dropout=0.0)


@pytest.mark.parametrize("ours, theirs", [("relu", "relu"), ("gelu", "gelu"), ("swish", "swish")])
def test_each_activation_is_transformers_function_of_that_name(ours, theirs):
    activations = pytest.importorskip("transformers.activations")
    torch.manual_seed(0)
    ffn = FeedForward(d_model=8, d_ff=16, activation=ours)
    x = torch.randn(2, 5, 8) * 3
    reference = ffn.w2(activations.ACT2FN[theirs](ffn.w1(x)))
    torch.testing.assert_close(ffn(x), reference, rtol=0, atol=0)


def test_the_paper_defaults_are_relu_and_no_output_bias():
    model = build_transformer(TINY)
    assert model.config.activation == "relu" and model.generator.bias is None


def test_an_output_bias_starts_at_zero_and_shifts_every_logit():
    model = build_transformer({**TINY, "output_bias": True}).eval()
    assert torch.equal(model.generator.bias, torch.zeros(20))
    src, tgt = torch.tensor([[4, 5, 6, 2]]), torch.tensor([[1, 7, 8]])
    before = model(src, tgt)
    with torch.no_grad():
        model.generator.bias.copy_(torch.arange(20.0))
    torch.testing.assert_close(model(src, tgt) - before, torch.arange(20.0).expand(1, 3, 20))
    assert model.parameter_counts()["embeddings"] == 20 * 8 + 20  # tied matrix once, plus the bias


@pytest.mark.parametrize("value", ["tanh", None])
def test_an_unknown_activation_is_refused(value):
    with pytest.raises(ValueError, match="model.activation="):
        TransformerConfig(**TINY, activation=value).validate()


@pytest.mark.parametrize("value", ["yes", 1])
def test_output_bias_must_be_a_boolean(value):
    with pytest.raises(ValueError, match="model.output_bias="):
        TransformerConfig(**TINY, output_bias=value).validate()


@pytest.mark.parametrize("value", ["silu", "ReLU"])
def test_the_feed_forward_refuses_an_unknown_activation(value):
    with pytest.raises(ValueError, match="model.activation="):
        FeedForward(d_model=8, d_ff=16, activation=value)


@pytest.mark.parametrize("value", ["tanh", "gelu_new"])
def test_the_export_refuses_an_activation_marian_lacks(value):
    from transformer_lab.export.compatibility import (
        UnexportableModelError,
        check_exportable,
    )

    with pytest.raises(UnexportableModelError, match=f"model.activation='{value}'"):
        check_exportable(TransformerConfig(**TINY, activation=value))  # not validated: a future activation
