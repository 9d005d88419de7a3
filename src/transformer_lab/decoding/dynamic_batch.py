"""DynamicBatch: the BatchPolicy of the dynamic searches (search.py), where finished sentences leave the batch.

Shapes: B sentences, B' those still being decoded, G rows per sentence (beams), R = B' x G decoder rows,
S source length, D model width, V vocabulary.

A step decodes only the B' sentences still going: their encoder memory, source mask, limits and decoder cache
rows are selected as the others finish (`advance`), so a batch costs what its sentences need rather than B
times the longest. A step's results are scattered to the sentences' rows of the batch's results (`active`).
One host read per step (`stop`: how many sentences are done), plus one at a step where some leave.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.decoding.batch_policy import BatchPolicy
from transformer_lab.model.transformer import Transformer


class DynamicBatch(BatchPolicy):
    """The sentences still being decoded (`active`, their rows in the results), their encoder memory, source
    mask and limits, and the decoder cache (preallocated for the longest output)."""

    def __init__(self, model: Transformer, src: Tensor, *, rows_per_sentence: int, max_len_a: float,
                 max_len_b: int, min_len: int, bos_id: int, eos_id: int) -> None:
        super().__init__(model, src, rows_per_sentence=rows_per_sentence, max_len_a=max_len_a, max_len_b=max_len_b,
                         min_len=min_len, bos_id=bos_id, eos_id=eos_id)
        self.model = model
        self.memory, self.src_mask = model.encode(src)  # (B', S, D), (B', 1, 1, S)
        # memory stays one row per sentence: the decoder's rows_per_sentence rows of a sentence (its beams)
        # are adjacent, and cross-attention reads each sentence's memory once for all of them (CrossAttention)
        self.cache = model.new_cache(capacity=self.max_len)
        self.active = torch.arange(self.size, device=src.device)  # (B',) their rows in the results
        self.done: Tensor | None = None  # (B',) bool, set by `stop`
        self.n_done = 0

    def next_logp(self, inp: Tensor) -> Tensor:
        logits = self.model.decode(inp, self.memory, self.src_mask, self.cache)[:, -1]  # (R, V)
        return torch.log_softmax(logits, dim=-1, dtype=torch.float32)  # one fused cast + log-softmax

    def going(self) -> None:
        return None  # every sentence of a step is still going

    def rows_of(self, t: Tensor) -> Tensor:
        return t[self.active]

    def with_rows(self, t: Tensor, rows: Tensor) -> Tensor:
        t[self.active] = rows
        return t

    def record_greedy(self, column: Tensor, logprob: Tensor, lengths: Tensor, tok_logp: Tensor, tok: Tensor) -> None:
        logprob.index_add_(0, self.active, tok_logp)
        lengths.index_add_(0, self.active, torch.ones_like(tok))
        column.index_copy_(0, self.active, tok)

    def stop(self, step: int, done: Tensor) -> bool:
        self.done, self.n_done = done, int(done.sum())  # one host sync per step
        return self.n_done == self.active.numel()

    def advance(self, tok: Tensor, rows: Tensor | None = None, beams=None) -> Tensor:
        if self.n_done:  # finished sentences leave the batch: their memory, cache (and beam) rows go
            keep = (~self.done).nonzero().squeeze(1)  # (B'',)
            self.active, self.memory, self.src_mask, self.max_lens = (
                t[keep] for t in (self.active, self.memory, self.src_mask, self.max_lens))
            self.first_forced = int(self.max_lens.min())
            tok = tok[keep]
            if rows is None:
                self.cache.reorder(keep)
            else:
                self.cache.select_sources(keep)
                beams.keep(keep)
                rows = rows[keep]
        if rows is not None:
            # cross-attention keys/values are identical for all beams of a sentence: no need to reorder them
            self.cache.reorder(rows.view(-1), include_cross=False)
        return tok.reshape(-1, 1)

    def greedy_width(self, step: int, lengths: Tensor) -> int:
        return step + 1  # the search stops at the step where its last sentences end
