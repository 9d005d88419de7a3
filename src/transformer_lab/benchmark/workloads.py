"""The two implementations under test, built with identical shapes, and the work each one is timed on.

Shapes: B sentences, S source length, T target length, N forced output length, V vocabulary, K beam size.

`Shape` is the model shape; `make_ours` builds our Transformer, `make_peer` a Hugging Face MarianMT with the
same d_model, layers, heads, d_ff, vocabulary (shared, tied), sinusoidal positions, post-norm, ReLU,
sqrt(d_model) embedding scale and dropout. Each side is wrapped in a `Side`, which knows how to run one
training step (forward, label-smoothed loss, backward, Adam step) and one batched beam search that
generates exactly N tokens per sentence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from transformer_lab.decoding import beam_search
from transformer_lab.model import build_transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID
from transformer_lab.training.module.loss import label_smoothed_loss

PRESETS = {  # (d_model, layers per stack, heads, d_ff)
    "base": (512, 6, 8, 2048),
    "big": (1024, 6, 16, 4096),
    "small": (256, 3, 4, 1024),
}


@dataclass(frozen=True)
class Shape:
    d_model: int = 512
    layers: int = 6
    heads: int = 8
    d_ff: int = 2048
    vocab: int = 8000
    dropout: float = 0.1

    def model_config(self) -> dict:
        return dict(
            vocab_size=self.vocab, d_model=self.d_model, n_layers=self.layers, n_heads=self.heads,
            d_ff=self.d_ff, dropout=self.dropout,
        )  # everything else: the paper's defaults (post-norm, sinusoidal, all weights shared)


@dataclass(frozen=True)
class Batch:
    src: Tensor  # (B, S): pieces + eos, no padding
    tgt_in: Tensor  # (B, T): bos + pieces
    tgt_out: Tensor  # (B, T): pieces + eos

    @property
    def tokens(self) -> int:
        """Source + target tokens, what training throughput counts."""
        return self.src.numel() + self.tgt_in.numel()


def make_batch(sentences: int, src_len: int, tgt_len: int, vocab: int, device: torch.device, seed: int = 0) -> Batch:
    """Random ids (never a special token), every sentence of full length: no padding, as in the targets."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (sentences, src_len), generator=g)
    src[:, -1] = EOS_ID
    pieces = torch.randint(4, vocab, (sentences, tgt_len - 1), generator=g)
    tgt_in = torch.cat([torch.full((sentences, 1), BOS_ID), pieces], dim=1)
    tgt_out = torch.cat([pieces, torch.full((sentences, 1), EOS_ID)], dim=1)
    return Batch(src.to(device), tgt_in.to(device), tgt_out.to(device))


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16: autocast (fp32 master weights, bf16 matmuls); fp32: nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Side:
    """One implementation: a model, its optimizer, and the two timed workloads."""

    def __init__(self, name: str, model: nn.Module, logits: Callable[[Batch], Tensor],
                 generate: Callable[[Tensor, int, int], Tensor], label_smoothing: float = 0.1) -> None:
        self.name, self.model = name, model
        self._logits, self._generate = logits, generate
        self.label_smoothing = label_smoothing
        # Adam(0.9, 0.98, 1e-9) as the paper, fused (one kernel for the whole update) as the training module's
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=True)

    def train_step(self, batch: Batch, precision: str) -> Tensor:
        """forward, loss, backward, optimizer step; returns the loss without reading it (no host sync)."""
        self.model.train()
        with autocast(batch.src.device, precision):
            logits = self._logits(batch)  # (B, T, V)
        sums = label_smoothed_loss(logits, batch.tgt_out, self.label_smoothing, PAD_ID)
        loss = sums.smoothed / sums.n_tokens.clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def decode(self, src: Tensor, beam: int, length: int, precision: str) -> Tensor:
        """Beam search that generates exactly `length` tokens per sentence; returns the ids."""
        self.model.eval()
        with autocast(src.device, precision):
            return self._generate(src, beam, length)


def make_ours(shape: Shape, device: torch.device, compile: bool = False, cuda_graphs: bool = False) -> Side:
    """Our Transformer; `compile` compiles the training forward, `cuda_graphs` decodes with the static-shape
    search (one CUDA graph replay per decoder step on a GPU)."""
    model = build_transformer(shape.model_config()).to(device)
    forward = model
    if compile:
        # dynamic=False: one graph per batch shape; pad lengths to a multiple of 8 to bound the count
        forward = torch.compile(model, dynamic=False)

    def logits(batch: Batch) -> Tensor:
        return forward(batch.src, batch.tgt_in)

    def generate(src: Tensor, beam: int, length: int) -> Tensor:
        # max length a*S + b = length, and no eos before it: every hypothesis has exactly `length` tokens
        return beam_search(model, src, beam_size=beam, max_len_a=0.0, max_len_b=length, min_len=length,
                           cuda_graphs=cuda_graphs).tokens

    return Side("ours", model, logits, generate)


def peer_available() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


def marian_config(shape: Shape, attn: str = "sdpa"):
    """A Hugging Face MarianConfig with our shapes (`transformers` is the optional `bench` extra)."""
    from transformers import MarianConfig

    return MarianConfig(
        vocab_size=shape.vocab, d_model=shape.d_model, encoder_layers=shape.layers, decoder_layers=shape.layers,
        encoder_attention_heads=shape.heads, decoder_attention_heads=shape.heads,
        encoder_ffn_dim=shape.d_ff, decoder_ffn_dim=shape.d_ff, activation_function="relu",
        dropout=shape.dropout, attention_dropout=0.0, activation_dropout=0.0,
        scale_embedding=True, share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
        max_position_embeddings=1024, pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
        decoder_start_token_id=BOS_ID, forced_eos_token_id=None, attn_implementation=attn,
    )  # Marian is post-norm with sinusoidal positions by construction


def make_peer(shape: Shape, device: torch.device, attn: str = "sdpa") -> Side:
    """Hugging Face MarianMT with our shapes (`transformers` is the optional `bench` extra)."""
    from transformers import MarianMTModel

    model = MarianMTModel(marian_config(shape, attn)).to(device)
    if model.config._attn_implementation != attn:
        raise ValueError(f"MarianMT did not take attn_implementation={attn!r} (got {model.config._attn_implementation!r})")

    def logits(batch: Batch) -> Tensor:
        return model(input_ids=batch.src, attention_mask=batch.src != PAD_ID, decoder_input_ids=batch.tgt_in).logits

    def generate(src: Tensor, beam: int, length: int) -> Tensor:
        return model.generate(
            input_ids=src, attention_mask=src != PAD_ID, num_beams=beam, do_sample=False,
            min_new_tokens=length, max_new_tokens=length, length_penalty=0.6, early_stopping=False,
        )

    return Side(f"peer:{attn}", model, logits, generate)
