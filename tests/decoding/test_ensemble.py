"""Ensembles: one model given twice is that model; two different models equal a greedy search by hand over
their full forward passes; beam scores are the ensemble's log-probabilities of the hypotheses."""

from __future__ import annotations

import math

import pytest
import torch
from model_helpers import VOCAB, source_batch, tiny_model

from transformer_lab.decoding import Ensemble, SearchConfig, length_penalty, search
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

LIMITS = {"max_len_a": 0.0, "max_len_b": 7}


def two_models():
    """Different sizes and positional schemes, one vocabulary: a legitimate ensemble. Untied output layers
    and a louder source: outputs that vary from token to token and from sentence to sentence."""
    models = (tiny_model("post", "sinusoidal", seed=1, weight_sharing="none"),
              tiny_model("pre", "rope", seed=2, n_layers=1, d_model=32, d_ff=48, weight_sharing="none"))
    with torch.no_grad():
        for model in models:
            for layer in model.decoder.layers:
                layer.cross_attn.out.weight.mul_(4.0)
    return models


@torch.no_grad()
def ensemble_logp_by_hand(models, src_row: torch.Tensor, prefix: list[int]) -> torch.Tensor:
    """(V,) float64: log of the mean of the models' next-token probabilities after `prefix`, each model run
    over the whole prefix (no cache)."""
    tgt = torch.tensor([[BOS_ID, *prefix]])
    probs = [torch.softmax(m(src_row[None], tgt)[0, -1].double(), dim=-1) for m in models]
    return torch.stack(probs).mean(dim=0).log()


def greedy_by_hand(models, src_row: torch.Tensor, max_len: int, alpha: float) -> tuple[list[int], float]:
    """The greedy search's rules (no pad/bos; eos forced at max_len), step by step."""
    prefix, total = [], 0.0
    for step in range(max_len):
        logp = ensemble_logp_by_hand(models, src_row, prefix)
        logp[[PAD_ID, BOS_ID]] = -math.inf
        if step + 1 == max_len:
            keep = logp[EOS_ID].clone()
            logp[:] = -math.inf
            logp[EOS_ID] = keep
        token = int(logp.argmax())
        prefix.append(token)
        total += float(logp[token])
        if token == EOS_ID:
            break
    return prefix, total / length_penalty(len(prefix), alpha)


@pytest.mark.parametrize("config", [SearchConfig(strategy="greedy", **LIMITS), SearchConfig(beam_size=3, **LIMITS)],
                         ids=["greedy", "beam"])
def test_a_model_given_twice_decodes_like_the_model(config):
    model, src = tiny_model(seed=3), source_batch([5, 3, 7, 1], seed=4)
    alone, twice = search(model, src, config), search(Ensemble([model, model]), src, config)
    assert torch.equal(alone.tokens, twice.tokens)
    torch.testing.assert_close(twice.scores, alone.scores, atol=1e-5, rtol=0)


def test_a_model_given_twice_gives_the_same_n_best():
    model, src = tiny_model(seed=3), source_batch([5, 3, 7], seed=5)
    config = SearchConfig(beam_size=4, **LIMITS)
    alone, twice = search(model, src, config, n_best=3), search(Ensemble([model, model]), src, config, n_best=3)
    assert torch.equal(alone.nbest_tokens, twice.nbest_tokens)
    torch.testing.assert_close(twice.nbest_scores, alone.nbest_scores, atol=1e-5, rtol=0)


def test_ensemble_greedy_equals_greedy_by_hand_over_full_forward_passes():
    models, src = two_models(), source_batch([6, 2, 4], seed=0)
    out = search(Ensemble(models), src, SearchConfig(strategy="greedy", alpha=0.6, **LIMITS))
    for b in range(src.size(0)):
        row = src[b][src[b] != PAD_ID]
        tokens, score = greedy_by_hand(models, row, LIMITS["max_len_b"], 0.6)
        assert out.tokens[b, : len(tokens)].tolist() == tokens
        assert (out.tokens[b, len(tokens):] == PAD_ID).all()
        assert float(out.scores[b]) == pytest.approx(score, abs=1e-4)


def test_the_ensemble_decodes_differently_from_each_member():
    """Guards the test above against a trivial pass (an ensemble that is really one of its members)."""
    models, src = two_models(), source_batch([6, 2, 4], seed=0)
    config = SearchConfig(strategy="greedy", **LIMITS)
    ensemble = search(Ensemble(models), src, config)
    for model in models:
        alone = search(model, src, config)
        assert all(not torch.equal(a, e) for a, e in zip(alone.tokens, ensemble.tokens))


def test_ensemble_beam_scores_are_the_ensemble_log_probabilities_of_its_hypotheses():
    """Every n-best hypothesis rescored by full forward passes of both models (so beam reordering of each
    member's cache is right)."""
    models, src, alpha = two_models(), source_batch([6, 3], seed=7), 0.6
    out = search(Ensemble(models), src, SearchConfig(beam_size=4, alpha=alpha, **LIMITS), n_best=4)
    for b in range(src.size(0)):
        row = src[b][src[b] != PAD_ID]
        for tokens, score in zip(out.nbest_tokens[b].tolist(), out.nbest_scores[b].tolist()):
            hyp = tokens[: tokens.index(EOS_ID) + 1]
            total = sum(float(ensemble_logp_by_hand(models, row, hyp[:t])[hyp[t]]) for t in range(len(hyp)))
            assert score == pytest.approx(total / length_penalty(len(hyp), alpha), abs=1e-4)


def test_ensemble_step_is_a_distribution():
    models, src = two_models(), source_batch([4, 2], seed=8)
    ensemble = Ensemble(models)
    memory, mask = ensemble.encode(src)
    logp = ensemble.decode(torch.full((2, 1), BOS_ID), memory, mask, ensemble.new_cache(4))  # (2, 1, V)
    assert logp.dtype == torch.float32 and logp.shape == (2, 1, VOCAB)
    torch.testing.assert_close(logp.exp().sum(dim=-1), torch.ones(2, 1))


@pytest.mark.parametrize("models", [
    lambda: [tiny_model(seed=0), tiny_model(seed=1, vocab_size=VOCAB + 8)],
    lambda: [tiny_model(seed=0, vocab_size=VOCAB - 4), tiny_model(seed=1), tiny_model(seed=2)],
    list,
], ids=["larger-second", "smaller-first", "none"])
def test_an_ensemble_refuses_models_of_different_vocabularies(models):
    with pytest.raises(ValueError, match="at least one model|share one vocabulary"):
        Ensemble(models())
