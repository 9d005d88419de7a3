"""The training step's forward pass and loss, plain or compiled with `torch.compile` (`compile.enabled`).

What is compiled: the Transformer's forward pass and the label-smoothed loss, as one function of the batch's
tensors, so that the backward pass runs through the compiled graph as well. What is not: the source padding
test (`source_padding_mask` reads a boolean from the device, which would break the graph; the caller decides
the mask before the call), logging, the non-finite guard, the fused Adam step, validation and test decoding.

Lightning's guide compiles the whole LightningModule before `trainer.fit`; here only this function is
compiled (also before fit: in the module's constructor), because compiling the module would compile the
validation and test steps too, whose beam search changes shape every step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from transformer_lab.training.module.loss import LossSums, label_smoothed_loss
from transformer_lab.training.module.settings import CompileConfig

# (model, src (B, S), tgt_in (B, T), tgt_out (B, T), src_mask (B, 1, 1, S) or None, label smoothing, pad id)
LossFunction = Callable[[torch.nn.Module, Tensor, Tensor, Tensor, Tensor | None, float, int], LossSums]


def forward_and_loss(model: torch.nn.Module, src: Tensor, tgt_in: Tensor, tgt_out: Tensor, src_mask: Tensor | None,
                     label_smoothing: float, pad_id: int) -> LossSums:
    """The summed label-smoothed loss of one batch: the model's logits (B, T, V) scored against tgt_out."""
    logits = model(src, tgt_in, src_mask=src_mask)  # (B, T, V)
    return label_smoothed_loss(logits, tgt_out, label_smoothing, pad_id)


def training_loss_function(config: CompileConfig) -> LossFunction:
    """`forward_and_loss`, compiled when `config.enabled` (a module-level function: the compiled object holds
    no reference to a module, so copies of the LightningModule share it safely)."""
    if not config.enabled:
        return forward_and_loss
    return torch.compile(forward_and_loss, dynamic=config.dynamic, mode=config.mode)


def describe_step(config: CompileConfig, pad_to_multiple_of: int | None) -> str:
    """The line a run prints first about its training step."""
    if not config.enabled:
        return "training step: eager (compile.enabled=false)"
    padding = ("lengths not bucketed (data.pad_to_multiple_of=1)" if pad_to_multiple_of in (None, 1)
               else f"lengths padded to multiples of {pad_to_multiple_of}")
    mode = "" if config.mode is None else f", mode={config.mode}"
    return (f"training step: forward + loss compiled with torch.compile (dynamic={config.dynamic}{mode}), {padding}; "
            "the first steps compile (slow); validation/test decoding is not compiled")
