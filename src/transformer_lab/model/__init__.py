"""The encoder-decoder Transformer of "Attention Is All You Need", its variants, and decoding search.

    model = build_transformer(cfg.model)             # TransformerConfig, dict or Hydra DictConfig
    logits = model(batch["src"], batch["tgt_in"])    # (B, T, V)
    logits, maps = model(src, tgt_in, return_attention=True)
    out = beam_search(model.eval(), src, beam_size=4, alpha=0.6)   # out.tokens (B, L), out.scores (B,)

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
from transformer_lab.model.search import SearchOutput, beam_search, greedy_search
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
    "SearchOutput",
    "SelfAttention",
    "SinusoidalPositional",
    "Transformer",
    "TransformerConfig",
    "beam_search",
    "build_positional",
    "build_transformer",
    "causal_mask",
    "greedy_search",
    "padding_mask",
    "sinusoid_table",
]
