"""A decoding cache of fixed shapes, for a decoder step that a CUDA graph can capture (static_decoding.py).

Shapes: B sentences, G rows per sentence (beams), R = B*G decoder rows, S source capacity, C target
capacity (positions), H heads, Dk/Dv per-head key/value widths.

The dynamic cache (attention.LayerCache) returns the t keys decoded so far, so attention's shapes grow by
one every step and a beam reorder allocates new buffers: a graph captured at one step would be wrong at the
next. Here every shape is fixed for the whole search and every buffer keeps its storage:
  - keys/values of all C positions live in buffers allocated once (zeros, so the slots not yet written are
    finite: a masked slot gets probability exactly 0, and 0 * a finite value is 0, never NaN);
  - the next position is a 0-dim int64 tensor on the device; a step writes its keys at that slot
    (`index_copy_`) and moves it on (`advance_`), so the host never reads it;
  - a step works on the first `extent` slots (a multiple of static_decoding.TIER above the position, fixed
    per captured graph): attention reads them with the key mask `slot <= position` (the causal rule of one
    query), and the beam reorder copies only them -- early steps do not pay for the whole capacity;
  - beam search keeps two sets of key/value buffers and alternates between them step by step: a step's beam
    reorder gathers the parents' rows of the previous step's set into this step's (`select`, `reorder_`),
    which copies every slot once, with no temporary and no second copy back (graph s % 2 of step s bakes in
    its set);
  - cross-attention keys/values sit in (B, H, S, .) buffers filled once per batch (`load_memory`); a
    source shorter than S leaves the slots past its length masked out by `memory_mask`.
It has the interface the attention modules use (`offset`, `append`, `key_mask`, `cross_k`, `cross_v`),
so the decoder's own code runs the step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.model.transformer import Transformer


class StaticLayerCache:
    """One decoder layer's keys/values over a fixed capacity, written at a device-held position; `sets`
    buffer sets (2 for beam search, see the module docstring; 1 without reordering)."""

    def __init__(self, *, rows: int, sentences: int, heads: int, d_k: int, d_v: int, src_capacity: int,
                 capacity: int, sets: int, position: Tensor, slots: Tensor, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.position, self.slots = position, slots  # shared with the other layers: (), (1, 1, 1, C)
        self.sets = [(torch.zeros(rows, heads, capacity, d_k, dtype=dtype, device=device),  # (R, H, C, Dk)
                      torch.zeros(rows, heads, capacity, d_v, dtype=dtype, device=device))  # (R, H, C, Dv)
                     for _ in range(sets)]
        self.select(0, capacity)
        self.cross_k = torch.zeros(sentences, heads, src_capacity, d_k, dtype=dtype, device=device)  # (B, H, S, Dk)
        self.cross_v = torch.zeros(sentences, heads, src_capacity, d_v, dtype=dtype, device=device)  # (B, H, S, Dv)

    @property
    def offset(self) -> Tensor:
        """() int64 on the device: the position of the next key."""
        return self.position

    def key_mask(self) -> Tensor:
        """(1, 1, 1, extent) bool: the slots written so far, the new one included (slot <= position)."""
        return self.visible_slots <= self.position

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write one position's keys k (R, H, 1, Dk) and values v (R, H, 1, Dv) at `position`; return the
        step's slots (R, H, extent, Dk|Dv), to be read under `key_mask`."""
        if k.size(2) != 1:
            raise ValueError(f"the static cache takes one position per step, got {k.size(2)}")
        if k.dtype != self.k.dtype:
            raise ValueError(f"static cache holds {self.k.dtype} keys but the step made {k.dtype}: build the "
                             "decoder under the same autocast setting as the search")
        index = self.position.view(1)
        self.k.index_copy_(2, index, k)
        self.v.index_copy_(2, index, v)
        return self.k, self.v

    def select(self, parity: int, extent: int) -> None:
        """This step reads and writes slots [0, extent) of buffer set `parity` (position < extent); the other
        set holds the previous step's keys/values."""
        k, v = self.sets[parity % len(self.sets)]
        previous_k, previous_v = self.sets[(parity + 1) % len(self.sets)]
        self.k, self.v = k[:, :, :extent], v[:, :, :extent]  # views: writes land in the buffers
        self.previous = previous_k[:, :, :extent], previous_v[:, :, :extent]
        self.visible_slots = self.slots[..., :extent]

    def reorder_(self, rows: Tensor) -> None:
        """rows (R,) int64: row r of this step's set takes row rows[r] (its parent beam) of the previous set."""
        if len(self.sets) < 2:
            raise RuntimeError("a single-set static cache cannot reorder rows (built for one row per sentence)")
        torch.index_select(self.previous[0], 0, rows, out=self.k)
        torch.index_select(self.previous[1], 0, rows, out=self.v)


def static_cache_bytes(model: Transformer, *, sentences: int, rows_per_sentence: int, src_capacity: int,
                       capacity: int, dtype: torch.dtype) -> int:
    """What a StaticDecoderCache of these shapes allocates for keys/values, in bytes (before allocating it):
    per layer, `sets` x (R, H, C, Dk + Dv) self-attention slots plus (B, H, S, Dk + Dv) cross keys/values."""
    sets = 2 if rows_per_sentence > 1 else 1
    rows = sentences * rows_per_sentence
    per_position = sum(layer.self_attn.n_heads * (layer.self_attn.d_k + layer.self_attn.d_v)
                       for layer in model.decoder.layers)
    return (sets * rows * capacity + sentences * src_capacity) * per_position * dtype.itemsize


class StaticDecoderCache:
    """Every decoder layer's StaticLayerCache, their shared position and the source mask they read."""

    def __init__(self, model: Transformer, *, sentences: int, rows_per_sentence: int, src_capacity: int,
                 capacity: int, dtype: torch.dtype, device: torch.device) -> None:
        table = model.decoder.positional.table_length
        if table is not None and capacity > table:
            raise ValueError(
                f"static decoding needs {capacity} target positions but the decoder's position table has "
                f"{table} (model.positional.max_len); lower the maximum output length (max_len_a * S + "
                "max_len_b) or decode without cuda_graphs (that path extends the table on demand)"
            )
        self.sentences, self.rows, self.capacity = sentences, sentences * rows_per_sentence, capacity
        self.position = torch.zeros((), dtype=torch.long, device=device)
        slots = torch.arange(capacity, device=device).view(1, 1, 1, capacity)
        # (B, 1, 1, S) bool, True = a real source token. All True until `load_memory`: a warm-up step before
        # the first batch then reads the zero keys/values (finite) instead of an all-masked row (NaN)
        self.memory_mask = torch.ones(sentences, 1, 1, src_capacity, dtype=torch.bool, device=device)
        self.layers = []
        for layer in model.decoder.layers:
            attn = layer.self_attn
            self.layers.append(StaticLayerCache(
                rows=self.rows, sentences=sentences, heads=attn.n_heads, d_k=attn.d_k, d_v=attn.d_v,
                src_capacity=src_capacity, capacity=capacity, sets=2 if rows_per_sentence > 1 else 1,
                position=self.position, slots=slots, dtype=dtype, device=device))

    @property
    def nbytes(self) -> int:
        """Bytes of the key/value buffers (self-attention sets and cross keys/values) of every layer."""
        return sum(t.nbytes for layer in self.layers for t in (*(b for s in layer.sets for b in s), layer.cross_k,
                                                                 layer.cross_v))

    @property
    def offset(self) -> Tensor:
        """() int64 on the device: the position of the next input token (what `Decoder.forward` reads)."""
        return self.position

    @torch.no_grad()
    def load_memory(self, model: Transformer, memory: Tensor, src_mask: Tensor) -> None:
        """A new batch: its cross-attention keys/values (memory (B, S', D), S' <= S) and source mask
        (B, 1, 1, S') go into the fixed buffers, the slots past S' are masked out, and decoding restarts at
        position 0. Self-attention slots keep stale values: masked until rewritten."""
        S = memory.size(1)
        self.memory_mask.zero_()
        self.memory_mask[..., :S] = src_mask
        for layer, cache in zip(model.decoder.layers, self.layers):
            k, v = layer.cross_attn.memory_kv(memory)  # (B, H, S', Dk|Dv)
            if k.dtype != cache.cross_k.dtype:
                raise ValueError(f"static cache holds {cache.cross_k.dtype} keys but the memory projects to "
                                 f"{k.dtype}: load the batch under the autocast setting the cache was built for")
            cache.cross_k[:, :, :S] = k
            cache.cross_v[:, :, :S] = v
        self.position.zero_()

    def select(self, parity: int, extent: int) -> None:
        """Every layer uses slots [0, extent) of buffer set `parity` for the coming step (beam search
        alternates the sets 0, 1, 0, ...)."""
        for cache in self.layers:
            cache.select(parity, extent)

    def reorder_(self, rows: Tensor) -> None:
        """rows (R,): the parent row of every decoder row (beam search), taken from the previous step's set;
        cross keys/values are per sentence and shared by its beams, so they stay."""
        for cache in self.layers:
            cache.reorder_(rows)

    def advance_(self) -> None:
        """The step is written: the next one goes to the next slot (on the device)."""
        self.position.add_(1)
