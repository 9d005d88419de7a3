"""A batch without source padding runs attention without a key mask (flash-eligible), with unchanged outputs."""

import pytest
import torch

from model_helpers import source_batch, target_batch, tiny_model
from transformer_lab.model import padding_mask
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.special_tokens import PAD_ID


def test_the_mask_is_dropped_only_when_no_row_is_padded():
    unpadded = source_batch([5, 5])
    assert source_padding_mask(unpadded, PAD_ID) is None
    padded = source_batch([5, 3])
    torch.testing.assert_close(source_padding_mask(padded, PAD_ID), padding_mask(padded, PAD_ID))


@pytest.mark.parametrize("scheme", ["sinusoidal", "rope", "alibi"])
@pytest.mark.parametrize("length", [6, 120])  # the written-out path on CPU, and SDPA (over 96 x 96)
def test_outputs_without_padding_equal_those_with_an_all_true_mask(scheme, length):
    model = tiny_model("post", scheme, positional={"name": scheme, "max_len": 256})
    src, tgt = source_batch([length, length]), target_batch(2, length)
    explicit = padding_mask(src, PAD_ID)  # all True: what the model passed before
    assert bool(explicit.all())
    memory, _ = model.encoder(src, explicit)
    hidden, _, _ = model.decoder(tgt, memory, explicit)
    torch.testing.assert_close(model(src, tgt), model.generator(hidden), atol=1e-6, rtol=1e-5)
