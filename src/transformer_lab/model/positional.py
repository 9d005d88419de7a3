"""Positional information: one interface, swappable schemes (picked by `model/positional=NAME`).

Shapes: B batch, T sequence length (S or T), D d_model, H heads, Dk per-head key width,
Tq/Tk query/key lengths.

A scheme has two hooks, both identity by default:
  - `add_to_embeddings(x, offset)`: absolute schemes (sinusoidal §3.5, learned Table 3 row E) add a vector
    per position to the scaled embeddings; `offset` is the position of x[:, 0] (incremental decoding).
  - `rotate_qk(q, k, offset)` and `attention_bias(q_len, k_len, offset)`: relative schemes (RoPE, ALiBi)
    act inside *self*-attention only. Query i sits at absolute position offset + i, key j at position j
    (the key/value cache holds every earlier position).
deviation: relative schemes do nothing in cross-attention. Source and target positions live in different
sequences, so there is no meaningful distance between them (as in T5/encoder-decoder RoPE ports).
Each stack (encoder, decoder) owns its own scheme instance; the stack passes it to its attention modules.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from transformer_lab.model.config import PositionalConfig


Offset = int | Tensor  # the position of the first query/input; a tensor: 0-dim int64 on the device


def position_ids(offset: Offset, length: int, device: torch.device) -> Tensor:
    """(length,) int64 positions offset, offset+1, ... on `device` (for an int or a device-tensor offset)."""
    return torch.arange(length, device=device) + offset


class PositionalScheme(nn.Module):
    """Base class: no positional information at all (`none`). Subclasses override one or both hooks."""

    @property
    def table_length(self) -> int | None:
        """Positions a tensor offset may reach (offset + length <= this); None: no table, any position."""
        return None

    def add_to_embeddings(self, x: Tensor, offset: Offset = 0) -> Tensor:
        return x  # x: (B, T, D)

    def rotate_qk(self, q: Tensor, k: Tensor, offset: Offset = 0) -> tuple[Tensor, Tensor]:
        return q, k  # q: (B, H, Tq, Dk), k: (B, H, Tq, Dk) -- the new keys, at the same positions as q

    def attention_bias(self, q_len: int, k_len: int, offset: Offset, device: torch.device) -> Tensor | None:
        return None  # or (H, Tq, Tk) float32, added to the attention logits


class NoPositional(PositionalScheme):
    """`none`: the encoder is permutation-equivariant; the decoder still gets order from its causal mask."""


def sinusoid_table(length: int, d_model: int, base: float = 10000.0, offset: int = 0) -> Tensor:
    """§3.5: PE[pos, 2i] = sin(pos / base^(2i/D)), PE[pos, 2i+1] = cos(pos / base^(2i/D)). Works for odd D.

    Computed in float64 and returned as float32, (length, D).
    """
    pos = torch.arange(offset, offset + length, dtype=torch.float64)[:, None]  # (T, 1)
    dim = torch.arange(d_model)
    two_i = (dim - dim % 2).to(torch.float64)  # 2i for both dims 2i and 2i+1
    angle = pos / base ** (two_i / d_model)  # (T, D)
    return torch.where(dim % 2 == 0, torch.sin(angle), torch.cos(angle)).float()


class SinusoidalPositional(PositionalScheme):
    def __init__(self, d_model: int, *, max_len: int = 1024, base: float = 10000.0) -> None:
        super().__init__()
        self.d_model, self.base = d_model, base
        # non-persistent: a function of the config, not a learned weight; kept out of checkpoints
        self.register_buffer("table", sinusoid_table(max_len, d_model, base), persistent=False)

    @property
    def table_length(self) -> int:
        return self.table.size(0)

    def add_to_embeddings(self, x: Tensor, offset: Offset = 0) -> Tensor:
        T = x.size(1)
        if isinstance(offset, Tensor):  # rows of the table, looked up on the device
            pe = self.table.index_select(0, position_ids(offset, T, x.device))
        elif offset + T <= self.table.size(0):
            pe = self.table[offset : offset + T]
        else:  # longer than precomputed: the formula extends to any length
            pe = sinusoid_table(T, self.d_model, self.base, offset).to(x.device)
        return x + pe.to(x.dtype)  # (B, T, D) + (T, D)


class LearnedPositional(PositionalScheme):
    """Table 3 row E: a trained embedding per absolute position, up to `max_len`."""

    def __init__(self, d_model: int, *, max_len: int = 1024) -> None:
        super().__init__()
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, mean=0.0, std=d_model**-0.5)  # same scale as token embeddings

    @property
    def table_length(self) -> int:
        return self.embedding.num_embeddings

    def add_to_embeddings(self, x: Tensor, offset: Offset = 0) -> Tensor:
        T, max_len = x.size(1), self.embedding.num_embeddings
        if isinstance(offset, Tensor):  # the caller checked offset + T <= max_len (table_length) on the host
            return x + self.embedding(position_ids(offset, T, x.device)).to(x.dtype)
        if offset + T > max_len:
            raise ValueError(
                f"sequence position {offset + T - 1} exceeds model.positional.max_len={max_len} of the learned "
                "position table; raise max_len (needs retraining) or shorten inputs / max output length"
            )
        positions = torch.arange(offset, offset + T, device=x.device)
        return x + self.embedding(positions).to(x.dtype)  # (B, T, D) + (T, D)


class RotaryPositional(PositionalScheme):
    """RoPE (Su et al. 2021), "rotate half" layout: dims (j, j + Dk/2) form one rotating pair."""

    def __init__(self, head_dim: int, *, max_len: int = 1024, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"model.d_k={head_dim} must be even for rotary positions")
        self.head_dim, self.base = head_dim, base
        cos, sin = self._tables(0, max_len)
        self.register_buffer("cos", cos, persistent=False)  # (max_len, Dk)
        self.register_buffer("sin", sin, persistent=False)

    def _tables(self, start: int, length: int) -> tuple[Tensor, Tensor]:
        inv_freq = self.base ** -(torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim)
        pos = torch.arange(start, start + length, dtype=torch.float64)
        angle = torch.outer(pos, inv_freq)  # (T, Dk/2)
        angle = torch.cat([angle, angle], dim=-1)  # (T, Dk)
        return angle.cos().float(), angle.sin().float()

    @property
    def table_length(self) -> int:
        return self.cos.size(0)

    def rotate_qk(self, q: Tensor, k: Tensor, offset: Offset = 0) -> tuple[Tensor, Tensor]:
        T = q.size(-2)
        if isinstance(offset, Tensor):  # rows of the tables, looked up on the device
            pos = position_ids(offset, T, q.device)
            cos, sin = self.cos.index_select(0, pos), self.sin.index_select(0, pos)
        elif offset + T <= self.cos.size(0):
            cos, sin = self.cos[offset : offset + T], self.sin[offset : offset + T]
        else:
            cos, sin = (t.to(q.device) for t in self._tables(offset, T))
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        return _rotate(q, cos, sin), _rotate(k, cos, sin)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin  # (B, H, T, Dk)


def alibi_slopes(n_heads: int) -> Tensor:
    """Head slopes of Press et al. (2022): geometric 2^(-8/n) ... for n a power of two; otherwise the
    paper's recipe: the slopes of the closest smaller power of two, then every other slope of twice that."""

    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-8 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_2(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_2(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(power_of_2(closest) + extra)


class ALiBiPositional(PositionalScheme):
    """ALiBi: add -slope_h * distance(i, j) to head h's attention logits.

    deviation: ALiBi was designed for causal language models (distance i - j, j <= i). The encoder is
    bidirectional, so we use the symmetric distance |i - j|. In the decoder the causal mask removes j > i,
    where |i - j| = i - j, so the decoder gets exactly the original (causal) ALiBi.
    """

    def __init__(self, n_heads: int) -> None:
        super().__init__()
        self.register_buffer("slopes", alibi_slopes(n_heads), persistent=False)  # (H,)

    def attention_bias(self, q_len: int, k_len: int, offset: Offset, device: torch.device) -> Tensor:
        q_pos = position_ids(offset, q_len, device)
        k_pos = torch.arange(k_len, device=device)
        distance = (q_pos[:, None] - k_pos[None, :]).abs().float()  # (Tq, Tk)
        return -self.slopes[:, None, None] * distance  # (H, Tq, Tk)


def build_positional(cfg: PositionalConfig, *, d_model: int, n_heads: int, head_dim_k: int) -> PositionalScheme:
    """The one place that maps `model.positional.name` to a scheme class."""
    builders = {
        "sinusoidal": lambda: SinusoidalPositional(d_model, max_len=cfg.max_len, base=cfg.base),
        "learned": lambda: LearnedPositional(d_model, max_len=cfg.max_len),
        "none": NoPositional,
        "rope": lambda: RotaryPositional(head_dim_k, max_len=cfg.max_len, base=cfg.base),
        "alibi": lambda: ALiBiPositional(n_heads),
    }
    if cfg.name not in builders:
        raise ValueError(f"model.positional.name={cfg.name!r} is not one of {sorted(builders)}")
    return builders[cfg.name]()
