"""Decoding: greedy search and batched beam search with the GNMT length penalty (§6.1).

Shapes: B batch, K beam size, S source length, L maximum output length, V vocabulary.

Conventions shared by both searches:
  - output tokens (B, L'): bos stripped, eos kept, then pad_id up to the longest output in the batch;
  - |Y| counts the generated tokens including eos; score = sum log p(y) / ((5 + |Y|) / 6) ** alpha;
  - per-sentence maximum output length = floor(max_len_a * src_len + max_len_b), src_len = non-pad source
    tokens (including the source eos); at that length eos is forced;
  - pad and bos are never generated; eos is not generated before `min_len` tokens (0 = no minimum; the
    benchmark sets min_len = max length to force every output to one length, like `min_new_tokens`);
  - log-probabilities are accumulated in float32 whatever the autocast dtype.
Both run the decoder incrementally (one token per step, DecoderCache preallocated for the longest output),
vectorized over batch x beam; beam search keeps one memory row per sentence (its K beams are adjacent rows).
Both set up the same state (`SearchState` in search_state.py: encoder memory, maximum lengths, cache, token
rules) and take the same keyword-only settings in the same order (`alpha, max_len_a, max_len_b, min_len,
bos_id, eos_id, cuda_graphs`; beam search adds `beam_size, n_best`).
A sentence leaves the batch once it is done: later steps decode only the sentences still going (their
memory and cache rows are selected), so a batch costs what its sentences need rather than B times the
longest. Outputs are identical to decoding every row to the end (tests/benchmark/test_benchmark_paths.py).
Call `model.eval()` first; the searches do not change the model's mode.
`cuda_graphs=True` (both searches) decodes over fixed shapes instead (static_search.py): every step is one
replay of a CUDA graph of the decoder step on a GPU (the same step runs eagerly on CPU, where the tests
compare it with this path); sentences stay in the batch once done, and the outputs are the same (token for
token in float32; for bf16 on a GPU see static_search.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.model.hypotheses import (
    SearchOutput,
    beam_result,
    best_finished,
    keep_finished,
    length_penalty,
    rank_extensions,
    survivors,
)
from transformer_lab.model.search_state import SearchState
from transformer_lab.model.static_search import static_beam_search, static_greedy_search
from transformer_lab.model.transformer import Transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID

__all__ = ["SearchOutput", "beam_search", "greedy_search", "length_penalty"]


@torch.no_grad()
def greedy_search(
    model: Transformer,
    src: Tensor,
    *,
    alpha: float = 0.6,
    max_len_a: float = 1.0,
    max_len_b: int = 50,
    min_len: int = 0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    cuda_graphs: bool = False,
) -> SearchOutput:
    """src (B, S) -> the argmax continuation of every sentence (alpha only scales the reported scores)."""
    if cuda_graphs:
        return static_greedy_search(model, src, alpha=alpha, max_len_a=max_len_a, max_len_b=max_len_b,
                                    min_len=min_len, bos_id=bos_id, eos_id=eos_id)
    pad_id, B, device = model.pad_id, src.size(0), src.device
    state = SearchState(model, src, rows_per_sentence=1, max_len_a=max_len_a, max_len_b=max_len_b, min_len=min_len,
                        bos_id=bos_id, eos_id=eos_id)
    L = state.max_len
    tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    logprob = torch.zeros(B, dtype=torch.float32, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    inp = state.first_input  # (B', 1)
    for step in range(L):
        logp = state.next_logp(inp)  # (B', V)
        state.rules.apply_(logp, step, state.must_end(step))
        tok_logp, tok = logp.max(dim=-1)  # (B',), (B',)
        logprob.index_add_(0, state.active, tok_logp)
        lengths.index_add_(0, state.active, torch.ones_like(tok))
        tokens[:, step].index_copy_(0, state.active, tok)
        ended = tok == eos_id
        n_ended = int(ended.sum())  # one host sync per step
        if n_ended == state.active.numel():
            break
        if n_ended:  # finished sentences leave the batch
            keep = (~ended).nonzero().squeeze(1)
            state.keep(keep)
            state.cache.reorder(keep)
            tok = tok[keep]
        inp = tok[:, None]
    return SearchOutput(tokens[:, : step + 1], logprob / length_penalty(lengths.float(), alpha))


@torch.no_grad()
def beam_search(
    model: Transformer,
    src: Tensor,
    *,
    alpha: float = 0.6,
    max_len_a: float = 1.0,
    max_len_b: int = 50,
    min_len: int = 0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    cuda_graphs: bool = False,
    beam_size: int = 4,
    n_best: int = 1,
) -> SearchOutput:
    """src (B, S) -> the best finished hypothesis per sentence (fairseq-style beam search), and with
    n_best = N > 1 also the N best finished hypotheses, best first (N <= beam_size).

    Each step ranks the K*V extensions of the K alive beams by cumulative log-probability and takes the top
    2K. Extensions ending in eos that rank within the top K are finished hypotheses, scored with the length
    penalty; the best K extensions not ending in eos stay alive. A sentence is done once it has K finished
    hypotheses (or reaches its maximum length), and leaves the batch; the search stops when every sentence
    is done.
    deviation: tensor2tensor (the paper's code) keeps searching until no alive beam can still beat the best
    finished one; the rule here (fairseq's) stops a sentence earlier, at K finished hypotheses.
    The N best are, as in fairseq, the best N of the first K hypotheses finished during the search (taken in
    step order, and by rank within a step).
    cuda_graphs: decode over fixed shapes, one CUDA graph replay per step on a GPU (module docstring).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size={beam_size} must be >= 1")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
    if cuda_graphs:
        return static_beam_search(model, src, alpha=alpha, max_len_a=max_len_a, max_len_b=max_len_b, min_len=min_len,
                                  bos_id=bos_id, eos_id=eos_id, beam_size=beam_size, n_best=n_best)
    pad_id, B, K, device = model.pad_id, src.size(0), beam_size, src.device
    state = SearchState(model, src, rows_per_sentence=K, max_len_a=max_len_a, max_len_b=max_len_b, min_len=min_len,
                        bos_id=bos_id, eos_id=eos_id)
    L = state.max_len

    # beams of the B' sentences still being decoded (rows of state.active) ...
    alive_tokens = torch.full((B, K, L), pad_id, dtype=torch.long, device=device)
    alive_score = torch.full((B, K), float("-inf"), dtype=torch.float32, device=device)
    alive_score[:, 0] = 0.0  # all beams start identical: expand only the first at step 0
    n_finished = torch.zeros(B, dtype=torch.long, device=device)
    # ... and the results of all B
    best_tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    best_score = torch.full((B,), float("-inf"), dtype=torch.float32, device=device)
    beam_base = (torch.arange(B, device=device) * K)[:, None]  # (B, 1): flat row of a sentence's first beam
    inp = state.first_input  # (B' * K, 1)
    V = model.generator.out_features
    kept_tokens = kept_score = None
    if n_best > 1:  # the first K finished hypotheses of each sentence, in finishing order; slot K: discarded
        kept_tokens = torch.full((B, K + 1, L), pad_id, dtype=torch.long, device=device)
        kept_score = torch.full((B, K + 1), float("-inf"), dtype=torch.float32, device=device)

    for step in range(L):
        active = state.active
        Bn = active.numel()
        logp = state.next_logp(inp).view(Bn, K, V)
        must_end = state.must_end(step)
        forced = must_end[:, None].expand(Bn, K) if must_end is not None else None
        cand = state.rules.apply_(logp, step, forced).add_(alive_score[:, :, None]).view(Bn, K * V)
        # the 2K best extensions; finished: eos within the top K (every active sentence is not done yet)
        ranked = rank_extensions(cand, vocab=V, beam_size=K, step=step, alpha=alpha, eos_id=eos_id)  # (B', 2K)
        cand_best, seq = best_finished(ranked, alive_tokens, step=step, eos_id=eos_id)  # (B',), (B', L)
        better = cand_best > best_score[active]
        best_tokens[active] = torch.where(better[:, None], seq, best_tokens[active])
        best_score[active] = torch.where(better, cand_best, best_score[active])
        if n_best > 1:
            tokens_b, score_b = kept_tokens[active], kept_score[active]
            keep_finished(tokens_b, score_b, alive_tokens, ranked, n_finished, step=step, eos_id=eos_id)
            kept_tokens[active], kept_score[active] = tokens_b, score_b
        n_finished += ranked.finished.sum(dim=1)
        done = (n_finished >= K) | (step + 1 >= state.max_lens)  # (B',)
        n_done = int(done.sum())  # one host sync per step
        if n_done == Bn:
            break

        alive_score, parent, tok, alive_tokens = survivors(ranked, alive_tokens, step=step)  # (B', K) x3, (B', K, L)
        rows = beam_base[:Bn] + parent  # (B', K) cache rows of the parents
        if n_done:  # done sentences leave the batch: their memory, cache and beam rows go
            keep = (~done).nonzero().squeeze(1)
            state.keep(keep)
            state.cache.select_sources(keep)
            alive_tokens, alive_score, n_finished, rows, tok = (
                t[keep] for t in (alive_tokens, alive_score, n_finished, rows, tok))
        # cross-attention keys/values are identical for all beams of a sentence: no need to reorder them
        state.cache.reorder(rows.view(-1), include_cross=False)
        inp = tok.reshape(-1, 1)
    return beam_result(best_tokens, best_score, kept_tokens, kept_score, n_best=n_best, pad_id=pad_id)
