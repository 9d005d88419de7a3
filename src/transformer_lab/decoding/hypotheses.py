"""What both search paths (search.py, static_search.py) share: the result type, the length penalty, the
ranking of a beam step's extensions (finished ones and survivors), the n-best bookkeeping of finished
hypotheses and the assembly of the result.

Shapes: B sentences (those a step works on), K beam size, V vocabulary, L maximum output length, N n-best.
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
    # Sampling with samples = N > 1 (sampling.py): the N samples in the order drawn, not sorted.
    # A slot no hypothesis filled (possible only with a vocabulary too small for N) is all pad, score -inf.
    nbest_tokens: Tensor | None = None  # (B, N, L'') int64, same format as tokens
    nbest_scores: Tensor | None = None  # (B, N) float32, descending (beam search)


def length_penalty(length: Tensor | int, alpha: float) -> Tensor | float:
    """GNMT (Wu et al. 2016): ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass
class RankedExtensions:
    """A beam step's 2K best extensions of the K alive beams, best first, and which of them finish."""

    score: Tensor  # (B, 2K) cumulative log-probability
    beam: Tensor  # (B, 2K) the beam each extends
    token: Tensor  # (B, 2K) the token it appends
    is_eos: Tensor  # (B, 2K) bool: the token is eos
    finished: Tensor  # (B, 2K) bool: eos within the top K, finite score (and of a sentence still going)
    finished_score: Tensor  # (B, 2K) length-normalized score where finished, else -inf


def rank_extensions(cand: Tensor, *, vocab: int, beam_size: int, step: int, alpha: float, eos_id: int,
                    going: Tensor | None = None) -> RankedExtensions:
    """cand (B, K*V) scores of every extension -> the 2K best (fewer if K*V < 2K) and the finished among them.
    going (B,) bool: sentences whose hypotheses may still finish (None: all of them)."""
    n_cand = min(2 * beam_size, cand.size(1))
    score, index = cand.topk(n_cand, dim=1)  # (B, 2K), best first
    beam, token = index // vocab, index % vocab
    is_eos = token == eos_id
    in_top_k = torch.arange(n_cand, device=cand.device) < beam_size  # (2K,) rank < K
    finished = is_eos & torch.isfinite(score) & in_top_k
    if going is not None:
        finished &= going[:, None]
    finished_score = (score / length_penalty(step + 1, alpha)).masked_fill(~finished, float("-inf"))
    return RankedExtensions(score, beam, token, is_eos, finished, finished_score)


def best_finished(ranked: RankedExtensions, alive_tokens: Tensor, *, step: int, eos_id: int) -> tuple[Tensor, Tensor]:
    """The best hypothesis each sentence finished at this step: its score (B,) (-inf where none) and tokens
    (B, L) (a copy of its beam's, eos at `step`)."""
    score, position = ranked.finished_score.max(dim=1)  # (B,)
    parent = ranked.beam.gather(1, position[:, None]).squeeze(1)  # (B,)
    tokens = alive_tokens[torch.arange(alive_tokens.size(0), device=alive_tokens.device), parent]  # (B, L), a copy
    tokens[:, step] = eos_id
    return score, tokens


def survivors(ranked: RankedExtensions, alive_tokens: Tensor, *, step: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The K best extensions that do not end in eos (at most K of the 2K do): their scores (B, K), parent beams
    (B, K), tokens (B, K), and the beams' tokens (B, K, L) with them appended at `step`."""
    B, K, L = alive_tokens.shape
    score, chosen = ranked.score.masked_fill(ranked.is_eos, float("-inf")).topk(K, dim=1)  # (B, K)
    parent, token = ranked.beam.gather(1, chosen), ranked.token.gather(1, chosen)  # (B, K)
    alive_tokens = alive_tokens.gather(1, parent[:, :, None].expand(B, K, L))
    alive_tokens[:, :, step] = token
    return score, parent, token, alive_tokens


def beam_result(best_tokens: Tensor, best_score: Tensor, kept_tokens: Tensor | None, kept_score: Tensor | None,
                *, n_best: int, pad_id: int) -> SearchOutput:
    """The SearchOutput of a beam search: best_tokens (B, L), best_score (B,), and with n_best > 1 the first K
    finished hypotheses kept_tokens (B, K+1, L), kept_score (B, K+1) (slot K: the sink); all-pad columns
    dropped."""
    width = int((best_tokens != pad_id).sum(dim=1).max())
    if n_best == 1:
        return SearchOutput(best_tokens[:, :width], best_score)
    B, K, L = kept_tokens.size(0), kept_tokens.size(1) - 1, kept_tokens.size(2)
    nbest_scores, order = kept_score[:, :K].sort(dim=1, descending=True, stable=True)  # stable: ties by finish
    nbest_scores, order = nbest_scores[:, :n_best], order[:, :n_best]  # (B, N)
    nbest_tokens = kept_tokens.gather(1, order[:, :, None].expand(B, n_best, L))  # (B, N, L)
    nbest_width = int((nbest_tokens != pad_id).sum(dim=2).max())
    return SearchOutput(best_tokens[:, :width], best_score, nbest_tokens[:, :, :nbest_width], nbest_scores)


def keep_finished(kept_tokens: Tensor, kept_score: Tensor, alive_tokens: Tensor, ranked: RankedExtensions,
                  n_finished: Tensor, *, step: int, eos_id: int) -> None:
    """Append this step's finished hypotheses (by rank) to each sentence's slots, in place; past K: dropped.

    kept_tokens (B, K+1, L), kept_score (B, K+1): slots 0..K-1 kept, slot K a sink for the dropped ones;
    alive_tokens (B, K, L); ranked: this step's extensions (finished ones are among the first K);
    n_finished (B,): hypotheses finished before this step.
    """
    B, K, L = alive_tokens.shape
    k = min(K, ranked.finished.size(1))
    fin, parent, score = ranked.finished[:, :k], ranked.beam[:, :k], ranked.finished_score[:, :k]  # (B, k)
    slot = n_finished[:, None] + fin.long().cumsum(dim=1) - 1  # (B, k): next free slots, in rank order
    slot = torch.where(fin & (slot < K), slot, K)  # everything else goes to the sink
    seq = alive_tokens.gather(1, parent[:, :, None].expand(B, k, L)).clone()  # (B, k, L)
    seq[:, :, step] = eos_id
    kept_tokens.scatter_(1, slot[:, :, None].expand(B, k, L), seq)
    kept_score.scatter_(1, slot, score)
