"""model/dropout.py: CPU dropout masks cut from 64-bit draws, checked against closed-form statistics.

Each statistical check allows 6 standard deviations of its binomial estimate, so a correct implementation
fails one of them about once in 10^8 runs, while a biased lane (e.g. 63-bit draws, whose top lane is never
negative) or a wrong threshold is off by hundreds of deviations.
"""

from __future__ import annotations

import math

import pytest
import torch

from transformer_lab.model.dropout import Dropout, drop_mask, dropout, lane_drop_probability

N = 1 << 20  # elements per statistical check


def within_binomial(count: float, n: int, p: float) -> bool:
    return abs(count - n * p) <= 6 * math.sqrt(n * p * (1 - p))


def test_the_realized_probability_is_p_rounded_to_a_multiple_of_one_65536th():
    assert lane_drop_probability(0.1) == 6554 / 65536
    assert lane_drop_probability(0.5) == 0.5 and lane_drop_probability(0.0) == 0.0
    assert abs(lane_drop_probability(0.3) - 0.3) <= 0.5 / 65536


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_every_lane_of_a_draw_drops_with_the_realized_probability(p: float):
    torch.manual_seed(0)
    dropped = drop_mask(torch.Size([N // 256, 256]), p, torch.device("cpu")).view(-1, 4)  # (words, lane)
    q = lane_drop_probability(p)
    for lane in range(4):
        assert within_binomial(dropped[:, lane].sum().item(), N // 4, q), lane


def test_elements_are_dropped_independently_within_and_across_draws():
    torch.manual_seed(1)
    p = 0.3
    q = lane_drop_probability(p)
    first = drop_mask(torch.Size([N]), p, torch.device("cpu"))
    second = drop_mask(torch.Size([N]), p, torch.device("cpu"))
    words = first.view(-1, 4)
    for a, b in [(0, 1), (1, 2), (2, 3), (0, 3)]:  # lanes of one 64-bit draw
        assert within_binomial((words[:, a] & words[:, b]).sum().item(), N // 4, q * q), (a, b)
    assert within_binomial((first & second).sum().item(), N, q * q)  # consecutive masks
    assert within_binomial((first[:-1] & first[1:]).sum().item(), N - 1, q * q)  # neighbours, across draws


def test_masks_follow_the_seeded_generator():
    torch.manual_seed(7)
    a, b = drop_mask(torch.Size([1000]), 0.1, torch.device("cpu")), drop_mask(torch.Size([1000]), 0.1, torch.device("cpu"))
    torch.manual_seed(7)
    assert torch.equal(drop_mask(torch.Size([1000]), 0.1, torch.device("cpu")), a)
    assert not torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_and_backward_zero_the_same_elements_and_scale_the_rest(dtype: torch.dtype):
    torch.manual_seed(2)
    p = 0.1
    scale = 1 / (1 - lane_drop_probability(p))
    x = (torch.rand(64, 33) + 0.5).to(dtype).requires_grad_()  # no zeros: a zero output marks a dropped element
    grad = torch.randn(64, 33).to(dtype)
    y = dropout(x, p, training=True)
    y.backward(grad)
    dropped = y == 0
    assert y.dtype == dtype and 0 < dropped.sum() < dropped.numel()
    torch.testing.assert_close(y[~dropped], (x[~dropped] * scale).detach(), rtol=0, atol=0)
    expected_grad = torch.where(dropped, torch.zeros_like(grad), grad * scale)
    torch.testing.assert_close(x.grad, expected_grad, rtol=0, atol=0)


def test_the_expected_output_equals_the_input():
    torch.manual_seed(3)
    p = 0.1
    q = lane_drop_probability(p)
    y = dropout(torch.ones(N), p, training=True)
    kept = (y != 0).sum().item()
    assert within_binomial(N - kept, N, q)
    assert y.sum().item() == pytest.approx(kept / (1 - q), rel=1e-6)  # every kept element is 1 / (1 - q)
    assert abs(y.mean().item() - 1) <= 6 * math.sqrt(q / (1 - q) / N)  # E[y] = 1


def test_outside_training_or_at_zero_it_is_the_identity_and_at_one_it_zeroes():
    x = torch.randn(5, 7)
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0, training=True) is x
    assert torch.equal(dropout(x, 1.0, training=True), torch.zeros_like(x))
    module = Dropout(0.1).eval()
    assert module(x) is x and repr(module) == "Dropout(p=0.1)"


def test_under_autocast_a_bf16_activation_stays_bf16():
    layer = torch.nn.Linear(8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = Dropout(0.1).train()(layer(torch.randn(4, 8)))
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_a_probability_outside_zero_one_is_refused(p: float):
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\]"):
        Dropout(p)
