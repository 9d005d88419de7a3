"""Attention: the probability-returning path equals the fused SDPA path; masks mean "may attend"."""

import torch

from model_helpers import source_batch, target_batch, tiny_model, variant_params
from transformer_lab.model import ALiBiPositional, LayerCache, NoPositional, RotaryPositional, SelfAttention
from transformer_lab.model.attention import attend, causal_mask, padding_mask


def test_causal_mask_is_bottom_right_aligned():
    assert causal_mask(3, 3, torch.device("cpu")).tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    assert causal_mask(2, 4, torch.device("cpu")).tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]


def test_weights_path_equals_fused_path_in_every_mode():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 6)  # Dv != Dk
    pad = padding_mask(torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]]), pad_id=0)
    bias = ALiBiPositional(3).attention_bias(5, 5, 0, torch.device("cpu"))
    for mask, causal, b in [(None, True, None), (pad, False, None), (pad, False, bias), (None, True, bias)]:
        fast, none = attend(q, k, v, mask=mask, causal=causal, bias=b, dropout_p=0.0, need_weights=False)
        slow, probs = attend(q, k, v, mask=mask, causal=causal, bias=b, dropout_p=0.0, need_weights=True)
        assert none is None and probs.shape == (2, 3, 5, 5)
        torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(probs.sum(-1), torch.ones(2, 3, 5))
        if causal:
            assert probs.triu(diagonal=1).abs().max() == 0
        if mask is not None:
            assert probs[0, :, :, 3:].abs().max() == 0  # pad keys get no weight


def test_self_attention_with_cache_matches_full_in_both_paths():
    torch.manual_seed(0)
    attn = SelfAttention(d_model=12, n_heads=3, d_k=2, d_v=5).eval()  # d_k, d_v independent of d_model / h
    x = torch.randn(2, 6, 12)
    for positional in (NoPositional(), RotaryPositional(2), ALiBiPositional(3)):
        full, _ = attn(x, positional, causal=True)
        cache = LayerCache()
        first, _ = attn(x[:, :4], positional, causal=True, cache=cache, need_weights=True)  # chunk of 4
        rest, probs = attn(x[:, 4:], positional, causal=True, cache=cache, need_weights=True)  # then 2 more
        assert probs.shape == (2, 3, 2, 6)
        torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-6, rtol=1e-5)


@variant_params
def test_model_attention_maps_equal_fused_forward(norm, scheme):
    model = tiny_model(norm, scheme)
    src, tgt = source_batch([5, 3]), target_batch(2, 4)
    logits = model(src, tgt)
    logits_w, maps = model(src, tgt, return_attention=True)
    torch.testing.assert_close(logits_w, logits, atol=1e-5, rtol=1e-5)
    assert len(maps.encoder_self) == len(maps.decoder_self) == len(maps.cross) == 2
    assert maps.encoder_self[0].shape == (2, 4, 6, 6)
    assert maps.decoder_self[0].shape == (2, 4, 4, 4)
    assert maps.cross[1].shape == (2, 4, 4, 6)
    assert maps.cross[0][1, :, :, 4:].abs().max() == 0  # the short source's padding gets no attention


def test_written_out_path_computes_in_float32_under_cpu_bf16_autocast():
    """CPU autocast would run the written-out path's products and softmax in bf16 (CUDA's runs softmax in
    float32, and SDPA's fused kernels never round the scores); it must not: scores rounded to bf16 (8
    significant bits) before the softmax cost the default job test BLEU when it trained in bf16 on CPU."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 7, 8, generator=g).bfloat16() for _ in range(3))  # what bf16 projections give
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, probs = attend(q, k, v, mask=None, causal=False, bias=None, dropout_p=0.0, need_weights=True)
    assert probs.dtype == torch.float32 and out.dtype == torch.bfloat16  # the output keeps the inputs' dtype
    reference = (q.double() @ k.double().transpose(-2, -1) * 8**-0.5).softmax(-1)
    torch.testing.assert_close(probs, reference.float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.float(), (reference @ v.double()).float(), rtol=1e-2, atol=1e-2)  # bf16 output
