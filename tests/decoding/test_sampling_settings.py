"""The sampling settings' guards: each bad value refused with a message naming the setting and its range."""

from __future__ import annotations

import pytest
import torch
from model_helpers import source_batch, tiny_model

from transformer_lab.decoding import SearchConfig, search


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_temperature_must_be_positive(temperature):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SearchConfig(strategy="sample", temperature=temperature)


@pytest.mark.parametrize("top_p", [0.0, -0.2, 1.5, float("nan")])
def test_top_p_must_be_in_the_unit_interval(top_p):
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        SearchConfig(strategy="sample", top_p=top_p)


@pytest.mark.parametrize("top_k", [-1, -50])
def test_top_k_must_not_be_negative(top_k):
    with pytest.raises(ValueError, match="top_k must be >= 0"):
        SearchConfig(strategy="sample", top_k=top_k)


@pytest.mark.parametrize("samples", [0, -3])
def test_samples_must_be_positive(samples):
    with pytest.raises(ValueError, match="samples must be >= 1"):
        SearchConfig(strategy="sample", samples=samples)


@pytest.mark.parametrize("settings", [{"strategy": "beam", "samples": 3}, {"strategy": "greedy", "samples": 2},
                                      {"strategy": "beam", "top_p": 0.9}, {"strategy": "greedy", "temperature": 0.5}])
def test_sampling_settings_need_strategy_sample(settings):
    with pytest.raises(ValueError, match="only apply to strategy 'sample'"):
        SearchConfig(**settings)


@pytest.mark.parametrize("n_best", [2, 5])
def test_n_best_is_for_beam_search_not_sampling(n_best):
    with pytest.raises(ValueError, match=f"n_best={n_best} is for beam search; sampling draws `samples`"):
        search(tiny_model(), source_batch([3]), SearchConfig(strategy="sample", samples=2), n_best=n_best)


def test_the_defaults_are_the_model_distribution_and_are_accepted_by_every_strategy():
    for strategy in ("beam", "greedy", "sample"):
        SearchConfig(strategy=strategy, seed=3)
    out = search(tiny_model(), source_batch([3, 2]), SearchConfig(strategy="sample", max_len_a=0.0, max_len_b=3))
    assert out.tokens.shape[0] == 2 and out.nbest_tokens is None and torch.isfinite(out.scores).all()
