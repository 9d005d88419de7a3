"""What both search paths (search.py, static_search.py) share: the result type, the length penalty and the
n-best bookkeeping of finished hypotheses.

Shapes: B sentences, K beam size, L maximum output length, N n-best.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class SearchOutput:
    tokens: Tensor  # (B, L') int64: hypothesis ids, no bos, eos kept, padded with pad_id
    scores: Tensor  # (B,) float32: length-normalized log-probability of each hypothesis
    # beam search with n_best = N > 1 only (else None), best first; tokens/scores above are rank 0.
    # A slot no hypothesis filled (possible only with a vocabulary too small for N) is all pad, score -inf.
    nbest_tokens: Tensor | None = None  # (B, N, L'') int64, same format as tokens
    nbest_scores: Tensor | None = None  # (B, N) float32, descending


def length_penalty(length: Tensor | int, alpha: float) -> Tensor | float:
    """GNMT (Wu et al. 2016): ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def keep_finished(
    kept_tokens: Tensor,
    kept_score: Tensor,
    alive_tokens: Tensor,
    top_beam: Tensor,
    fin: Tensor,
    fin_score: Tensor,
    n_finished: Tensor,
    step: int,
    eos_id: int,
) -> None:
    """Append this step's finished hypotheses (by rank) to each sentence's slots, in place; past K: dropped.

    kept_tokens (B, K+1, L), kept_score (B, K+1): slots 0..K-1 kept, slot K a sink for the dropped ones;
    alive_tokens (B, K, L); top_beam, fin, fin_score (B, n_cand): finished extensions are among the first K;
    n_finished (B,): hypotheses finished before this step.
    """
    B, K, L = alive_tokens.shape
    k = min(K, fin.size(1))
    fin, parent, score = fin[:, :k], top_beam[:, :k], fin_score[:, :k]  # (B, k)
    slot = n_finished[:, None] + fin.long().cumsum(dim=1) - 1  # (B, k): next free slots, in rank order
    slot = torch.where(fin & (slot < K), slot, K)  # everything else goes to the sink
    seq = alive_tokens.gather(1, parent[:, :, None].expand(B, k, L)).clone()  # (B, k, L)
    seq[:, :, step] = eos_id
    kept_tokens.scatter_(1, slot[:, :, None].expand(B, k, L), seq)
    kept_score.scatter_(1, slot, score)
