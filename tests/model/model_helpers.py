"""Shared helpers for the model tests: tiny models of every variant, random batches."""

from __future__ import annotations

import pytest
import torch

from transformer_lab.model import Transformer, build_transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

SCHEMES = ("sinusoidal", "learned", "none", "rope", "alibi")
NORMS = ("post", "pre")
VARIANTS = [(norm, scheme) for norm in NORMS for scheme in SCHEMES]
VOCAB = 24
FIRST_WORD = 4  # ids below are the specials (pad, bos, eos, unk)


def tiny_model(norm: str = "post", scheme: str = "sinusoidal", seed: int = 0, **overrides) -> Transformer:
    """A 2-layer, d_model 16 model in eval mode with dropout off (deterministic outputs)."""
    torch.manual_seed(seed)
    cfg = dict(vocab_size=VOCAB, n_layers=2, d_model=16, d_ff=32, n_heads=4, dropout=0.0, norm=norm)
    cfg["positional"] = {"name": scheme, "max_len": 64}
    cfg.update(overrides)
    return build_transformer(cfg).eval()


def random_words(*shape: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.randint(FIRST_WORD, VOCAB, shape, generator=generator)


def source_batch(lengths: list[int], seed: int = 0) -> torch.Tensor:
    """(B, max(lengths)+1): words + eos, right-padded with pad (the batch contract)."""
    g = torch.Generator().manual_seed(seed)
    S = max(lengths) + 1
    src = torch.full((len(lengths), S), PAD_ID)
    for b, n in enumerate(lengths):
        src[b, :n] = random_words(n, generator=g)
        src[b, n] = EOS_ID
    return src


def target_batch(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    """(B, T): bos + words, no padding."""
    g = torch.Generator().manual_seed(seed)
    tgt = random_words(batch, length, generator=g)
    tgt[:, 0] = BOS_ID
    return tgt


variant_params = pytest.mark.parametrize("norm,scheme", VARIANTS, ids=[f"{n}-{s}" for n, s in VARIANTS])
