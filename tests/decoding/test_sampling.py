"""Sampling: the distribution it draws from (temperature, top-k, nucleus) against closed forms and a hand-computed
nucleus; draws that follow it; seeded reproducibility independent of the global RNG and of the batch; top-k 1 is
greedy; a sample's score is the model's log-probability of it."""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import source_batch, tiny_model

from transformer_lab.decoding import Ensemble, SearchConfig, length_penalty, search
from transformer_lab.decoding.sampling import Sampler, sampling_distribution
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

LIMITS = {"max_len_a": 0.0, "max_len_b": 8}
P = torch.tensor([0.05, 0.5, 0.15, 0.3])  # token 1 most probable, then 3, 2, 0


def in_vocab_order(probs: torch.Tensor, ids: torch.Tensor, vocab: int) -> torch.Tensor:
    return torch.zeros(probs.size(0), vocab, dtype=probs.dtype).scatter_(1, ids, probs)


def model():
    m = tiny_model(seed=3, weight_sharing="none")  # untied: outputs vary from token to token
    with torch.no_grad():
        for layer in m.decoder.layers:
            layer.cross_attn.out.weight.mul_(4.0)
    return m


def sample(m, src, **settings):
    return search(m, src, SearchConfig(strategy="sample", **LIMITS, **settings))


def test_temperature_gives_the_closed_form():
    logp = P.log()[None]
    for t in (0.5, 1.0, 2.0):
        probs, ids = sampling_distribution(logp, temperature=t, top_k=0, top_p=1.0)
        expected = P ** (1 / t) / (P ** (1 / t)).sum()
        torch.testing.assert_close(in_vocab_order(probs, ids, 4)[0], expected)


@pytest.mark.parametrize("top_p,nucleus", [
    (0.4, {1: 1.0}),  # the most probable token always stays
    (0.75, {1: 0.5 / 0.8, 3: 0.3 / 0.8}),  # 0.5 < 0.75 <= 0.5 + 0.3
    (0.85, {1: 0.5 / 0.95, 3: 0.3 / 0.95, 2: 0.15 / 0.95}),
    (1.0, {0: 0.05, 1: 0.5, 2: 0.15, 3: 0.3}),
])
def test_top_p_keeps_the_hand_computed_nucleus(top_p, nucleus):
    probs, ids = sampling_distribution(P.log()[None], temperature=1.0, top_k=0, top_p=top_p)
    expected = torch.tensor([nucleus.get(i, 0.0) for i in range(4)])
    torch.testing.assert_close(in_vocab_order(probs, ids, 4)[0], expected)


def test_top_k_then_temperature_renormalize_over_the_k_best():
    probs, ids = sampling_distribution(P.log()[None], temperature=2.0, top_k=2, top_p=1.0)
    kept = P[[1, 3]] ** 0.5
    assert ids[0].tolist() == [1, 3]
    torch.testing.assert_close(probs[0], kept / kept.sum())


def test_draws_follow_the_distribution_and_never_a_banned_token():
    logp = torch.tensor([-math.inf, *P.log().tolist(), -math.inf])[None].expand(20000, 6)  # 0 and 5 banned
    sampler = Sampler(list(range(20000)), max_len=1, temperature=1.0, top_k=0, top_p=0.85, device=torch.device("cpu"))
    counts = torch.bincount(sampler(logp.clone(), torch.arange(20000)), minlength=6).double() / 20000
    expected = torch.tensor([0.0, 0.0, 0.5, 0.15, 0.3, 0.0]) / 0.95
    assert counts[[0, 1, 5]].sum() == 0  # banned, and cut by the nucleus
    assert (counts - expected).abs().max() < 4 * math.sqrt(0.25 / 20000)  # 4 standard deviations at most


def test_top_k_one_is_greedy():
    m, src = model(), source_batch([6, 2, 4, 7], seed=1)
    greedy = search(m, src, SearchConfig(strategy="greedy", **LIMITS))
    sampled = sample(m, src, top_k=1, seed=5, temperature=0.7)
    assert torch.equal(sampled.tokens, greedy.tokens)
    torch.testing.assert_close(sampled.scores, greedy.scores)


def test_the_same_seed_gives_the_same_samples_whatever_the_global_rng():
    m, src = model(), source_batch([6, 2, 4, 7], seed=1)
    torch.manual_seed(0)
    first = sample(m, src, seed=7, samples=3)
    after = torch.rand(3)
    torch.manual_seed(123)
    again = sample(m, src, seed=7, samples=3)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(3), after)  # sampling drew nothing from the global generator
    assert torch.equal(first.nbest_tokens, again.nbest_tokens)
    other = sample(m, src, seed=8, samples=3)
    assert not torch.equal(first.nbest_tokens, other.nbest_tokens)


def test_a_sentence_gets_the_same_samples_alone_or_in_any_batch():
    m, batch = model(), source_batch([6, 2, 4, 7], seed=1)
    together = sample(m, batch, seed=2, samples=2)
    for b in range(batch.size(0)):
        row = batch[b][batch[b] != PAD_ID]
        alone = sample(m, row[None], seed=2, samples=2)
        for j in range(2):
            width = int((together.nbest_tokens[b, j] != PAD_ID).sum())
            assert alone.nbest_tokens[0, j, :width].tolist() == together.nbest_tokens[b, j, :width].tolist()
    reordered = sample(m, batch.flip(0), seed=2, samples=2)
    assert torch.equal(reordered.nbest_tokens.flip(0), together.nbest_tokens)


def test_sample_j_is_the_same_whatever_the_number_of_samples_and_samples_differ():
    m, src = model(), source_batch([6, 5], seed=1)
    one, three = sample(m, src, seed=4), sample(m, src, seed=4, samples=3)
    assert three.nbest_tokens.shape[:2] == (2, 3)
    assert torch.equal(one.tokens, three.tokens[:, : one.tokens.size(1)])
    assert not torch.equal(three.nbest_tokens[:, 0], three.nbest_tokens[:, 1])


@torch.no_grad()
def test_a_sample_scores_its_model_log_probability():
    m, src, alpha = model(), source_batch([6, 3], seed=1), 0.6
    out = search(m, src, SearchConfig(strategy="sample", alpha=alpha, temperature=1.5, top_p=0.9, seed=1, samples=2,
                                      **LIMITS))
    for b in range(2):
        row = src[b][src[b] != PAD_ID]
        for tokens, score in zip(out.nbest_tokens[b].tolist(), out.nbest_scores[b].tolist()):
            hyp = tokens[: tokens.index(EOS_ID) + 1]
            logp = torch.log_softmax(m(row[None], torch.tensor([[BOS_ID, *hyp[:-1]]]))[0], dim=-1)  # (T, V)
            total = float(logp.gather(1, torch.tensor(hyp)[:, None]).sum())
            assert score == pytest.approx(total / length_penalty(len(hyp), alpha), abs=1e-4)


def test_an_ensemble_samples_too():
    m = model()
    src = source_batch([6, 2], seed=1)
    assert torch.equal(sample(Ensemble([m, m]), src, seed=3).tokens, sample(m, src, seed=3).tokens)
