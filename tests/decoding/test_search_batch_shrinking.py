"""The searches drop finished sentences from the batch and mask tokens in place: they must return exactly
what a plain search returns. The plain reference here decodes one sentence at a time, without a cache
(the whole prefix through `model(src, tgt)` every step), hypothesis by hypothesis in Python, in fp32."""

from __future__ import annotations

import pytest
import torch

from test_search import peaky_model, strip
from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.model import Transformer
from transformer_lab.decoding.search import length_penalty
from transformer_lab.decoding.limits import max_output_lengths
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

NEG_INF = float("-inf")
VOCAB = 8


def source_batch(lengths: list[int], seed: int) -> torch.Tensor:
    """(B, max(lengths)+1): words of the small vocabulary + eos, right-padded."""
    g = torch.Generator().manual_seed(seed)
    src = torch.full((len(lengths), max(lengths) + 1), PAD_ID)
    for b, n in enumerate(lengths):
        src[b, :n] = torch.randint(EOS_ID + 1, VOCAB, (n,), generator=g)
        src[b, n] = EOS_ID
    return src


def next_logp(model: Transformer, src_row: torch.Tensor, prefix: list[int], step: int, max_len: int, min_len: int):
    """(V,) log-probabilities of the next token after bos + prefix, with the search's token rules."""
    with torch.no_grad():
        logp = model(src_row[None], torch.tensor([[BOS_ID, *prefix]]))[0, -1].float().log_softmax(-1)
    logp[[PAD_ID, BOS_ID]] = NEG_INF
    if step + 1 < min_len:
        logp[EOS_ID] = NEG_INF
    if step + 1 >= max_len:  # must end: only eos
        eos = logp[EOS_ID].item()
        logp[:] = NEG_INF
        logp[EOS_ID] = eos
    return logp


def plain_beam(model, src_row, K: int, alpha: float, max_len: int, min_len: int):
    """fairseq's rules, one sentence: (best tokens, best score, the first K finished in finishing order)."""
    beams = [([], 0.0)]
    finished = []  # (tokens, normalized score) in step order, by rank within a step
    for step in range(max_len):
        cands = []
        for b, (tokens, score) in enumerate(beams):
            logp = next_logp(model, src_row, tokens, step, max_len, min_len)
            cands += [(score + float(logp[v]), b, v) for v in range(logp.numel())]
        top = sorted(cands, key=lambda c: -c[0])[: 2 * K]
        for rank, (score, b, v) in enumerate(top):
            if v == EOS_ID and rank < K and score > NEG_INF:
                finished.append((beams[b][0] + [EOS_ID], score / length_penalty(step + 1, alpha)))
        if len(finished) >= K or step + 1 >= max_len:
            break
        beams = [(beams[b][0] + [v], score) for score, b, v in top if v != EOS_ID][:K]
    best = max(finished, key=lambda f: f[1])  # the first of equal scores
    return best[0], best[1], finished[:K]


def plain_greedy(model, src_row, max_len: int, min_len: int, alpha: float):
    tokens, total = [], 0.0
    for step in range(max_len):
        logp = next_logp(model, src_row, tokens, step, max_len, min_len)
        v = int(logp.argmax())
        tokens.append(v)
        total += float(logp[v])
        if v == EOS_ID:
            break
    return tokens, total / length_penalty(len(tokens), alpha)


# sentences of different lengths and a small vocabulary: eos often ranks high, so sentences finish (and
# leave the batch) at different steps, some by K finished hypotheses, others at their maximum length
CASES = [(seed, lengths) for seed in (0, 1, 2) for lengths in ([7, 1, 4, 2, 6], [3, 3, 5])]


@pytest.mark.parametrize("seed,lengths", CASES)
@pytest.mark.parametrize("beam", [1, 3])
def test_beam_search_equals_plain_beam_search(seed, lengths, beam):
    check_beam_against_plain(seed, lengths, beam)


def check_beam_against_plain(seed: int, lengths: list[int], beam: int) -> set[int]:
    """Asserts equality (n-best included); returns the set of output lengths."""
    model, src = peaky_model(seed, vocab_size=VOCAB), source_batch(lengths, seed=seed)
    max_lens = max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=2).tolist()
    n_best = beam
    out = beam_search(model, src, beam_size=beam, alpha=0.6, max_len_a=1.0, max_len_b=2, n_best=n_best)
    steps = set()
    for b in range(len(lengths)):
        tokens, score, first_k = plain_beam(model, src[b, : lengths[b] + 1], beam, 0.6, max_lens[b], 0)
        assert strip(out.tokens[b]) == tokens
        assert out.scores[b].item() == pytest.approx(score, abs=1e-5)
        steps.add(len(tokens))
        if n_best > 1:
            ranked = sorted(first_k, key=lambda f: -f[1])  # stable: ties keep finishing order
            for n in range(n_best):
                assert strip(out.nbest_tokens[b, n]) == ranked[n][0]
                assert out.nbest_scores[b, n].item() == pytest.approx(ranked[n][1], abs=1e-5)
    return steps


def test_the_cases_have_sentences_leaving_at_different_steps():
    varied = [len(check_beam_against_plain(seed, lengths, 3)) > 1 for seed, lengths in CASES]
    assert sum(varied) >= len(CASES) // 2


@pytest.mark.parametrize("seed,lengths", CASES)
def test_beam_search_with_min_len_equals_plain(seed, lengths):
    model, src = peaky_model(seed, vocab_size=VOCAB), source_batch(lengths, seed=seed)
    max_lens = max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=3).tolist()
    out = beam_search(model, src, beam_size=2, max_len_a=1.0, max_len_b=3, min_len=3)
    for b in range(len(lengths)):
        tokens, score, _ = plain_beam(model, src[b, : lengths[b] + 1], 2, 0.6, max_lens[b], 3)
        assert strip(out.tokens[b]) == tokens
        # the search sums float32 log-probabilities, the reference float64 ones: forced-long hypotheses score
        # about -40, where float32 rounding alone reaches 1e-5 (seen: 1.02e-5 on a Zen 4), hence rel as well
        assert out.scores[b].item() == pytest.approx(score, rel=1e-6, abs=1e-5)


@pytest.mark.parametrize("seed,lengths", CASES)
@pytest.mark.parametrize("min_len", [0, 2])
def test_greedy_search_equals_plain_greedy(seed, lengths, min_len):
    model, src = peaky_model(seed, vocab_size=VOCAB), source_batch(lengths, seed=seed)
    max_lens = max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=2).tolist()
    out = greedy_search(model, src, max_len_a=1.0, max_len_b=2, min_len=min_len)
    found = set()
    for b in range(len(lengths)):
        tokens, score = plain_greedy(model, src[b, : lengths[b] + 1], max_lens[b], min_len, 0.6)
        assert strip(out.tokens[b]) == tokens
        assert out.scores[b].item() == pytest.approx(score, abs=1e-5)
        found.add(len(tokens))
    assert out.tokens.size(1) == max(found)  # no all-pad column at the end
