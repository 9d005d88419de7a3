"""int8 decoding (`inference/int8.py`): the layer against its closed form, the copy against float32, and the
guards of the commands that select it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.inference.int8 import (
    Int8Linear,
    check_int8_device,
    int8_copy,
    quantize_linears_,
)
from transformer_lab.model import build_transformer
from transformer_lab.model.config import TransformerConfig


def reference_int8_linear(x: torch.Tensor, linear: nn.Linear) -> torch.Tensor:
    """The closed form: per-row symmetric int8 weights; the input affine-quantized to 0..127 (7 bits) with one
    scale and zero point from its min and max (0 included); products of the dequantized values."""
    w = linear.weight.detach()
    w_scale = w.abs().amax(dim=1, keepdim=True) / 127
    w_deq = torch.round(w / w_scale).clamp(-128, 127) * w_scale
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / 127
    zero = min(max(round(-lo / scale), 0), 127)
    x_deq = (torch.round(x / scale) + zero).clamp(0, 127).sub(zero) * scale
    return x_deq @ w_deq.T + linear.bias.detach()


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    cfg = TransformerConfig(vocab_size=64, n_encoder_layers=2, n_decoder_layers=2, d_model=32, d_ff=64, n_heads=4,
                            dropout=0.0)
    return build_transformer(cfg).eval()


@pytest.mark.parametrize("shape", [(5, 48), (3, 4, 48), (1, 1, 48)])
def test_int8_linear_equals_its_closed_form(shape):
    torch.manual_seed(1)
    linear = nn.Linear(48, 24)
    x = torch.randn(shape) * 3
    ours = Int8Linear(linear)(x)
    reference = reference_int8_linear(x.reshape(-1, 48), linear).reshape(*shape[:-1], 24)
    float_error = (reference - linear(x)).abs().max()
    assert ours.shape == (*shape[:-1], 24) and ours.dtype == torch.float32
    # the kernel may round the input's scale or zero point differently by a hair; the gap to the closed form is
    # far below the quantization error itself
    assert (ours - reference).abs().max() < 0.05 * float_error, ((ours - reference).abs().max(), float_error)


def test_int8_linear_is_close_to_float32():
    torch.manual_seed(2)
    linear = nn.Linear(128, 256)
    x = torch.randn(64, 128)
    error = (Int8Linear(linear)(x) - linear(x)).norm() / linear(x).norm()
    assert error < 0.02, error


def test_every_linear_is_replaced_and_the_float_model_is_left_alone():
    model = tiny_model()
    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    quantized = int8_copy(model)
    assert all(isinstance(quantized.get_submodule(name), Int8Linear) for name in linears) and linears
    assert not any(isinstance(m, nn.Linear) for m in quantized.modules())
    assert all(isinstance(model.get_submodule(name), nn.Linear) for name in linears)  # the original is unchanged
    # the tied embedding stays float32 (only the output projection's copy is int8)
    assert quantized.encoder.embedding.weight.dtype == torch.float32
    torch.testing.assert_close(quantized.encoder.embedding.weight, model.encoder.embedding.weight)


def test_teacher_forced_log_probabilities_stay_close_to_float32():
    model = tiny_model()
    quantized = int8_copy(model)
    torch.manual_seed(3)
    src, tgt = torch.randint(4, 64, (6, 9)), torch.randint(4, 64, (6, 7))
    with torch.no_grad():
        ref, ours = model(src, tgt).log_softmax(-1), quantized(src, tgt).log_softmax(-1)
    assert (ours - ref).abs().max() < 0.25  # log-probabilities around -4.5; 7-bit activations of a random model
    assert (ours.argmax(-1) == ref.argmax(-1)).float().mean() >= 0.9


def test_greedy_and_beam_tokens_mostly_equal_float32():
    """Whole output sequences of a random model (near-ties included, where one flipped token changes the rest):
    most stay identical in int8. tests/inference/test_int8_translation.py checks a trained model's BLEU."""
    model = tiny_model()
    quantized = int8_copy(model)
    torch.manual_seed(4)
    src = torch.randint(4, 64, (16, 10))
    with torch.no_grad():
        for search in (lambda m: greedy_search(m, src, max_len_a=0.0, max_len_b=12),
                       lambda m: beam_search(m, src, beam_size=3, max_len_a=0.0, max_len_b=12)):
            ref, ours = search(model).tokens, search(quantized).tokens
            same = sum(a == b for a, b in zip(ref.tolist(), ours.tolist()))
            assert same >= 12, (same, ref, ours)  # 15 of 16 when written


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "meta"])
def test_int8_refuses_a_device_other_than_the_cpu(device):
    with pytest.raises(ValueError, match=rf"--precision int8: precision int8 runs on the CPU only, but the device is {device}"):
        check_int8_device(device, "--precision int8")


@pytest.mark.parametrize("engine", ["qnnpack", "onednn"])
def test_int8_refuses_a_quantized_engine_without_per_row_dynamic_linear(engine):
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"{engine} is not built into this PyTorch")
    saved = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        with pytest.raises(ValueError, match=f"needs PyTorch's x86/fbgemm quantized engine, but this machine's is '{engine}'"):
            check_int8_device("cpu", "evaluate precision=int8")
    finally:
        torch.backends.quantized.engine = saved


def test_quantize_linears_works_in_place_on_nested_modules():
    outer = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.ReLU(), nn.Linear(8, 4)))
    assert quantize_linears_(outer) is outer
    assert isinstance(outer[0], Int8Linear) and isinstance(outer[1][1], Int8Linear)
