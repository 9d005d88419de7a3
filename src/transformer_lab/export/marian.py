"""Our Transformer as a `transformers.MarianMTModel`: its config and its weights, computing the same function.

Shapes: D d_model, V vocabulary, F d_ff.

Two differences between the architectures are absorbed into the weights, exactly:

1. Sinusoid layout. Ours interleaves (§3.5: dim 2i = sin, dim 2i+1 = cos of frequency i); Marian puts all
   sines first, then all cosines, and recomputes that table when it loads (the table is not saved). The
   export re-bases every hidden (D-sized) vector by the permutation `perm = [0, 2, 4, ..., 1, 3, 5, ...]`:
   Marian's hidden vector h' = h[perm]. Every D-sized axis of every weight is permuted the same way
   (embedding columns, input columns of q/k/v/fc1, output rows and biases of out/fc2, LayerNorm weight and
   bias). LayerNorm is equivariant under a permutation, attention and FFN inner widths are untouched, and
   logits = h' . E'^T = h . E^T because both sides are permuted. Then Marian's table is our table, permuted.

2. LayerNorm eps. Marian's LayerNorms use torch's default eps 1e-5, not configurable; ours default to 1e-6
   (model.layer_norm_eps). LayerNorm(c x; eps) = LayerNorm(x; eps / c^2), so a LayerNorm whose input is
   c = sqrt(1e-5 / eps) times ours computes our normalization exactly. The export carries the residual
   stream at c times our values inside each stack: LayerNorm weights and biases times c (their outputs are
   c times ours), the weights reading that stream divided by c (q/k/v, cross-attention queries, fc1), the
   outputs added to it times c (out and fc2, weights and biases). The last LayerNorm of each stack outputs
   our scale (memory and final decoder states stay ours: cross-attention keys/values and tied logits
   need no change).
   Not exact: the first LayerNorm of each stack reads embeddings + positions, which Marian adds at our scale
   (its table is fixed), so that one LayerNorm per stack uses eps 1e-5 on our values: relative difference
   <= (1e-5 - eps) / (2 var) of its output, var being the variance across D of (embedding + position +
   attention), about 1 (4.5e-6 for eps 1e-6). With model.layer_norm_eps=1e-5, c = 1 and all of it is exact.

Also matched: embeddings times sqrt(D) (`scale_embedding`), the activation (`MARIAN_ACTIVATIONS`), no final
stack LayerNorm (post-norm), the output bias (`final_logits_bias`: ours, or 0 without `model.output_bias`),
decoder start = our bos, tied embeddings (one `shared` matrix).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from transformer_lab.export.compatibility import MARIAN_ACTIVATIONS
from transformer_lab.model.attention import CrossAttention, SelfAttention
from transformer_lab.model.layers import FeedForward
from transformer_lab.model.transformer import Transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

MARIAN_LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, hard-coded in MarianMT's layers
MIN_POSITIONS = 1024  # positions in the exported table (our sinusoids have no limit; Marian's table has)


def marian_config(model: Transformer, search: dict[str, Any] | None = None) -> dict[str, Any]:
    """The `transformers.MarianConfig` keyword arguments of `model` (already checked by check_exportable)."""
    cfg = model.config
    return dict(
        architectures=["MarianMTModel"],
        vocab_size=cfg.src_vocab,
        decoder_vocab_size=cfg.tgt_vocab,
        d_model=cfg.d_model,
        encoder_layers=cfg.encoder_layers,
        decoder_layers=cfg.decoder_layers,
        encoder_attention_heads=cfg.n_heads,
        decoder_attention_heads=cfg.n_heads,
        encoder_ffn_dim=cfg.d_ff,
        decoder_ffn_dim=cfg.d_ff,
        activation_function=MARIAN_ACTIVATIONS[cfg.activation],
        dropout=cfg.dropout,
        attention_dropout=cfg.attention_dropout,
        activation_dropout=cfg.activation_dropout,
        max_position_embeddings=max(cfg.positional.max_len, MIN_POSITIONS),
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        decoder_start_token_id=BOS_ID,
        forced_eos_token_id=EOS_ID,
        is_encoder_decoder=True,
    )


def marian_model(model: Transformer, **config_overrides: Any):
    """A `transformers.MarianMTModel` (eval mode) computing `model`'s function: `marian_config` (with
    `config_overrides`, e.g. attn_implementation) and `marian_state_dict` loaded, the shared embedding tied
    to the output layer (checked)."""
    from transformers import MarianConfig, MarianMTModel

    marian = MarianMTModel(MarianConfig(**{**marian_config(model), **config_overrides})).eval()
    with torch.no_grad():
        for name, tensor in marian_state_dict(model).items():
            target = marian.get_buffer(name) if name == "final_logits_bias" else marian.get_parameter(name)
            target.copy_(tensor)
    shared = marian.model.shared.weight
    if not (marian.lm_head.weight is shared and marian.model.encoder.embed_tokens.weight is shared):
        raise RuntimeError("MarianMTModel did not tie its embeddings and output layer; this transformers "
                           "version is not supported by the export")
    return marian


def hidden_permutation(d_model: int) -> Tensor:
    """(D,) perm with Marian's hidden dim m = our dim perm[m]: our sines (even dims), then cosines (odd)."""
    dims = torch.arange(d_model)
    return torch.cat([dims[0::2], dims[1::2]])


def marian_state_dict(model: Transformer) -> dict[str, Tensor]:
    """MarianMTModel parameter names -> float32 tensors computing `model`'s function (see module docstring).

    The shared embedding appears once, as `model.shared.weight`; MarianMTModel ties the encoder and decoder
    embeddings and `lm_head` to it when loading.
    """
    cfg = model.config
    perm = hidden_permutation(cfg.d_model)
    c = math.sqrt(MARIAN_LAYER_NORM_EPS / cfg.layer_norm_eps)
    out: dict[str, Tensor] = {"model.shared.weight": model.encoder.embedding.weight[:, perm]}
    for i, layer in enumerate(model.encoder.layers):
        prefix = f"model.encoder.layers.{i}."
        last = i == len(model.encoder.layers) - 1
        # stream scale: 1 into the first layer (embeddings + positions), c after every LayerNorm but the last
        s_in = 1.0 if i == 0 else c
        out.update(_self_attention(prefix + "self_attn.", layer.self_attn, perm, s_in))
        out.update(_layer_norm(prefix + "self_attn_layer_norm.", layer.attn_residual.norm, perm, c))
        out.update(_feed_forward(prefix, layer.feed_forward, perm, c))
        out.update(_layer_norm(prefix + "final_layer_norm.", layer.ff_residual.norm, perm, 1.0 if last else c))
    for i, layer in enumerate(model.decoder.layers):
        prefix = f"model.decoder.layers.{i}."
        last = i == len(model.decoder.layers) - 1
        s_in = 1.0 if i == 0 else c
        out.update(_self_attention(prefix + "self_attn.", layer.self_attn, perm, s_in))
        out.update(_layer_norm(prefix + "self_attn_layer_norm.", layer.self_residual.norm, perm, c))
        out.update(_cross_attention(prefix + "encoder_attn.", layer.cross_attn, perm, c))
        out.update(_layer_norm(prefix + "encoder_attn_layer_norm.", layer.cross_residual.norm, perm, c))
        out.update(_feed_forward(prefix, layer.feed_forward, perm, c))
        out.update(_layer_norm(prefix + "final_layer_norm.", layer.ff_residual.norm, perm, 1.0 if last else c))
    bias = model.generator.bias  # vocabulary-sized: not a hidden axis, nothing to permute
    out["final_logits_bias"] = torch.zeros(1, cfg.tgt_vocab) if bias is None else bias[None, :]  # (1, V)
    return {name: tensor.detach().float().contiguous().clone() for name, tensor in out.items()}


def _reading(linear: nn.Linear, rows: slice, perm: Tensor, scale: float) -> tuple[Tensor, Tensor]:
    """Rows of a projection reading the hidden stream (its input columns permuted, divided by the stream
    scale): weight (out, D), bias (out,)."""
    return linear.weight[rows][:, perm] / scale, linear.bias[rows]


def _writing(prefix: str, linear: nn.Linear, perm: Tensor, scale: float) -> dict[str, Tensor]:
    """A projection adding to the hidden stream: output rows and bias permuted and times the stream scale."""
    return {prefix + "weight": linear.weight[perm] * scale, prefix + "bias": linear.bias[perm] * scale}


def _self_attention(prefix: str, attn: SelfAttention, perm: Tensor, scale: float) -> dict[str, Tensor]:
    width = attn.n_heads * attn.d_k  # = D (checked): rows [W^Q; W^K; W^V] of the fused projection
    out = {}
    for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
        weight, bias = _reading(attn.qkv, slice(j * width, (j + 1) * width), perm, scale)
        out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = weight, bias
    out.update(_writing(prefix + "out_proj.", attn.out, perm, scale))
    return out


def _cross_attention(prefix: str, attn: CrossAttention, perm: Tensor, scale: float) -> dict[str, Tensor]:
    """Queries read the decoder stream (at `scale`); keys/values read the encoder memory (at our scale)."""
    width = attn.n_heads * attn.d_k
    out = {}
    out[prefix + "q_proj.weight"], out[prefix + "q_proj.bias"] = _reading(attn.q, slice(0, width), perm, scale)
    for j, name in enumerate(("k_proj", "v_proj")):
        weight, bias = _reading(attn.kv, slice(j * width, (j + 1) * width), perm, 1.0)
        out[f"{prefix}{name}.weight"], out[f"{prefix}{name}.bias"] = weight, bias
    out.update(_writing(prefix + "out_proj.", attn.out, perm, scale))
    return out


def _feed_forward(prefix: str, ffn: FeedForward, perm: Tensor, scale: float) -> dict[str, Tensor]:
    weight, bias = _reading(ffn.w1, slice(None), perm, scale)
    return {prefix + "fc1.weight": weight, prefix + "fc1.bias": bias, **_writing(prefix + "fc2.", ffn.w2, perm, scale)}


def _layer_norm(prefix: str, norm: nn.LayerNorm, perm: Tensor, out_scale: float) -> dict[str, Tensor]:
    return {prefix + "weight": norm.weight[perm] * out_scale, prefix + "bias": norm.bias[perm] * out_scale}
