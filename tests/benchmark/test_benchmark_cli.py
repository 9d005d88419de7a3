"""The benchmark command runs end to end on a tiny shape and writes valid JSON; its FLOP formula is exact."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from transformer_lab.benchmark import measure
from transformer_lab.benchmark.cli import main
from transformer_lab.benchmark.workloads import Shape, make_batch, make_ours
from transformer_lab.decoding.static_decoding import release_static_decoders

TINY = ["--d-model", "16", "--layers", "1", "--heads", "2", "--d-ff", "32", "--vocab", "50",
        "--sentences", "3", "--src-len", "5", "--tgt-len", "4", "--decode-len", "3",
        "--repeats", "1", "--warmup", "0", "--threads", "1", "--no-peak"]


def test_analytic_flops_equal_pytorch_flop_counter():
    shape = Shape(d_model=16, layers=2, heads=2, d_ff=24, vocab=30, dropout=0.0)
    side = make_ours(shape, torch.device("cpu"))
    batch = make_batch(3, 5, 4, shape.vocab, torch.device("cpu"))
    counted = measure.train_step_flops(side, batch, "fp32")
    assert counted == measure.analytic_train_flops(16, 2, 24, 30, 3, 5, 4)


def test_cli_writes_our_numbers_as_json(tmp_path):
    out = tmp_path / "bench.json"
    main(TINY + ["--precision", "fp32", "bf16", "--json", str(out)])
    report = json.loads(out.read_text())
    assert [(r["impl"], r["precision"]) for r in report["results"]] == [("ours", "fp32"), ("ours", "bf16")]
    for r in report["results"]:
        assert r["train_tokens_per_s"]["median"] > 0 and r["decode_tokens_per_s"]["median"] > 0
        assert r["activation_bytes"] > 0 and r["train_model_flops_per_s"] > 0
    assert report["workload"]["train_tokens_per_step"] == 3 * (5 + 4)
    assert report["ratios"] == {}


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers (bench extra) not installed")
def test_cli_times_the_peer_side_by_side(tmp_path):
    out = tmp_path / "bench.json"
    main(TINY + ["--precision", "fp32", "--peer", "--peer-attn", "sdpa", "--json", str(out)])
    report = json.loads(out.read_text())
    assert [r["impl"] for r in report["results"]] == ["ours", "peer:sdpa"]
    assert report["parameters"]["ours"] == report["parameters"]["peer:sdpa"]  # identical shapes, same weights
    for metric in ("train_tokens_per_s", "decode_tokens_per_s"):
        assert report["ratios"][metric]["fp32"] > 0


def test_cli_records_cuda_graphs_and_decodes_with_them(tmp_path):
    out = tmp_path / "bench.json"
    main(TINY + ["--no-train", "--precision", "fp32", "--cuda-graphs", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["workload"]["cuda_graphs"] is True
    assert report["results"][0]["decode_tokens_per_s"]["median"] > 0


def test_cuda_graphs_side_generates_the_same_forced_length_tokens():
    shape, device = Shape(d_model=16, layers=1, heads=2, d_ff=32, vocab=50, dropout=0.0), torch.device("cpu")
    src = make_batch(3, 5, 2, shape.vocab, device, seed=1).src
    torch.manual_seed(0)
    plain = make_ours(shape, device).decode(src, 4, 6, "fp32")
    torch.manual_seed(0)
    side = make_ours(shape, device, cuda_graphs=True)
    graphed = side.decode(src, 4, 6, "fp32")
    assert plain.shape == (3, 6) and graphed.tolist() == plain.tolist()
    assert release_static_decoders(side.model) == 1  # it took the static path
