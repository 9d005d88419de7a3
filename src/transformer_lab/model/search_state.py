"""What greedy and beam search set up from the source and carry from step to step (search.py).

Shapes: B' sentences still being decoded, R decoder rows (B' x beams), S source length, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.model.transformer import Transformer


def max_output_lengths(src: Tensor, *, pad_id: int, max_len_a: float, max_len_b: int) -> Tensor:
    """(B,) maximum number of generated tokens (eos included) per sentence: a * src_len + b, at least 1."""
    src_len = (src != pad_id).sum(dim=1)
    return (max_len_a * src_len + max_len_b).long().clamp(min=1)


class TokenRules:
    """Which tokens may come next: pad and bos never; only eos where a hypothesis must end; no eos before
    `min_len` generated tokens. Applied in place to a few vocabulary columns (and to whole rows only at a
    step where some row must end), not by masking the whole (rows, V) matrix every step."""

    def __init__(self, *, pad_id: int, bos_id: int, eos_id: int, min_len: int, device: torch.device) -> None:
        self.never = torch.tensor([pad_id, bos_id], device=device)
        self.too_short = torch.tensor([pad_id, bos_id, eos_id], device=device)
        self.eos_id, self.min_len = eos_id, min_len

    def apply_(self, logp: Tensor, step: int, force_eos: Tensor | None) -> Tensor:
        """logp (..., V) of generated token number step+1 -> the same tensor, banned tokens at -inf.
        force_eos (...) bool: rows that must end now (None: no row must, the common step)."""
        if force_eos is not None:
            eos = logp[..., self.eos_id].clone()
        logp.index_fill_(-1, self.too_short if step + 1 < self.min_len else self.never, float("-inf"))
        if force_eos is not None:
            logp.masked_fill_(force_eos[..., None], float("-inf"))
            logp[..., self.eos_id] = torch.where(force_eos, eos, logp[..., self.eos_id])
        return logp


class SearchState:
    """What both searches set up from the source and carry through the steps: the B' sentences still being
    decoded (their rows in the output, encoder memory and source mask, maximum output lengths), the decoder
    cache, the token rules and the first decoder input (bos, `rows_per_sentence` rows per sentence)."""

    def __init__(self, model: Transformer, src: Tensor, *, rows_per_sentence: int, max_len_a: float,
                 max_len_b: int, min_len: int, bos_id: int, eos_id: int) -> None:
        B, device = src.size(0), src.device
        self.model = model
        self.memory, self.src_mask = model.encode(src)  # (B', S, D), (B', 1, 1, S)
        self.max_lens = max_output_lengths(src, pad_id=model.pad_id, max_len_a=max_len_a, max_len_b=max_len_b)  # (B',)
        self.max_len = int(self.max_lens.max())  # L; one host sync per call
        # memory stays one row per sentence: the decoder's rows_per_sentence rows of a sentence (its beams)
        # are adjacent, and cross-attention reads each sentence's memory once for all of them (CrossAttention)
        self.cache = model.new_cache(capacity=self.max_len)
        self.rules = TokenRules(pad_id=model.pad_id, bos_id=bos_id, eos_id=eos_id, min_len=min_len, device=device)
        self.active = torch.arange(B, device=device)  # (B',) their rows in the output
        self.first_forced = int(self.max_lens.min())  # the earliest length at which an active row must end
        self.first_input = torch.full((B * rows_per_sentence, 1), bos_id, dtype=torch.long, device=device)

    def next_logp(self, inp: Tensor) -> Tensor:
        """inp (R, 1) -> float32 log-probabilities (R, V) of the next token (one fused cast + log-softmax)."""
        logits = self.model.decode(inp, self.memory, self.src_mask, self.cache)[:, -1]  # (R, V)
        return torch.log_softmax(logits, dim=-1, dtype=torch.float32)

    def must_end(self, step: int) -> Tensor | None:
        """(B',) bool: the sentences whose generated token number step+1 is their last; None at the (common)
        steps where no active sentence has reached its maximum length."""
        return step + 1 >= self.max_lens if step + 1 >= self.first_forced else None

    def keep(self, keep: Tensor) -> None:
        """Only the sentences `keep` (B'',) go on: their memory, mask and limits (the cache is the caller's)."""
        self.active, self.memory, self.src_mask, self.max_lens = (
            t[keep] for t in (self.active, self.memory, self.src_mask, self.max_lens))
        self.first_forced = int(self.max_lens.min())
