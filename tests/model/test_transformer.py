"""Whole-model properties: causality, padding invariance, incremental decoding, torch reference, counts."""

import math

import pytest
import torch
from model_helpers import VOCAB, source_batch, target_batch, tiny_model, variant_params
from torch import nn

from transformer_lab.decoding import beam_search
from transformer_lab.model import TransformerConfig, build_transformer
from transformer_lab.special_tokens import PAD_ID


@variant_params
def test_decoder_cannot_see_future(norm, scheme):
    model = tiny_model(norm, scheme)
    src, tgt = source_batch([6, 4]), target_batch(2, 7)
    logits = model(src, tgt)
    for t in range(tgt.size(1) - 1):
        changed = tgt.clone()
        changed[:, t + 1] = (changed[:, t + 1] - 4 + 1) % (VOCAB - 4) + 4  # a different word
        other = model(src, changed)
        torch.testing.assert_close(other[:, : t + 1], logits[:, : t + 1], atol=1e-5, rtol=1e-5)
        assert not torch.allclose(other[:, t + 1], logits[:, t + 1], atol=1e-4)  # the change is visible


@pytest.mark.parametrize("scheme", ["sinusoidal", "learned", "none", "rope", "alibi"])
def test_encoder_order_sensitivity_matches_scheme(scheme):
    """Without positions the encoder is permutation-equivariant; every positional scheme breaks that."""
    model = tiny_model("post", scheme)
    src = source_batch([6])
    perm = torch.tensor([3, 0, 5, 1, 4, 2, 6])  # shuffle the words, keep eos last
    memory, _ = model.encode(src)
    permuted, _ = model.encode(src[:, perm])
    equivariant = torch.allclose(permuted, memory[:, perm], atol=1e-5)
    assert equivariant == (scheme == "none")


@variant_params
def test_padding_invariance(norm, scheme):
    model = tiny_model(norm, scheme)
    src, tgt = source_batch([5, 5]), target_batch(2, 4)
    logits = model(src, tgt)
    pad_src = torch.cat([src, torch.full((2, 3), PAD_ID)], dim=1)
    pad_tgt = torch.cat([tgt, torch.full((2, 2), PAD_ID)], dim=1)
    torch.testing.assert_close(model(pad_src, tgt), logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(src, pad_tgt)[:, :4], logits, atol=1e-5, rtol=1e-5)
    # a sentence batched with a longer one (its source right-padded) gives the same outputs as alone
    mixed = source_batch([5, 9], seed=3)
    mixed[0] = PAD_ID
    mixed[0, : src.size(1)] = src[0]
    torch.testing.assert_close(model(mixed, tgt)[0], logits[0], atol=1e-5, rtol=1e-5)


@variant_params
def test_cached_decoding_matches_full_forward(norm, scheme):
    model = tiny_model(norm, scheme)
    src, tgt = source_batch([6, 3]), target_batch(2, 6)
    full = model(src, tgt)
    memory, src_mask = model.encode(src)
    cache = model.new_cache()
    steps = [model.decode(tgt[:, t : t + 1], memory, src_mask, cache) for t in range(3)]
    steps.append(model.decode(tgt[:, 3:], memory, src_mask, cache))  # a multi-token chunk after the cache
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache.offset == 6


@pytest.mark.parametrize("scheme", ["sinusoidal", "learned", "none", "rope", "alibi"])
def test_half_precision_masks_do_not_overflow(scheme):
    """fp16 has max ~65504: an additive -1e9 mask would overflow or raise; ours must stay finite and close."""
    model = tiny_model("post", scheme)
    src, tgt = source_batch([5, 2]), target_batch(2, 4)
    reference = model(src, tgt)
    model.half()
    for logits in (model(src, tgt), model(src, tgt, return_attention=True)[0]):
        assert logits.dtype == torch.float16 and torch.isfinite(logits).all()
        torch.testing.assert_close(logits.float(), reference, atol=0.02, rtol=0.01)
    out = beam_search(model, src, beam_size=2, max_len_b=4)
    assert out.scores.dtype == torch.float32 and torch.isfinite(out.scores).all()


@pytest.mark.parametrize("scheme", ["rope", "alibi"])
def test_head_dims_independent_of_d_model(scheme):
    """Table 3 rows A/B: d_k and d_v are free; W^O maps H*d_v back to d_model."""
    model = tiny_model("post", scheme, d_k=2, d_v=6)  # d_model 16, 4 heads: 16/4 = 4 would be the default
    attn = model.decoder.layers[0].self_attn
    assert attn.qkv.weight.shape == (4 * (2 + 2 + 6), 16) and attn.out.weight.shape == (16, 4 * 6)
    src, tgt = source_batch([4, 2]), target_batch(2, 5)
    full, maps = model(src, tgt, return_attention=True)
    memory, src_mask = model.encode(src)
    cache = model.new_cache()
    steps = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_mask, cache) for t in range(5)], dim=1)
    torch.testing.assert_close(steps, full, atol=1e-5, rtol=1e-5)
    assert maps.cross[0].shape == (2, 4, 5, 5)


def test_cache_reorder_selects_batch_rows():
    model = tiny_model("post", "rope")
    src, tgt = source_batch([6, 3, 4]), target_batch(3, 5)
    full = model(src, tgt)
    memory, src_mask = model.encode(src)
    cache = model.new_cache()
    model.decode(tgt[:, :3], memory, src_mask, cache)
    order = torch.tensor([2, 0, 0])
    cache.reorder(order)
    out = model.decode(tgt[order, 3:], memory[order], src_mask[order], cache)
    torch.testing.assert_close(out, full[order, 3:], atol=1e-5, rtol=1e-5)


def test_matches_torch_nn_transformer():
    D, H, F, N, eps = 32, 4, 64, 2, 1e-5
    torch.manual_seed(0)
    ours = build_transformer(
        dict(vocab_size=VOCAB, n_layers=N, d_model=D, d_ff=F, n_heads=H, dropout=0.0, layer_norm_eps=eps)
    ).eval()
    ref = nn.Transformer(D, H, N, N, F, dropout=0.0, activation="relu", batch_first=True, layer_norm_eps=eps)
    ref.encoder.norm = ref.decoder.norm = None  # nn.Transformer adds a final norm; the paper's post-norm has none
    with torch.no_grad():
        for mine, theirs in zip(ours.encoder.layers, ref.encoder.layers):
            theirs.self_attn.in_proj_weight.copy_(mine.self_attn.qkv.weight)
            theirs.self_attn.in_proj_bias.copy_(mine.self_attn.qkv.bias)
            theirs.self_attn.out_proj.load_state_dict(mine.self_attn.out.state_dict())
            theirs.linear1.load_state_dict(mine.feed_forward.w1.state_dict())
            theirs.linear2.load_state_dict(mine.feed_forward.w2.state_dict())
            theirs.norm1.load_state_dict(mine.attn_residual.norm.state_dict())
            theirs.norm2.load_state_dict(mine.ff_residual.norm.state_dict())
        for mine, theirs in zip(ours.decoder.layers, ref.decoder.layers):
            theirs.self_attn.in_proj_weight.copy_(mine.self_attn.qkv.weight)
            theirs.self_attn.in_proj_bias.copy_(mine.self_attn.qkv.bias)
            theirs.self_attn.out_proj.load_state_dict(mine.self_attn.out.state_dict())
            theirs.multihead_attn.in_proj_weight.copy_(torch.cat([mine.cross_attn.q.weight, mine.cross_attn.kv.weight]))
            theirs.multihead_attn.in_proj_bias.copy_(torch.cat([mine.cross_attn.q.bias, mine.cross_attn.kv.bias]))
            theirs.multihead_attn.out_proj.load_state_dict(mine.cross_attn.out.state_dict())
            theirs.linear1.load_state_dict(mine.feed_forward.w1.state_dict())
            theirs.linear2.load_state_dict(mine.feed_forward.w2.state_dict())
            theirs.norm1.load_state_dict(mine.self_residual.norm.state_dict())
            theirs.norm2.load_state_dict(mine.cross_residual.norm.state_dict())
            theirs.norm3.load_state_dict(mine.ff_residual.norm.state_dict())
    ref.eval()
    src, tgt = source_batch([7, 4, 2]), target_batch(3, 6)

    def embed(stack, ids):  # our embeddings: scaled by sqrt(D), plus the sinusoids
        return stack.positional.add_to_embeddings(stack.embedding(ids) * math.sqrt(D))

    with torch.no_grad():
        hidden = ref(
            embed(ours.encoder, src),
            embed(ours.decoder, tgt),
            tgt_mask=nn.Transformer.generate_square_subsequent_mask(tgt.size(1), dtype=torch.bool),
            src_key_padding_mask=src == PAD_ID,  # torch's convention: True = ignore
            memory_key_padding_mask=src == PAD_ID,
        )
        expected = ours.generator(hidden)
        torch.testing.assert_close(ours(src, tgt), expected, atol=1e-5, rtol=1e-5)


def closed_form_counts(V: int, N: int, D: int, F: int, H: int, dk: int, dv: int) -> dict[str, int]:
    """From §3: per attention W^Q, W^K (D x H*dk), W^V (D x H*dv), W^O (H*dv x D) with biases; FFN
    D->F->D with biases; a LayerNorm per sub-layer (2D); tied embeddings/pre-softmax V x D, no output bias."""
    attention = D * H * (2 * dk + dv) + H * (2 * dk + dv) + H * dv * D + D
    ffn = D * F + F + F * D + D
    encoder_layer = attention + ffn + 2 * 2 * D
    decoder_layer = 2 * attention + ffn + 3 * 2 * D
    counts = {"embeddings": V * D, "encoder": N * encoder_layer, "decoder": N * decoder_layer}
    counts["total"] = sum(counts.values())
    return counts


@pytest.mark.parametrize(
    "shape,paper_millions",
    [
        (dict(), 65),  # base
        (dict(d_model=1024, d_ff=4096, n_heads=16), 213),  # big
        (dict(d_k=16), 58),  # Table 3 row B1: d_k alone changes
        (dict(d_model=256, d_k=32, d_v=32), 28),  # row C4
    ],
    ids=["base", "big", "B1", "C4"],
)
def test_parameter_counts_match_closed_form(shape, paper_millions):
    V = 37000  # the paper's shared EN-DE BPE vocabulary
    with torch.device("meta"):  # no memory, no init cost
        model = build_transformer(dict(vocab_size=V, **shape))
    cfg = TransformerConfig(vocab_size=V, **shape)
    expected = closed_form_counts(V, 6, cfg.d_model, cfg.d_ff, cfg.n_heads, cfg.head_dim_k, cfg.head_dim_v)
    assert model.parameter_counts() == expected
    assert abs(expected["total"] / 1e6 - paper_millions) < 0.06 * paper_millions  # Table 3's params column


def test_weight_sharing_modes():
    shared = tiny_model(weight_sharing="all")
    assert shared.encoder.embedding.weight is shared.decoder.embedding.weight is shared.generator.weight
    dec = tiny_model(weight_sharing="decoder", src_vocab_size=30)
    assert dec.decoder.embedding.weight is dec.generator.weight
    assert dec.encoder.embedding.weight is not dec.decoder.embedding.weight
    none = tiny_model(weight_sharing="none")
    assert none.generator.weight is not none.decoder.embedding.weight
    assert none.parameter_counts()["embeddings"] == 3 * VOCAB * 16
    assert shared.parameter_counts()["embeddings"] == VOCAB * 16


def test_pre_norm_stacks_end_with_layer_norm():
    assert isinstance(tiny_model("pre").encoder.final_norm, nn.LayerNorm)
    assert isinstance(tiny_model("post").decoder.final_norm, nn.Identity)
