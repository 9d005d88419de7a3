"""Multi-head scaled dot-product attention (§3.2), self and cross.

Shapes: B batch, Tq query length, Tk key length, D d_model, H heads, Dk query/key width per head,
Dv value width per head. d_k and d_v are independent of d_model / H (Table 3 rows A, B); W^O maps H*Dv -> D.

Mask convention (the only one in the project): boolean masks, True = "may attend", broadcastable to
(B, H, Tq, Tk) -- the convention of torch.nn.functional.scaled_dot_product_attention. No additive
large-negative constants anywhere (they overflow in fp16); where a float bias is needed (ALiBi),
disallowed entries are set to -inf, which every float dtype represents exactly.
Every query row keeps at least one allowed key (a source always holds eos; the decoder sees bos), so
softmax never sees an all -inf row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_lab.model.positional import PositionalScheme


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(B, L) ids -> (B, 1, 1, L) key mask, True where the key is a real token."""
    return (tokens != pad_id)[:, None, None, :]


def causal_mask(q_len: int, k_len: int, device: torch.device) -> Tensor:
    """(Tq, Tk), True where key j <= query i; queries are the last Tq of Tk positions (cache-aware)."""
    q_pos = torch.arange(k_len - q_len, k_len, device=device)
    return torch.arange(k_len, device=device)[None, :] <= q_pos[:, None]


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None,
    causal: bool,
    bias: Tensor | None,
    dropout_p: float,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """softmax(q k^T / sqrt(Dk) + bias, masked) v.  q (B,H,Tq,Dk), k (B,H,Tk,Dk), v (B,H,Tk,Dv).

    Fast path: F.scaled_dot_product_attention (with `is_causal=True` and no mask when nothing else
    constrains attention, which allows the flash kernel). Weights path (`need_weights=True`): the same
    computation written out, also returning the probabilities (B, H, Tq, Tk).
    """
    Tq, Tk = q.size(-2), k.size(-2)
    use_is_causal = causal and Tq > 1 and Tq == Tk and mask is None and bias is None
    if causal and Tq > 1 and not use_is_causal:  # Tq == 1 with a cache: the one query may see every key
        cm = causal_mask(Tq, Tk, q.device)
        mask = cm if mask is None else mask & cm
    attn_mask = mask
    if bias is not None:
        bias = bias.to(q.dtype)
        attn_mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    if not need_weights:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=use_is_causal)
        return out, None
    if use_is_causal:
        attn_mask = causal_mask(Tq, Tk, q.device)
    scores = (q @ k.transpose(-2, -1)) * q.size(-1) ** -0.5  # (B, H, Tq, Tk)
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    elif attn_mask is not None:
        scores = scores + attn_mask
    probs = scores.softmax(dim=-1)
    out = F.dropout(probs, p=dropout_p) @ v  # (B, H, Tq, Dv)
    return out, probs


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    B, T, _ = x.shape
    return x.view(B, T, n_heads, -1).transpose(1, 2)  # (B, T, H*Dh) -> (B, H, T, Dh)


def merge_heads(x: Tensor) -> Tensor:
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)  # (B, H, T, Dh) -> (B, T, H*Dh)


@dataclass
class LayerCache:
    """Incremental-decoding state of one decoder layer.

    self_k/self_v: (B, H, t, Dk/Dv) keys/values of every target position decoded so far (rotated if RoPE).
    cross_k/cross_v: (B, H, S, Dk/Dv) projections of the encoder output, computed once per source batch.
    """

    self_k: Tensor | None = None
    self_v: Tensor | None = None
    cross_k: Tensor | None = None
    cross_v: Tensor | None = None

    def reorder(self, index: Tensor, include_cross: bool = True) -> None:
        """Select batch rows (beam search). Beams of one sentence share their cross keys/values, so a
        beam reorder that stays within each sentence may skip them (`include_cross=False`)."""
        names = ("self_k", "self_v", "cross_k", "cross_v") if include_cross else ("self_k", "self_v")
        for name in names:
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.index_select(0, index))


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused Q/K/V projection (a single matmul)."""

    def __init__(self, d_model: int, n_heads: int, d_k: int, d_v: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.d_v = n_heads, d_k, d_v
        self.qkv = nn.Linear(d_model, n_heads * (2 * d_k + d_v))  # rows: [W^Q; W^K; W^V]
        self.out = nn.Linear(n_heads * d_v, d_model)  # W^O
        self.attention_dropout = attention_dropout

    def forward(
        self,
        x: Tensor,
        positional: PositionalScheme,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D) -> (B, T, D) and optionally probabilities (B, H, T, t+T); with a cache, x holds only
        the new positions and keys/values of earlier positions come from (and are appended to) the cache."""
        H, Dk = self.n_heads, self.d_k
        q, k, v = self.qkv(x).split([H * Dk, H * Dk, H * self.d_v], dim=-1)  # (B, T, H*Dk|H*Dv)
        q, k, v = split_heads(q, H), split_heads(k, H), split_heads(v, H)  # (B, H, T, Dk|Dv)
        offset = 0 if cache is None or cache.self_k is None else cache.self_k.size(2)
        q, k = positional.rotate_qk(q, k, offset)
        if cache is not None:
            if cache.self_k is not None:
                k = torch.cat([cache.self_k, k], dim=2)  # (B, H, t+T, Dk)
                v = torch.cat([cache.self_v, v], dim=2)
            cache.self_k, cache.self_v = k, v
        bias = positional.attention_bias(q.size(2), k.size(2), offset, x.device)  # (H, T, t+T) or None
        p = self.attention_dropout if self.training else 0.0
        y, probs = attend(q, k, v, mask, causal, bias, p, need_weights)
        return self.out(merge_heads(y)), probs


class CrossAttention(nn.Module):
    """Encoder-decoder attention: queries from the decoder, fused K/V projection of the encoder output."""

    def __init__(self, d_model: int, n_heads: int, d_k: int, d_v: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.d_v = n_heads, d_k, d_v
        self.q = nn.Linear(d_model, n_heads * d_k)
        self.kv = nn.Linear(d_model, n_heads * (d_k + d_v))  # rows: [W^K; W^V]
        self.out = nn.Linear(n_heads * d_v, d_model)
        self.attention_dropout = attention_dropout

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B, T, D), memory (B, S, D), memory_mask (B, 1, 1, S) -> (B, T, D), probs (B, H, T, S)."""
        H = self.n_heads
        q = split_heads(self.q(x), H)  # (B, H, T, Dk)
        if cache is not None and cache.cross_k is not None:
            k, v = cache.cross_k, cache.cross_v
        else:
            k, v = self.kv(memory).split([H * self.d_k, H * self.d_v], dim=-1)
            k, v = split_heads(k, H), split_heads(v, H)  # (B, H, S, Dk|Dv)
            if cache is not None:
                cache.cross_k, cache.cross_v = k, v
        # deviation: no positional hook here (see positional.py) -- cross-attention is position-free
        p = self.attention_dropout if self.training else 0.0
        y, probs = attend(q, k, v, memory_mask, False, None, p, need_weights)
        return self.out(merge_heads(y)), probs
