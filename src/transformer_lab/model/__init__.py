"""The encoder-decoder Transformer of "Attention Is All You Need" and its variants (decoding: `transformer_lab.decoding`).

    model = build_transformer(cfg.model)             # TransformerConfig, dict or Hydra DictConfig
    logits = model(batch["src"], batch["tgt_in"])    # (B, T, V)
    logits, maps = model(src, tgt_in, return_attention=True)

Variants are chosen by config, never by flags in forward: `norm` picks a residual wrapper class
(layers.py), `positional.name` picks a PositionalScheme subclass (positional.py).
"""

from transformer_lab.model.attention import CrossAttention, LayerCache, SelfAttention, causal_mask, padding_mask
from transformer_lab.model.builder import build_transformer
from transformer_lab.model.config import PositionalConfig, TransformerConfig
from transformer_lab.model.positional import (
    ALiBiPositional,
    LearnedPositional,
    NoPositional,
    PositionalScheme,
    RotaryPositional,
    SinusoidalPositional,
    build_positional,
    sinusoid_table,
)
from transformer_lab.model.transformer import AttentionMaps, DecoderCache, Transformer

__all__ = [
    "ALiBiPositional",
    "AttentionMaps",
    "CrossAttention",
    "DecoderCache",
    "LayerCache",
    "LearnedPositional",
    "NoPositional",
    "PositionalConfig",
    "PositionalScheme",
    "RotaryPositional",
    "SelfAttention",
    "SinusoidalPositional",
    "Transformer",
    "TransformerConfig",
    "build_positional",
    "build_transformer",
    "causal_mask",
    "padding_mask",
    "sinusoid_table",
]
