"""The encoder-decoder Transformer of "Attention Is All You Need", its variants, and decoding search."""

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
