"""Ensemble: several Transformers of one vocabulary decoded as one model (fairseq's ensemble).

Shapes: B sentences, G decoder rows per sentence (beams), R = B x G rows, S source length, V vocabulary.

The searches drive an Ensemble exactly like one Transformer (`encode`, `new_cache`, `decode`, `pad_id`,
`generator.out_features`): each member encodes the source itself, keeps its own decoder cache, and every step
the members' next-token distributions are combined into one. Members may differ in anything but the vocabulary
(depth, width, positional scheme): each reads only its own memory and cache.

The combination is the log of the mean of the members' probabilities, log (1/N) sum_i p_i(y) =
logsumexp_i log p_i(y) - log N, as fairseq's EnsembleModel does: it is a distribution (no renormalization), so
the beam scores stay log-probabilities and the ensemble of one model given N times is that model. (The
alternative, the mean of log-probabilities, is a product of experts whose values sum to less than one and would
need renormalizing every step.) It is returned from `decode` in place of logits: log-probabilities are logits
(softmax(log p) = p), so the searches' log-softmax leaves them as they are, up to float rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from transformer_lab.model.transformer import DecoderCache, Transformer


@dataclass
class EnsembleMemory:
    """Every member's encoder memory, (B, S, D_i) each; indexing selects the same rows of all of them."""

    members: tuple[Tensor, ...]

    def __getitem__(self, index: Tensor) -> EnsembleMemory:
        return EnsembleMemory(tuple(m[index] for m in self.members))


@dataclass
class EnsembleCache:
    """Every member's DecoderCache, reordered and selected together."""

    members: tuple[DecoderCache, ...]

    @property
    def offset(self) -> int:
        return self.members[0].offset

    def reorder(self, index: Tensor, include_cross: bool = True) -> None:
        for cache in self.members:
            cache.reorder(index, include_cross)

    def select_sources(self, index: Tensor) -> None:
        for cache in self.members:
            cache.select_sources(index)


class Ensemble(nn.Module):
    """Transformers of one vocabulary (same size, same special ids) whose next-token distributions are
    averaged in probability space at every step. `models` are used as they are (eval mode is the caller's)."""

    def __init__(self, models: Sequence[Transformer]) -> None:
        super().__init__()
        if not models:
            raise ValueError("an ensemble needs at least one model")
        sizes = [m.generator.out_features for m in models]
        pads = [m.pad_id for m in models]
        if len(set(sizes)) > 1 or len(set(pads)) > 1:
            raise ValueError(f"the models of an ensemble must share one vocabulary; got output sizes {sizes} and "
                             f"pad ids {pads}")
        self.models = nn.ModuleList(models)
        self.pad_id = pads[0]
        # what the searches read V from (BatchPolicy): every member's output layer is V wide
        self.generator = _OutputSize(sizes[0])
        self.log_n = math.log(len(models))

    def encode(self, src: Tensor) -> tuple[EnsembleMemory, Tensor]:
        """src (B, S) -> every member's memory and the source key mask (B, 1, 1, S), the same for all members
        (one pad id)."""
        encoded = [m.encode(src) for m in self.models]
        return EnsembleMemory(tuple(memory for memory, _ in encoded)), encoded[0][1]

    def new_cache(self, capacity: int = 0) -> EnsembleCache:
        return EnsembleCache(tuple(m.new_cache(capacity) for m in self.models))

    def decode(self, tgt: Tensor, memory: EnsembleMemory, src_mask: Tensor, cache: EnsembleCache | None = None) -> Tensor:
        """tgt (R, T) -> float32 log-probabilities (R, T, V) of the ensemble: log of the members' mean
        probability (module docstring), each member's log-softmax taken in float32 whatever the autocast dtype."""
        caches = cache.members if cache is not None else (None,) * len(self.models)
        logp = torch.stack([
            torch.log_softmax(m.decode(tgt, mem, src_mask, c), dim=-1, dtype=torch.float32)
            for m, mem, c in zip(self.models, memory.members, caches)
        ])  # (N, R, T, V)
        return torch.logsumexp(logp, dim=0) - self.log_n


class _OutputSize:
    """Stands for the output layer where only its width is read (`generator.out_features`)."""

    def __init__(self, out_features: int) -> None:
        self.out_features = out_features


def members(model: Transformer | Ensemble) -> list[Transformer]:
    """The Transformers a model decodes with: an ensemble's members, or the model itself."""
    return list(model.models) if isinstance(model, Ensemble) else [model]
