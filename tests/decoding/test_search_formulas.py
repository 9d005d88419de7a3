"""The search's formulas pinned by numbers worked out by hand, not with the module's own functions: the GNMT
length penalty ((5 + |Y|) / 6) ** alpha for given lengths and alpha, and the finished hypotheses (their
order, tokens and scores) of beams worked step by step on a model whose log-probabilities are fixed.

The fixed model: a real tiny Transformer whose generator is replaced by a linear map with zero weights and a
bias of chosen log-probabilities, so every step's distribution is exactly that bias, whatever the context.
Vocabulary: 0 pad, 1 bos, 2 eos, 3 unk, 4 "a", 5 "b" (pad and bos get -1e9: probability 0).
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from model_helpers import tiny_model
from torch import nn

from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.decoding.hypotheses import length_penalty
from transformer_lab.decoding.static_search import (
    static_beam_search,
    static_greedy_search,
)
from transformer_lab.special_tokens import BOS_ID, EOS_ID

EOS, A, B = EOS_ID, 4, 5
SPECIALS = {"min_len": 0, "bos_id": BOS_ID, "eos_id": EOS_ID}
FIXED_SHAPE_BEAM = functools.partial(static_beam_search, **SPECIALS)  # run eagerly on CPU
FIXED_SHAPE_GREEDY = functools.partial(static_greedy_search, **SPECIALS)
SRC = torch.tensor([[A, B, A, EOS]])  # any source: the fixed model ignores it


def fixed_model(p_eos: float, p_unk: float, p_a: float, p_b: float):
    """A Transformer whose next-token log-probabilities are log(p) at every step (the p sum to 1)."""
    model = tiny_model(vocab_size=6, weight_sharing="none")
    generator = nn.Linear(model.generator.in_features, 6, bias=True)
    with torch.no_grad():
        generator.weight.zero_()
        generator.bias.copy_(torch.tensor([-1e9, -1e9, math.log(p_eos), math.log(p_unk), math.log(p_a),
                                           math.log(p_b)]))
    model.generator = generator
    return model.eval()


@pytest.mark.parametrize("length, alpha, expected", [
    (1, 0.6, 1.0),                 # (6/6)^a = 1 for every alpha
    (1, 1.0, 1.0),
    (7, 0.6, 1.515716566510398),   # (12/6)^0.6 = 2^0.6
    (3, 0.6, 1.1884016386440022),  # (8/6)^0.6
    (2, 0.6, 1.096902619906223),   # (7/6)^0.6
    (2, 1.0, 1.1666666666666667),  # 7/6
    (13, 0.5, 1.7320508075688772),  # (18/6)^0.5 = sqrt(3)
    (30, 0.0, 1.0),                # alpha 0: no normalization
])
def test_the_gnmt_length_penalty_for_given_lengths(length, alpha, expected):
    assert length_penalty(length, alpha) == pytest.approx(expected, rel=1e-12)
    as_tensor = length_penalty(torch.tensor([length], dtype=torch.float64), alpha)
    assert float(as_tensor[0]) == pytest.approx(expected, rel=1e-12)


# Worked beam 1 (K = 2, n_best = 2): p(eos) 0.1, p(a) 0.85, p(b) 0.04, p(unk) 0.01.
#   step 0: extensions a -0.16251893, eos -2.30258509, b -3.21887582, unk -4.60517019; top K = {a, eos}:
#           [eos] finishes, |Y| = 1, score -2.30258509 / (6/6)^alpha = -2.3025850929940455 (any alpha).
#           alive: a, b.
#   step 1: aa -0.32503786, a eos -2.46510402, ab = ba -3.38139475, ...; top K = {aa, a eos}:
#           [a eos] finishes, |Y| = 2: alpha 1: -2.46510402 / (7/6) = -2.112946304992989;
#                                       alpha 0: -2.4651040224918206.
#           2 = K finished: done.
WORKED_1 = {
    1.0: ([[A, EOS], [EOS, 0]], [-2.112946304992989, -2.3025850929940455]),  # the longer one wins
    0.0: ([[EOS, 0], [A, EOS]], [-2.3025850929940455, -2.4651040224918206]),  # raw log-probabilities: [eos]
}


@pytest.mark.parametrize("search", [beam_search, FIXED_SHAPE_BEAM], ids=["dynamic", "fixed-shape"])
@pytest.mark.parametrize("alpha", sorted(WORKED_1))
def test_the_finished_hypotheses_of_a_hand_worked_beam(search, alpha):
    model = fixed_model(p_eos=0.1, p_unk=0.01, p_a=0.85, p_b=0.04)
    out = search(model, SRC, beam_size=2, n_best=2, alpha=alpha, max_len_a=0.0, max_len_b=10)
    tokens, scores = WORKED_1[alpha]
    assert out.nbest_tokens[0].tolist() == tokens
    assert out.nbest_scores[0].tolist() == pytest.approx(scores, abs=1e-5)
    assert out.tokens[0, :len([t for t in tokens[0] if t])].tolist() == [t for t in tokens[0] if t]
    assert float(out.scores[0]) == pytest.approx(scores[0], abs=1e-5)


# Worked beam 2 (K = 2, alpha 0.6, at most 3 tokens): p(eos) 0.01, p(a) 0.6, p(b) 0.3, p(unk) 0.09.
#   steps 0 and 1: eos never ranks within the top K (a, b; then aa, ab = ba).
#   step 2 (|Y| = 3, the maximum): eos is forced with its own log-probability log 0.01:
#     [a a eos] (2 log 0.6 + log 0.01) / (8/6)^0.6 = -4.734780944883605
#     [a b eos] = [b a eos] (log 0.6 + log 0.3 + log 0.01) / (8/6)^0.6 = -5.318040979219172
@pytest.mark.parametrize("search", [beam_search, FIXED_SHAPE_BEAM], ids=["dynamic", "fixed-shape"])
def test_a_hand_worked_beam_ended_at_its_maximum_length(search):
    model = fixed_model(p_eos=0.01, p_unk=0.09, p_a=0.6, p_b=0.3)
    out = search(model, SRC, beam_size=2, n_best=2, alpha=0.6, max_len_a=0.0, max_len_b=3)
    assert out.nbest_tokens[0, 0].tolist() == [A, A, EOS]
    assert out.nbest_tokens[0, 1].tolist() in ([A, B, EOS], [B, A, EOS])  # equal scores: either
    assert out.nbest_scores[0].tolist() == pytest.approx([-4.734780944883605, -5.318040979219172], abs=1e-5)


# Greedy: a, a, then eos forced at |Y| = 3: (2 log 0.85 + log 0.1) / (8/6)^1 = -1.9707172139921965.
@pytest.mark.parametrize("search", [greedy_search, FIXED_SHAPE_GREEDY], ids=["dynamic", "fixed-shape"])
def test_greedy_reports_the_penalized_score(search):
    model = fixed_model(p_eos=0.1, p_unk=0.01, p_a=0.85, p_b=0.04)
    out = search(model, SRC, alpha=1.0, max_len_a=0.0, max_len_b=3)
    assert out.tokens[0].tolist() == [A, A, EOS]
    assert float(out.scores[0]) == pytest.approx(-1.9707172139921965, abs=1e-5)
