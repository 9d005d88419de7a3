"""The encoder-decoder Transformer (§3): stacks, incremental decoding cache, attention maps, parameter counts.

Shapes: B batch, S source length, T target length (t = positions already in the cache), D d_model,
H heads, Dk/Dv per-head query-key/value widths, V vocabulary.
Use `build_transformer` (builder.py) to make one from a config; the constructors here take ready-made parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from torch import Tensor, nn

from transformer_lab.model.attention import LayerCache, padding_mask, source_padding_mask
from transformer_lab.model.dropout import Dropout
from transformer_lab.model.config import TransformerConfig
from transformer_lab.model.positional import PositionalScheme


@dataclass
class AttentionMaps:
    """Attention probabilities per layer (index 0 = first layer), for visualization."""

    encoder_self: list[Tensor] = field(default_factory=list)  # each (B, H, S, S)
    decoder_self: list[Tensor] = field(default_factory=list)  # each (B, H, T, T)
    cross: list[Tensor] = field(default_factory=list)  # each (B, H, T, S)


@dataclass
class DecoderCache:
    """Incremental-decoding state of the whole decoder: one LayerCache per layer."""

    layers: list[LayerCache]

    @property
    def offset(self) -> int:
        """Number of target positions already decoded (the position of the next input token)."""
        return self.layers[0].length

    def reorder(self, index: Tensor, include_cross: bool = True) -> None:
        """index (B',) of batch rows to keep/repeat, e.g. the parent beam of every surviving hypothesis."""
        for layer in self.layers:
            layer.reorder(index, include_cross)

    def select_sources(self, index: Tensor) -> None:
        """index (B',) of cross-attention (source) rows to keep: the sentences a search still decodes."""
        for layer in self.layers:
            layer.select_cross(index)


class _Stack(nn.Module):
    """What the encoder and decoder share: scaled token embeddings plus positions, dropout, the layers,
    and the final norm of pre-norm stacks."""

    def __init__(
        self,
        embedding: nn.Embedding,
        positional: PositionalScheme,
        layers: list[nn.Module],
        dropout: float,
        final_norm: nn.Module,
    ) -> None:
        super().__init__()
        self.embedding, self.positional = embedding, positional
        self.layers = nn.ModuleList(layers)
        self.dropout = Dropout(dropout)  # §5.4: on the sums of embeddings and positional encodings
        self.final_norm = final_norm  # nn.Identity for post-norm, LayerNorm for pre-norm
        self.scale = math.sqrt(embedding.embedding_dim)  # §3.4: embeddings times sqrt(d_model)

    def embed(self, tokens: Tensor, offset: int = 0) -> Tensor:
        """tokens (B, L) ids at positions offset.. -> (B, L, D) inputs of the first layer."""
        return self.dropout(self.positional.add_to_embeddings(self.embedding(tokens) * self.scale, offset))


class Encoder(_Stack):
    def forward(self, src: Tensor, mask: Tensor | None, need_weights: bool = False) -> tuple[Tensor, list[Tensor]]:
        """src (B, S) ids, mask (B, 1, 1, S) or None (no padding) -> memory (B, S, D), self-attention probs per layer."""
        x = self.embed(src)  # (B, S, D)
        maps = []
        for layer in self.layers:
            x, probs = layer(x, mask, self.positional, need_weights)
            maps.append(probs)
        return self.final_norm(x), maps


class Decoder(_Stack):
    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        cache: DecoderCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """tgt (B, T) ids (only the new positions when a cache is given) -> hidden (B, T, D), probs."""
        offset = 0 if cache is None else cache.offset
        x = self.embed(tgt, offset)  # (B, T, D)
        self_maps, cross_maps = [], []
        for i, layer in enumerate(self.layers):
            layer_cache = None if cache is None else cache.layers[i]
            x, self_probs, cross_probs = layer(x, memory, memory_mask, self.positional, layer_cache, need_weights)
            self_maps.append(self_probs)
            cross_maps.append(cross_probs)
        return self.final_norm(x), self_maps, cross_maps


class Transformer(nn.Module):
    """Encoder-decoder model. `generator` is the pre-softmax linear map D -> V (no bias, as tensor2tensor,
    unless `output_bias`; it may share its weight with the embeddings, §3.4)."""

    def __init__(self, encoder: Encoder, decoder: Decoder, generator: nn.Linear, *, config: TransformerConfig) -> None:
        super().__init__()
        self.encoder, self.decoder, self.generator = encoder, decoder, generator
        self.config = config  # what built it (for export, the schedule's d_model, describe)
        self.pad_id = config.pad_id

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) -> memory (B, S, D) and the source key mask (B, 1, 1, S) (True = real token)."""
        src_mask = padding_mask(src, self.pad_id)
        memory, _ = self.encoder(src, src_mask)
        return memory, src_mask

    def new_cache(self, capacity: int = 0) -> DecoderCache:
        """An empty cache with room for `capacity` target positions (it grows if needed); cross-attention
        keys/values are filled by the first `decode` call that uses it."""
        return DecoderCache([LayerCache(capacity) for _ in self.decoder.layers])

    def decode(self, tgt: Tensor, memory: Tensor, src_mask: Tensor, cache: DecoderCache | None = None) -> Tensor:
        """tgt (B*G, T) -> logits (B*G, T, V) for memory (B, S, D): G >= 1 consecutive rows (beams) share
        one source (see CrossAttention). With a cache, `tgt` holds only positions cache.offset onwards
        (usually one token per step), and the cache is updated in place."""
        hidden, _, _ = self.decoder(tgt, memory, src_mask, cache)
        return self.generator(hidden)

    def forward(
        self, src: Tensor, tgt_in: Tensor, return_attention: bool = False,
        *, src_mask: Tensor | None | Literal["from_pad_id"] = "from_pad_id",
    ) -> Tensor | tuple[Tensor, AttentionMaps]:
        """src (B, S), tgt_in (B, T) -> logits (B, T, V) [, AttentionMaps].

        src_mask: the source key mask (B, 1, 1, S) (True = real token), or None when `src` has no padding;
        by default it is derived from pad_id here, which reads one boolean from the device. A compiled
        caller passes the mask it computed outside the compiled region (that read would break the graph).
        """
        if isinstance(src_mask, str):
            if src_mask != "from_pad_id":
                raise ValueError(f"src_mask must be a (B, 1, 1, S) mask, None or 'from_pad_id', got {src_mask!r}")
            src_mask = source_padding_mask(src, self.pad_id)  # None without padding: flash-eligible
        memory, enc_maps = self.encoder(src, src_mask, need_weights=return_attention)
        hidden, dec_maps, cross_maps = self.decoder(tgt_in, memory, src_mask, need_weights=return_attention)
        logits = self.generator(hidden)  # (B, T, V)
        if not return_attention:
            return logits
        return logits, AttentionMaps(enc_maps, dec_maps, cross_maps)

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters, each shared matrix counted once.

        `embeddings`: token embeddings, learned position tables and the output projection (when tied it is
        the embedding matrix and adds nothing but its bias, if `output_bias`). `encoder` / `decoder`: their layers plus
        the final LayerNorm of pre-norm stacks. `total` = the sum.
        """
        seen: set[int] = set()

        def count(*modules: nn.Module) -> int:
            n = 0
            for module in modules:
                for p in module.parameters():
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        n += p.numel()
            return n

        enc, dec = self.encoder, self.decoder
        counts = {
            "embeddings": count(enc.embedding, dec.embedding, self.generator, enc.positional, dec.positional),
            "encoder": count(enc.layers, enc.final_norm),
            "decoder": count(dec.layers, dec.final_norm),
        }
        counts["total"] = sum(counts.values())
        return counts
