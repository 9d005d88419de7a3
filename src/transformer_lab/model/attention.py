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

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_lab.model.dropout import dropout
from transformer_lab.model.positional import PositionalScheme


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(B, L) ids -> (B, 1, 1, L) key mask, True where the key is a real token."""
    return (tokens != pad_id)[:, None, None, :]


def source_padding_mask(tokens: Tensor, pad_id: int) -> Tensor | None:
    """`padding_mask`, or None when no row has padding: attention then gets no mask, which lets SDPA use
    its flash kernel (length bucketing leaves most training batches without source padding).
    Costs one device-to-host read of a boolean per call."""
    real = tokens != pad_id  # (B, L)
    return None if bool(real.all()) else real[:, None, None, :]


def causal_mask(q_len: int, k_len: int, device: torch.device) -> Tensor:
    """(Tq, Tk), True where key j <= query i; queries are the last Tq of Tk positions (cache-aware)."""
    q_pos = torch.arange(k_len - q_len, k_len, device=device)
    return torch.arange(k_len, device=device)[None, :] <= q_pos[:, None]


def explicit_is_faster(q: Tensor, k: Tensor) -> bool:
    """Whether the written-out attention beats F.scaled_dot_product_attention for these shapes.

    Measured on a 2-core Zen 4 CPU (docs/PERFORMANCE.md): PyTorch's CPU flash kernel has a fixed cost per
    (batch, head) block that dominates short sequences -- 3.5x (fp32) to 6x (bf16) slower for one decoding
    query over 30 keys, 4.5x slower forward+backward in bf16 at 30x30 -- and wins from about 128x128 in
    fp32. GPUs always take SDPA. Inside a compiled graph on an H200, the written-out path for 30 x 30 tokens
    (fused with mask, softmax and dropout by inductor) gained nothing over cuDNN's flash kernels: compiled
    vs eager 1.34x against 1.31x (base), 1.32x against 1.33x (big), in two runs (docs/PERFORMANCE.md).
    """
    return q.device.type == "cpu" and (q.size(-2) == 1 or q.size(-2) * k.size(-2) <= 96 * 96)


def attend(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    mask: Tensor | None,
    causal: bool,
    bias: Tensor | None,
    dropout_p: float,
    need_weights: bool,
) -> tuple[Tensor, Tensor | None]:
    """softmax(q k^T / sqrt(Dk) + bias, masked) v.  q (B,H,Tq,Dk), k (B,H,Tk,Dk), v (B,H,Tk,Dv).

    Fast path: F.scaled_dot_product_attention (with `is_causal=True` and no mask when nothing else
    constrains attention, which allows the flash kernel). Written-out path (`need_weights=True`, or short
    sequences on CPU, see `explicit_is_faster`): the same computation, which can also return the
    probabilities (B, H, Tq, Tk).
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
    if not need_weights and not explicit_is_faster(q, k):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=use_is_causal)
        return out, None
    if use_is_causal:
        attn_mask = causal_mask(Tq, Tk, q.device)
    out_dtype = q.dtype
    with torch.autocast(q.device.type, enabled=False):  # float32 throughout, as SDPA's fused kernels compute it
        q, k, v = q.float(), k.float(), v.float()
        if attn_mask is not None and attn_mask.dtype != torch.bool:
            attn_mask = attn_mask.float()
        scores = (q @ k.transpose(-2, -1)) * q.size(-1) ** -0.5  # (B, H, Tq, Tk)
        if attn_mask is not None and attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        elif attn_mask is not None:
            scores = scores + attn_mask
        probs = scores.softmax(dim=-1)  # (B, H, Tq, Tk)
        out = dropout(probs, dropout_p, training=True) @ v  # (B, H, Tq, Dv); dropout_p is 0 outside training
    return out.to(out_dtype), (probs if need_weights else None)


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    B, T, _ = x.shape
    return x.view(B, T, n_heads, -1).transpose(1, 2)  # (B, T, H*Dh) -> (B, H, T, Dh)


def merge_heads(x: Tensor) -> Tensor:
    B, H, T, Dh = x.shape
    return x.transpose(1, 2).reshape(B, T, H * Dh)  # (B, H, T, Dh) -> (B, T, H*Dh)


class LayerCache:
    """Incremental-decoding state of one decoder layer.

    self_k/self_v: (B, H, t, Dk/Dv) keys/values of every target position decoded so far (rotated if RoPE),
    views into buffers preallocated for `capacity` positions: a decoding step writes one slot in place
    instead of copying the whole history (torch.cat), and a beam reorder gathers only the first t slots.
    The buffers grow by doubling if more positions arrive than `capacity` allows (0 = size on first use).
    The key buffer is stored transposed, (B, H, Dk, capacity): `q @ self_k.transpose(-2, -1)` then reads it
    in place (unit stride along keys) instead of copying the transposed history at every step.
    cross_k/cross_v: (B, H, S, Dk/Dv) projections of the encoder output, computed once per source batch and
    stored so that attention reads them without a copy (cross_k transposed underneath, like self_k).
    """

    def __init__(self, capacity: int = 0) -> None:
        self.capacity, self.length = capacity, 0
        self._k: Tensor | None = None  # (B, H, Dk, capacity): transposed
        self._v: Tensor | None = None  # (B, H, capacity, Dv)
        self.cross_k: Tensor | None = None
        self.cross_v: Tensor | None = None

    @property
    def offset(self) -> int:
        """The position of the next new key (the number of positions cached)."""
        return self.length

    def key_mask(self) -> Tensor | None:
        """Which cached keys a new query may see on top of the causal rule: all of them (None). The static
        cache (static_cache.py) answers with a mask over its fixed capacity instead."""
        return None

    @property
    def self_k(self) -> Tensor | None:
        return None if self._k is None else self._k[..., : self.length].transpose(-2, -1)

    @property
    def self_v(self) -> Tensor | None:
        return None if self._v is None else self._v[:, :, : self.length]

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the keys/values of T new positions, k (B, H, T, Dk); return every position's (B, H, t+T, .)."""
        end = self.length + k.size(2)
        if self._k is None or end > self._v.size(2) or self._k.dtype != k.dtype:
            capacity = max(self.capacity, end, 2 * (0 if self._v is None else self._v.size(2)))
            self._k = self._grown(self._k, k.transpose(-2, -1), capacity, dim=3)
            self._v = self._grown(self._v, v, capacity, dim=2)
        self._k[..., self.length : end] = k.transpose(-2, -1)
        self._v[:, :, self.length : end] = v
        self.length = end
        return self.self_k, self.self_v

    def _grown(self, old: Tensor | None, new: Tensor, capacity: int, dim: int) -> Tensor:
        shape = list(new.shape)
        shape[dim] = capacity
        buffer = new.new_empty(shape)
        if old is not None and self.length:
            buffer.narrow(dim, 0, self.length).copy_(old.narrow(dim, 0, self.length))
        return buffer

    def set_cross(self, k: Tensor, v: Tensor) -> None:
        """Keep the cross-attention keys/values k (B, H, S, Dk), v (B, H, S, Dv) in attention's read layout."""
        self.cross_k = k.transpose(-2, -1).contiguous().transpose(-2, -1)
        self.cross_v = v.contiguous()

    def reorder(self, index: Tensor, include_cross: bool = True) -> None:
        """Select batch rows (beam search). Beams of one sentence share their cross keys/values, so a
        beam reorder that stays within each sentence may skip them (`include_cross=False`)."""
        if self._k is not None:
            t = self.length
            self._k = self._selected(self._k, self._k[..., :t], index)
            self._v = self._selected(self._v, self._v[:, :, :t], index)
        if include_cross:
            self.select_cross(index)

    def select_cross(self, index: Tensor) -> None:
        """Select rows of the cross keys/values (beam search: the sentences still being decoded)."""
        if self.cross_k is not None:
            self.cross_k = self.cross_k.index_select(0, index)  # keeps the transposed layout underneath
            self.cross_v = self.cross_v.index_select(0, index)

    @staticmethod
    def _selected(buffer: Tensor, filled: Tensor, index: Tensor) -> Tensor:
        """A new buffer of index.numel() rows holding filled[index] (filled: the leading slots of buffer,
        a view); only the filled slots are copied."""
        new = buffer.new_empty(index.numel(), *buffer.shape[1:])
        out = new.as_strided((index.numel(), *filled.shape[1:]), new.stride())  # the same slots of `new`
        if torch.is_grad_enabled() and filled.requires_grad:  # out= has no autograd
            out.copy_(filled.index_select(0, index))
        else:
            torch.index_select(filled, 0, index, out=out)
        return new


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused Q/K/V projection (a single matmul)."""

    def __init__(self, *, d_model: int, n_heads: int, d_k: int, d_v: int, attention_dropout: float = 0.0) -> None:
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
        offset = 0 if cache is None else cache.offset  # an int, or a device tensor for a static cache
        q, k = positional.rotate_qk(q, k, offset)
        if cache is not None:
            k, v = cache.append(k, v)  # (B, H, t+T, Dk|Dv); a static cache: (B, H, capacity, Dk|Dv)
            cached = cache.key_mask()  # None, or (capacity,) bool for a static cache
            if cached is not None:
                mask = cached if mask is None else mask & cached
        bias = positional.attention_bias(q.size(2), k.size(2), offset, x.device)  # (H, T, t+T) or None
        p = self.attention_dropout if self.training else 0.0
        y, probs = attend(q, k, v, mask=mask, causal=causal, bias=bias, dropout_p=p, need_weights=need_weights)
        return self.out(merge_heads(y)), probs


class CrossAttention(nn.Module):
    """Encoder-decoder attention: queries from the decoder, fused K/V projection of the encoder output."""

    def __init__(self, *, d_model: int, n_heads: int, d_k: int, d_v: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads, self.d_k, self.d_v = n_heads, d_k, d_v
        self.q = nn.Linear(d_model, n_heads * d_k)
        self.kv = nn.Linear(d_model, n_heads * (d_k + d_v))  # rows: [W^K; W^V]
        self.out = nn.Linear(n_heads * d_v, d_model)
        self.attention_dropout = attention_dropout

    def memory_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory (B, S, D) -> keys (B, H, S, Dk), values (B, H, S, Dv): what a decoding cache keeps."""
        k, v = self.kv(memory).split([self.n_heads * self.d_k, self.n_heads * self.d_v], dim=-1)
        return split_heads(k, self.n_heads), split_heads(v, self.n_heads)

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        memory_mask: Tensor | None,
        cache: LayerCache | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (B*G, T, D), memory (B, S, D), memory_mask (B, 1, 1, S) -> (B*G, T, D), probs (B*G, H, T, S).

        G >= 1 consecutive query rows share one memory row: beam search passes the K beams of a sentence
        as adjacent rows against the sentence's memory, unrepeated. Their queries are attended as one
        sequence of G*T queries, so the memory is projected and read once per sentence, not K times.
        """
        H = self.n_heads
        q = split_heads(self.q(x), H)  # (B*G, H, T, Dk)
        if cache is not None and cache.cross_k is not None:
            k, v = cache.cross_k, cache.cross_v
        else:
            k, v = self.memory_kv(memory)  # (B, H, S, Dk|Dv)
            if cache is not None:
                cache.set_cross(k, v)
                k, v = cache.cross_k, cache.cross_v
        BG, _, T, _ = q.shape
        B = k.size(0)
        if BG % B:
            raise ValueError(f"cross-attention got {BG} query rows for {B} memory rows; need a multiple")
        G = BG // B
        if G > 1:
            q = q.view(B, G, H, T, -1).transpose(1, 2).reshape(B, H, G * T, -1)  # (B, H, G*T, Dk)
        # deviation: no positional hook here (see positional.py) -- cross-attention is position-free
        p = self.attention_dropout if self.training else 0.0
        y, probs = attend(q, k, v, mask=memory_mask, causal=False, bias=None, dropout_p=p,
                          need_weights=need_weights)  # (B, H, G*T, Dv)
        if G > 1:
            y = y.view(B, H, G, T, -1).transpose(1, 2).reshape(BG, H, T, -1)  # (B*G, H, T, Dv)
            if probs is not None:
                probs = probs.view(B, H, G, T, -1).transpose(1, 2).reshape(BG, H, T, -1)  # (B*G, H, T, S)
        return self.out(merge_heads(y)), probs
