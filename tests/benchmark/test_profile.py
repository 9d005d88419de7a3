"""The profiler command: which operators count as matrix products, the ceilings it derives from them, and
both workloads (training step, beam search) end to end on a tiny shape."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from transformer_lab.benchmark.profile import OperatorProfile, main, profile_operators, ratio_ceiling

TINY = ["--preset", "small", "--vocab", "50", "--sentences", "2", "--src-len", "4", "--tgt-len", "4",
        "--decode-len", "3", "--steps", "1", "--rows", "3", "--threads", "1"]
needs_peer = pytest.mark.skipif(importlib.util.find_spec("transformers") is None,
                                reason="transformers (bench extra) not installed")


def test_a_matrix_product_is_all_matrix_time_and_an_elementwise_op_none():
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    matmul = profile_operators(lambda: torch.mm(a, b), torch.device("cpu"), calls=3, rows=5, warmup=1)
    assert matmul.matrix_share > 0.95 and matmul.ceiling < 1.06  # the rest: allocating the output
    exp = profile_operators(lambda: torch.exp(a), torch.device("cpu"), calls=3, rows=5, warmup=1)
    assert exp.total_us > 0 and exp.matrix_share == 0.0 and exp.ceiling == math.inf


def test_ceilings_are_time_over_matrix_time_per_call():
    ours = OperatorProfile(table="", calls=2, total_us=4000.0, matrix_us=3000.0)  # 2 ms per call, 1.5 of matrices
    peer = OperatorProfile(table="", calls=4, total_us=10000.0, matrix_us=6000.0)  # 2.5 ms per call
    assert ours.per_call_ms == 2.0 and ours.matrix_per_call_ms == 1.5
    assert ours.ceiling == pytest.approx(4 / 3)
    assert ratio_ceiling(ours, peer) == pytest.approx(2.5 / 1.5)


def test_the_training_step_is_profiled_with_its_ceiling(capsys):
    main(TINY)
    out = capsys.readouterr().out
    assert "training step: 16 tokens" in out
    assert "ours: self time per step" in out and "at most" in out


@needs_peer
def test_decoding_beside_the_peer_prints_the_ratio_ceiling(capsys):
    main([*TINY, "--decode", "--peer"])
    out = capsys.readouterr().out
    assert "beam search: 2 sentences x beam 4 x 3 tokens" in out
    assert "ours: self time per search" in out and "peer:eager: self time per search" in out
    assert "ceiling of ours vs peer:eager at this shape" in out


def test_compile_step_with_decode_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*TINY, "--decode", "--compile-step"])
    assert exit_info.value.code == 2
    assert "--compile-step times the training step" in capsys.readouterr().err
