"""`build_transformer`: the one place that knows the whole graph (which parts, how wired, how shared).

Initialization (the paper does not specify one; we follow the tensor2tensor reference):
  - every projection weight: Xavier/Glorot uniform, each of Q, K, V initialized as its own matrix even though
    they are stored fused; biases zero;
  - token embeddings: normal(0, d_model^-0.5), so that embedding * sqrt(d_model) has unit scale and, when the
    pre-softmax map is tied to it, logits start with unit variance;
  - LayerNorm: weight 1, bias 0 (torch default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from transformer_lab.model.attention import CrossAttention, SelfAttention
from transformer_lab.model.config import TransformerConfig
from transformer_lab.model.layers import DecoderLayer, EncoderLayer, FeedForward, PostNormResidual, PreNormResidual
from transformer_lab.model.positional import PositionalScheme, build_positional
from transformer_lab.model.transformer import Decoder, Encoder, Transformer


def build_transformer(cfg: TransformerConfig | Mapping[str, Any]) -> Transformer:
    """Build (and initialize) a Transformer from a TransformerConfig or a plain dict / Hydra DictConfig."""
    if not isinstance(cfg, TransformerConfig):
        cfg = TransformerConfig.from_mapping(cfg)
    cfg.validate()
    D, H, Dk, Dv = cfg.d_model, cfg.n_heads, cfg.head_dim_k, cfg.head_dim_v
    residual = {"post": PostNormResidual, "pre": PreNormResidual}[cfg.norm]

    def res() -> nn.Module:
        return residual(D, dropout=cfg.dropout, eps=cfg.layer_norm_eps)

    def final_norm() -> nn.Module:
        # pre-norm leaves the residual stream un-normalized, so each stack ends with a LayerNorm
        return nn.LayerNorm(D, eps=cfg.layer_norm_eps) if cfg.norm == "pre" else nn.Identity()

    def self_attn() -> SelfAttention:
        return SelfAttention(d_model=D, n_heads=H, d_k=Dk, d_v=Dv, attention_dropout=cfg.attention_dropout)

    def cross_attn() -> CrossAttention:
        return CrossAttention(d_model=D, n_heads=H, d_k=Dk, d_v=Dv, attention_dropout=cfg.attention_dropout)

    def positional() -> PositionalScheme:  # each stack owns its own (learned tables are not shared)
        return build_positional(cfg.positional, d_model=D, n_heads=H, head_dim_k=Dk)

    def ffn() -> FeedForward:
        return FeedForward(d_model=D, d_ff=cfg.d_ff, activation_dropout=cfg.activation_dropout,
                           activation=cfg.activation)

    src_embedding = nn.Embedding(cfg.src_vocab, D)
    tgt_embedding = src_embedding if cfg.weight_sharing == "all" else nn.Embedding(cfg.tgt_vocab, D)
    generator = nn.Linear(D, cfg.tgt_vocab, bias=cfg.output_bias)  # bias (zero-initialized) only if asked

    encoder = Encoder(
        src_embedding,
        positional(),
        [EncoderLayer(self_attn(), ffn(), attn_residual=res(), ff_residual=res()) for _ in range(cfg.encoder_layers)],
        cfg.dropout,
        final_norm(),
    )
    decoder = Decoder(
        tgt_embedding,
        positional(),
        [
            DecoderLayer(self_attn(), cross_attn(), ffn(), self_residual=res(), cross_residual=res(), ff_residual=res())
            for _ in range(cfg.decoder_layers)
        ],
        cfg.dropout,
        final_norm(),
    )
    model = Transformer(encoder, decoder, generator, config=cfg)
    _initialize(model, D)
    if cfg.weight_sharing in ("all", "decoder"):
        generator.weight = tgt_embedding.weight  # §3.4: pre-softmax map shares the embedding matrix
    return model


def _initialize(model: Transformer, d_model: int) -> None:
    positional = {id(m) for m in _positional_modules(model)}  # learned tables init themselves
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding) and id(module) not in positional:
            nn.init.normal_(module.weight, mean=0.0, std=d_model**-0.5)
    for module in model.modules():  # fused projections: redo each block as its own matrix
        if isinstance(module, SelfAttention):
            H = module.n_heads
            _xavier_blocks(module.qkv.weight, [H * module.d_k, H * module.d_k, H * module.d_v])
        elif isinstance(module, CrossAttention):
            H = module.n_heads
            _xavier_blocks(module.kv.weight, [H * module.d_k, H * module.d_v])


def _positional_modules(model: Transformer) -> list[nn.Module]:
    return list(model.encoder.positional.modules()) + list(model.decoder.positional.modules())


def _xavier_blocks(weight: nn.Parameter, sizes: list[int]) -> None:
    """Xavier-uniform each row block of a fused projection as if it were its own (out, in) matrix."""
    for block in weight.data.split(sizes, dim=0):
        nn.init.xavier_uniform_(block)
