"""int8 decoding on CPU: a copy of a module whose every `nn.Linear` holds int8 weights and quantizes its input
at each call (dynamic quantization), for `translate --precision int8` and `evaluate precision=int8`.

Each weight matrix is stored as int8 with one scale per output row (symmetric: scale = max |w_row| / 127);
each call quantizes its activations to uint8 with one scale and zero point for the whole tensor, from its
min and max, multiplies in integers and returns float32 (fbgemm's `quantized::linear_dynamic`, the kernel
behind PyTorch's dynamically quantized `Linear`, called directly with per-row weights). Embeddings,
LayerNorm, attention products, softmax and the search stay float32, and so does every score the search adds.
The search code is unchanged: it receives the copy as it would the float32 model.

deviation: activations use 7 of their 8 bits (`reduce_range`): without AVX512-VNNI, fbgemm multiplies pairs of
uint8 x int8 into int16 with saturation, which full-range activations can overflow.
"""

from __future__ import annotations

import copy
import warnings
from typing import TypeVar

import torch
from torch import Tensor, nn

M = TypeVar("M", bound=nn.Module)

PRECISIONS = ("fp32", "bf16", "int8")  # what translate and evaluate accept; int8 is CPU only
INT8_ENGINES = ("x86", "fbgemm")  # PyTorch's quantized engines with per-row int8 weights for dynamic linear


class Int8Linear(nn.Module):
    """y = x W^T + b, W in int8 with one scale per output row, x quantized per call; float32 in and out.
    x (..., in_features) -> (..., out_features)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach().to("cpu", torch.float32)  # (out, in)
        scales = (weight.abs().amax(dim=1) / 127).clamp(min=torch.finfo(torch.float32).tiny)  # (out,)
        with warnings.catch_warnings():  # torch 2.13 warns that quantized tensors are deprecated (docs/PERFORMANCE.md)
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
            qweight = torch.quantize_per_channel(weight, scales.double(), torch.zeros_like(scales, dtype=torch.long),
                                                 axis=0, dtype=torch.qint8)
        bias = None if linear.bias is None else linear.bias.detach().to("cpu", torch.float32)
        self.packed = torch.ops.quantized.linear_prepack(qweight, bias)  # fbgemm's packed layout

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast("cpu", enabled=False):  # the kernel takes float32 whatever autocast made upstream
            return torch.ops.quantized.linear_dynamic(x.float(), self.packed, True)  # True: reduce_range

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weights per row"


def check_int8_device(device: str | torch.device, where: str) -> None:
    """int8 decoding runs on the CPU only: a clear error for any other device, naming the setting."""
    if torch.device(device).type != "cpu":
        raise ValueError(f"{where}: precision int8 runs on the CPU only, but the device is {device}; "
                         "use precision fp32 or bf16 on a GPU")
    engine = torch.backends.quantized.engine
    if engine not in INT8_ENGINES:
        raise ValueError(f"{where}: precision int8 needs PyTorch's x86/fbgemm quantized engine, but this machine's "
                         f"is {engine!r} (supported here: {torch.backends.quantized.supported_engines}); "
                         "use precision fp32")


def quantize_linears_(model: M) -> M:
    """Replaces every `nn.Linear` inside `model` by an `Int8Linear` of its weights, in place; returns `model`.
    A weight shared with an embedding (§3.4's tied output projection) stays float32 in the embedding."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model


def int8_copy(module: M) -> M:
    """A copy of `module` (a TranslationModule, a Transformer, an Ensemble), on the CPU and in eval mode, whose
    every linear layer is int8; `module` itself is unchanged."""
    return quantize_linears_(copy.deepcopy(module).to("cpu").eval())
