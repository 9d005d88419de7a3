"""The beam search loop (fairseq's rules, see search.beam_search) and the beam buffers it keeps, shared by the
dynamic and the fixed-shape search: what differs between them goes through a BatchPolicy (batch_policy.py).

Shapes: B sentences, B' those a step decodes (all B on the fixed-shape path), K beam size, L maximum output
length, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.decoding.batch_policy import BatchPolicy
from transformer_lab.decoding.hypotheses import (
    RankedExtensions,
    SearchOutput,
    beam_result,
    best_finished,
    keep_finished,
    rank_extensions,
    survivors,
)


class BeamBuffers:
    """The alive beams of the B' sentences a step decodes (their tokens, scores and finished counts: `keep`
    drops sentences) and the results of all B (the best finished hypothesis, and with n_best > 1 the first K
    finished ones)."""

    def __init__(self, *, sentences: int, beam_size: int, max_len: int, n_best: int, pad_id: int,
                 device: torch.device) -> None:
        B, K, L = sentences, beam_size, max_len
        self.beam_size = K
        self.alive_tokens = torch.full((B, K, L), pad_id, dtype=torch.long, device=device)  # (B', K, L)
        self.alive_score = torch.full((B, K), float("-inf"), dtype=torch.float32, device=device)  # (B', K)
        self.alive_score[:, 0] = 0.0  # all beams start identical: expand only the first at step 0
        self.n_finished = torch.zeros(B, dtype=torch.long, device=device)  # (B',)
        self.best_tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)  # (B, L)
        self.best_score = torch.full((B,), float("-inf"), dtype=torch.float32, device=device)  # (B,)
        self.beam_base = (torch.arange(B, device=device) * K)[:, None]  # (B, 1): flat row of a sentence's first beam
        self.kept_tokens = self.kept_score = None
        if n_best > 1:  # the first K finished hypotheses of each sentence, in finishing order; slot K: discarded
            self.kept_tokens = torch.full((B, K + 1, L), pad_id, dtype=torch.long, device=device)  # (B, K+1, L)
            self.kept_score = torch.full((B, K + 1), float("-inf"), dtype=torch.float32, device=device)  # (B, K+1)

    def record(self, ranked: RankedExtensions, policy: BatchPolicy, *, step: int, eos_id: int) -> None:
        """The hypotheses this step finished into the results (the step's sentences' rows, via `policy`)."""
        cand_best, seq = best_finished(ranked, self.alive_tokens, step=step, eos_id=eos_id)  # (B',), (B', L)
        best_score = policy.rows_of(self.best_score)  # (B',)
        better = cand_best > best_score  # never for a done sentence: its finished scores are all -inf
        self.best_tokens = policy.with_rows(
            self.best_tokens, torch.where(better[:, None], seq, policy.rows_of(self.best_tokens)))
        self.best_score = policy.with_rows(self.best_score, torch.where(better, cand_best, best_score))
        if self.kept_tokens is not None:
            tokens, score = policy.rows_of(self.kept_tokens), policy.rows_of(self.kept_score)  # (B', K+1, L), (B', K+1)
            keep_finished(tokens, score, self.alive_tokens, ranked, self.n_finished, step=step, eos_id=eos_id)
            self.kept_tokens = policy.with_rows(self.kept_tokens, tokens)
            self.kept_score = policy.with_rows(self.kept_score, score)
        self.n_finished += ranked.finished.sum(dim=1)

    def advance(self, ranked: RankedExtensions, *, step: int) -> tuple[Tensor, Tensor]:
        """The K best extensions not ending in eos become the alive beams -> their parent beams (B', K) and
        tokens (B', K)."""
        self.alive_score, parent, tok, self.alive_tokens = survivors(ranked, self.alive_tokens, step=step)
        return parent, tok

    def keep(self, keep: Tensor) -> None:
        """Only the sentences `keep` (B'',) of the step's B' go on."""
        self.alive_tokens, self.alive_score, self.n_finished = (
            t[keep] for t in (self.alive_tokens, self.alive_score, self.n_finished))

    def result(self, *, n_best: int, pad_id: int) -> SearchOutput:
        return beam_result(self.best_tokens, self.best_score, self.kept_tokens, self.kept_score, n_best=n_best,
                           pad_id=pad_id)


def beam_loop(policy: BatchPolicy, *, beam_size: int, n_best: int, alpha: float, eos_id: int) -> SearchOutput:
    """Beam search over the sentences `policy` set up (rows_per_sentence = beam_size): each step ranks the K*V
    extensions of the K alive beams, records the finished ones, and goes on with the K best others until every
    sentence is done (K finished hypotheses, or its maximum length)."""
    K, V = beam_size, policy.vocab
    beams = BeamBuffers(sentences=policy.size, beam_size=K, max_len=policy.max_len, n_best=n_best,
                        pad_id=policy.pad_id, device=policy.first_input.device)
    inp = policy.first_input  # (B' * K, 1)
    for step in range(policy.max_len):
        logp = policy.next_logp(inp).view(-1, K, V)  # (B', K, V)
        Bn = logp.size(0)
        must_end = policy.must_end(step)
        forced = must_end[:, None].expand(Bn, K) if must_end is not None else None
        cand = policy.rules.apply_(logp, step, forced).add_(beams.alive_score[:, :, None]).view(Bn, K * V)
        # the 2K best extensions; finished: eos within the top K, of a sentence not yet done
        ranked = rank_extensions(cand, vocab=V, beam_size=K, step=step, alpha=alpha, eos_id=eos_id,
                                 going=policy.going())  # (B', 2K)
        beams.record(ranked, policy, step=step, eos_id=eos_id)
        if policy.stop(step, (beams.n_finished >= K) | (step + 1 >= policy.max_lens)):  # done (B',)
            break
        parent, tok = beams.advance(ranked, step=step)  # (B', K) x2
        inp = policy.advance(tok, beams.beam_base[:Bn] + parent, beams)  # rows (B', K): the parents' cache rows
    return beams.result(n_best=n_best, pad_id=policy.pad_id)
