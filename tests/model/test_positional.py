"""Positional schemes: the paper's formula, RoPE's relative property, ALiBi slopes and distances."""

import math

import pytest
import torch

from transformer_lab.model import ALiBiPositional, RotaryPositional, SinusoidalPositional, sinusoid_table
from transformer_lab.model.positional import alibi_slopes


def closed_form_pe(length: int, d_model: int) -> torch.Tensor:
    """§3.5 written out element by element in float64, independent of the implementation."""
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    for pos in range(length):
        for dim in range(d_model):
            i = dim // 2
            angle = pos / 10000 ** (2 * i / d_model)
            pe[pos, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return pe


@pytest.mark.parametrize("d_model", [16, 17, 6, 1])
def test_sinusoidal_matches_paper_formula(d_model):
    expected = closed_form_pe(100, d_model)
    torch.testing.assert_close(sinusoid_table(100, d_model).double(), expected, atol=1e-6, rtol=0)


def test_sinusoidal_offset_and_extension_match_table():
    scheme = SinusoidalPositional(d_model=9, max_len=8)
    x = torch.zeros(1, 4, 9)
    expected = closed_form_pe(20, 9).float()
    torch.testing.assert_close(scheme.add_to_embeddings(x, offset=3)[0], expected[3:7], atol=1e-6, rtol=0)
    # beyond the precomputed rows the formula is evaluated on the fly
    torch.testing.assert_close(scheme.add_to_embeddings(x, offset=14)[0], expected[14:18], atol=1e-6, rtol=0)


def test_rope_scores_depend_only_on_relative_position():
    torch.manual_seed(0)
    rope = RotaryPositional(head_dim=8, max_len=64)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(q_pos: int, k_pos: int) -> torch.Tensor:
        rq, _ = rope.rotate_qk(q, q, q_pos)
        _, rk = rope.rotate_qk(k, k, k_pos)
        return (rq * rk).sum()

    torch.testing.assert_close(score(5, 2), score(13, 10))
    torch.testing.assert_close(score(70, 60), score(12, 2))  # beyond max_len: computed on the fly
    assert not torch.allclose(score(5, 2), score(5, 3))


def test_alibi_slopes_power_of_two_and_otherwise():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    # Press et al.'s recipe for 6 heads: the 4-head slopes, then every other 8-head slope
    expected = [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]
    torch.testing.assert_close(alibi_slopes(6), torch.tensor(expected))


def test_alibi_bias_is_symmetric_distance_with_offset():
    bias = ALiBiPositional(n_heads=2).attention_bias(q_len=2, k_len=5, offset=3, device=torch.device("cpu"))
    assert bias.shape == (2, 2, 5)
    slope = alibi_slopes(2)[0]
    expected = -slope * torch.tensor([[3, 2, 1, 0, 1], [4, 3, 2, 1, 0]], dtype=torch.float32)
    torch.testing.assert_close(bias[0], expected)
