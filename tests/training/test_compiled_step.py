"""The compiled training step (`compile.enabled`, training/module/compiled_step.py) computes what the eager step
computes; padding lengths up to a multiple of 8 (`data.pad_to_multiple_of`) changes neither the loss nor the
gradients; the padding test stays out of the compiled region; the switches are checked with their keys named.

CPU inductor compiles are slow (tens of seconds even for a tiny model): the inductor comparison and the CPU
training job are marked slow; the fast checks use torch.compile's `eager` backend, which runs the same graph
capture (Dynamo) without code generation. The CUDA case trains a short `trainer=gpu` job with the step
compiled; it is skipped where PyTorch sees no CUDA device (run it on a GPU node with
`python -m pytest tests/training/test_compiled_step.py`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from test_preflight import train_config
from training_helpers import FAST, run_cli

from transformer_lab.config.checks import ConfigError
from transformer_lab.data.batching.encoding import make_batch
from transformer_lab.model import build_transformer
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.module.compiled_step import describe_step, forward_and_loss, training_loss_function
from transformer_lab.training.module.settings import CompileConfig, ModuleSettings
from transformer_lab.training.preflight import check_job_config

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
VOCAB = 40


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_transformer(dict(vocab_size=VOCAB, n_layers=1, d_model=16, d_ff=32, n_heads=2, dropout=0.0,
                                  positional={"name": "sinusoidal", "max_len": 64}))


def pieces(lengths: list[int], seed: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in lengths]


def batch(multiple_of: int = 1, src_lengths=(5, 9, 3), tgt_lengths=(6, 4, 10)) -> dict[str, torch.Tensor]:
    return make_batch(sources=pieces(list(src_lengths), 1), targets=pieces(list(tgt_lengths), 2),
                      indices=range(len(src_lengths)), multiple_of=multiple_of)


def loss_and_grads(model, loss_function, b) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The trainer's step up to the optimizer: mask decided outside, forward + loss, mean loss, backward."""
    model.zero_grad(set_to_none=True)
    src_mask = source_padding_mask(b["src"], PAD_ID)
    sums = loss_function(model, b["src"], b["tgt_in"], b["tgt_out"], src_mask, 0.1, PAD_ID)
    loss = sums.smoothed / sums.n_tokens
    loss.backward()
    return loss.detach(), {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def assert_same(a: tuple, b: tuple, rtol: float, atol: float) -> None:
    torch.testing.assert_close(a[0], b[0], rtol=rtol, atol=atol)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], rtol=rtol, atol=atol, msg=name)


# ------------------------------------------------------------------------------------ padding to a multiple
def test_padding_to_a_multiple_of_8_leaves_loss_and_gradients_unchanged():
    model = tiny_model()
    plain, padded = batch(multiple_of=1), batch(multiple_of=8)
    assert plain["src"].shape == (3, 10) and plain["tgt_in"].shape == (3, 11)
    assert padded["src"].shape == (3, 16) and padded["tgt_in"].shape == (3, 16)
    assert_same(loss_and_grads(model, forward_and_loss, padded), loss_and_grads(model, forward_and_loss, plain),
                rtol=1e-6, atol=1e-7)


def test_padding_a_batch_without_padding_leaves_loss_and_gradients_unchanged():
    """Equal lengths: no mask at all (the flash-eligible path) vs the padded batch's mask."""
    model = tiny_model()
    plain, padded = batch(1, (6, 6), (7, 7)), batch(8, (6, 6), (7, 7))
    assert source_padding_mask(plain["src"], PAD_ID) is None and source_padding_mask(padded["src"], PAD_ID) is not None
    assert_same(loss_and_grads(model, forward_and_loss, padded), loss_and_grads(model, forward_and_loss, plain),
                rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------------------ the compiled step
@pytest.mark.parametrize("multiple_of", [1, 8])
def test_the_step_compiles_into_one_graph_with_the_mask_decided_outside(multiple_of):
    """fullgraph=True raises at any graph break: the padding test (a device read) must not be inside."""
    model = tiny_model()
    compiled = torch.compile(forward_and_loss, backend="eager", fullgraph=True)
    b = batch(multiple_of)
    assert_same(loss_and_grads(model, compiled, b), loss_and_grads(model, forward_and_loss, b), rtol=0, atol=0)


def test_the_loss_function_is_compiled_only_when_enabled():
    assert training_loss_function(CompileConfig(enabled=False)) is forward_and_loss
    assert training_loss_function(CompileConfig(enabled=True)) is not forward_and_loss
    assert "eager" in describe_step(CompileConfig(), 1)
    line = describe_step(CompileConfig(enabled=True), 8)
    assert "compiled with torch.compile" in line and "multiples of 8" in line


@pytest.mark.slow
def test_inductor_compiled_step_equals_eager_step():
    """The configured compile (inductor, dynamic=None) over batches of three shapes: loss and every gradient
    as eager, within float32 reassociation error."""
    model = tiny_model()
    compiled = training_loss_function(CompileConfig(enabled=True))
    for b in (batch(8), batch(8, (12, 3), (9, 15)), batch(8, (6, 6), (7, 7))):
        assert_same(loss_and_grads(model, compiled, b), loss_and_grads(model, forward_and_loss, b),
                    rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------- the switches
@pytest.mark.parametrize("override, message", [
    ("compile.enabled=yes", r"compile\.enabled='yes' is not valid: it must be true or false"),
    ("compile.dynamic=2", r"compile\.dynamic=2 is not valid: it must be true or false or null"),
    ("+compile.fullgraph=true", r"unknown key\(s\) compile\.fullgraph; valid keys of `compile` are: dynamic, enabled, mode"),
    ("compile.mode=fastest", r"compile\.mode='fastest' is not valid: it must be null or one of default, reduce-overhead, "
                             r"max-autotune, max-autotune-no-cudagraphs"),
    ("data.pad_to_multiple_of=0", r"data\.pad_to_multiple_of=0 is not valid: it must be an integer >= 1"),
    ("data.pad_to_multiple_of=8.0", r"data\.pad_to_multiple_of=8\.0 is not valid: it must be an integer >= 1"),
])
def test_bad_compile_and_padding_settings_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        check_job_config(train_config("debug=tiny", override), multirun=False)


def test_the_switches_default_to_off_and_parse():
    assert check_job_config(train_config("debug=tiny"), multirun=False).compile == CompileConfig(False, None, None)
    settings = check_job_config(train_config("debug=tiny", "compile.enabled=true", "compile.dynamic=false",
                                             "compile.mode=max-autotune-no-cudagraphs"), multirun=False)
    assert settings.compile == CompileConfig(enabled=True, dynamic=False, mode="max-autotune-no-cudagraphs")
    assert settings.to_plain()["compile"] == {"enabled": True, "dynamic": False,  # what checkpoints store
                                              "mode": "max-autotune-no-cudagraphs"}
    assert "mode=max-autotune-no-cudagraphs" in describe_step(settings.compile, 8)


def test_checkpoints_written_before_compile_mode_existed_still_load_their_settings():
    """A checkpoint of the previous round stored compile as {enabled, dynamic}: the mode defaults to None."""
    plain = check_job_config(train_config("debug=tiny"), multirun=False).to_plain()
    plain["compile"] = {"enabled": True, "dynamic": None}
    assert ModuleSettings.from_plain(plain).compile == CompileConfig(enabled=True, dynamic=None, mode=None)


# ------------------------------------------------------------------------------------------ a training job
RECOMPILING = re.compile(r"Recompiling function forward_and_loss")


@pytest.mark.parametrize("trainer", [pytest.param("gpu", marks=needs_cuda), pytest.param("cpu", marks=pytest.mark.slow)])
def test_a_job_with_the_compiled_step_trains_and_recompiles_a_bounded_number_of_times(trainer: str, tmp_path: Path):
    """60 updates of the tiny job, step compiled, lengths padded to multiples of 8 (bf16-mixed on a GPU).
    Recompiles are counted from PyTorch's documented `TORCH_LOGS=recompiles` output (one "Recompiling
    function" record per recompile; torch's counters are private): whatever the 60 batch shapes, at most 3
    (measured: 2, one for symbolic sizes after the first batch, one for a batch without source padding)."""
    run_dir = tmp_path / "run"
    precision = ["trainer.precision=bf16-mixed"] if trainer == "gpu" else []
    proc = run_cli("transformer_lab.train", *FAST, f"trainer={trainer}", *precision, "logger=csv",
                   "compile.enabled=true", "data.pad_to_multiple_of=8", "trainer.max_steps=60",
                   "trainer.val_check_interval=30", f"hydra.run.dir={run_dir}",
                   env={"TORCH_LOGS": "recompiles"}, timeout=600)
    output = proc.stdout + proc.stderr
    assert "training step: forward + loss compiled with torch.compile" in output
    assert len(RECOMPILING.findall(output)) <= 3, output[-6000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 60, summary
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) >= 2 and all(map(math.isfinite, losses)) and losses[-1] < losses[0], losses
