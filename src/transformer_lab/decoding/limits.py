"""The limits every search applies (set up by BatchPolicy, batch_policy.py): the maximum output length of
each sentence, and the token rules (what may be generated at a step).

Shapes: B sentences, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor


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
