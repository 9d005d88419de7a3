"""Greedy and beam search over fixed shapes, the `cuda_graphs=True` path of search.py: StaticBatch, the
BatchPolicy (batch_policy.py) that keeps finished sentences in the batch, masked; DoneWatch; the entry points.

Shapes: B sentences, K beam size, R = B*K decoder rows, L maximum output length, V vocabulary.

Same conventions, settings and results as greedy_search / beam_search (search.py; tests/decoding/
test_static_decoding.py checks token-identical outputs in float32), different bookkeeping: every step decodes
all R rows with one StaticDecoder step (static_decoding.py: a CUDA graph replay on a GPU). A captured graph has fixed
shapes, so a sentence cannot leave the batch: once done, its rows keep decoding and their results are
ignored (`done` masks every update). On a GPU at these batch sizes the extra rows cost little next to the
launches a graph saves.
Under bf16 autocast the two paths compute the same function with different attention kernels (on a GPU:
a masked kernel over a fixed width here, the unmasked one over the growing prefix there), so their bf16
roundings differ, and candidates within that rounding of each other (on the benchmark's random-weight model,
nearly every step) can be ranked differently. What holds in bf16: a replayed graph gives exactly the tokens of
the same step run eagerly (tested on CUDA).
No host read inside a step: the only one is `DoneWatch`, which looks a few steps behind so that the host
keeps the GPU fed; a search may therefore run up to `DoneWatch.lag` steps past the point where every
sentence is done, which changes nothing (those steps are fully masked) and is trimmed from the output.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.decoding.batch_policy import BatchPolicy
from transformer_lab.decoding.beams import beam_loop
from transformer_lab.decoding.greedy import greedy_loop
from transformer_lab.decoding.hypotheses import SearchOutput
from transformer_lab.decoding.static_decoding import static_decoder
from transformer_lab.model.transformer import Transformer


class DoneWatch:
    """Tells the host when every sentence is done, without stalling the device each step.

    On CUDA, each step's `done.all()` is copied to pinned host memory asynchronously; `all_done` answers
    from the copy made `lag` steps earlier, waiting only for that copy (by then the device is still busy
    with the later steps, so it does not run dry). On CPU the answer is immediate (lag 0).
    """

    def __init__(self, device: torch.device, lag: int = 2) -> None:
        self.cuda = device.type == "cuda"
        self.lag = lag if self.cuda else 0
        if self.cuda:
            self.stream = torch.cuda.current_stream(device)  # the device's, whichever device is current
            self.flags = torch.zeros(lag + 1, dtype=torch.bool, pin_memory=True)
            self.events = [torch.cuda.Event() for _ in range(lag + 1)]
        self.step = 0

    def all_done(self, done: Tensor) -> bool:
        """done (B,) bool of the step just enqueued -> whether every sentence was done `lag` steps ago."""
        if not self.cuda:
            return bool(done.all())
        slot = self.step % (self.lag + 1)
        self.flags[slot].copy_(done.all(), non_blocking=True)
        self.events[slot].record(self.stream)
        self.step += 1
        if self.step <= self.lag:
            return False
        old = self.step % (self.lag + 1)  # the slot written `lag` steps ago (next to be overwritten)
        self.events[old].synchronize()
        return bool(self.flags[old])


class StaticBatch(BatchPolicy):
    """Every step decodes all B sentences (R = B x G rows) with one StaticDecoder step; `done` (B,) marks the
    sentences whose results no longer change, and masks every update of them."""

    def __init__(self, model: Transformer, src: Tensor, *, rows_per_sentence: int, max_len_a: float,
                 max_len_b: int, min_len: int, bos_id: int, eos_id: int, capture: bool | None) -> None:
        super().__init__(model, src, rows_per_sentence=rows_per_sentence, max_len_a=max_len_a, max_len_b=max_len_b,
                         min_len=min_len, bos_id=bos_id, eos_id=eos_id)
        device = src.device
        capture = device.type == "cuda" if capture is None else capture
        memory, src_mask = model.encode(src)  # (B, S, D), (B, 1, 1, S)
        self.decoder = static_decoder(model, sentences=self.size, rows_per_sentence=rows_per_sentence,
                                      src_len=src.size(1), max_len=self.max_len, device=device, capture=capture)
        self.decoder.start(memory, src_mask)
        self.done = torch.zeros(self.size, dtype=torch.bool, device=device)  # (B,)
        self.watch = DoneWatch(device)
        self.parents: Tensor | None = None  # (R,) the row each row continues; None: its own (step 0, greedy)

    def next_logp(self, inp: Tensor) -> Tensor:
        return self.decoder.step(inp, self.parents)  # valid until the next step

    def going(self) -> Tensor:
        return ~self.done

    def rows_of(self, t: Tensor) -> Tensor:
        return t

    def with_rows(self, t: Tensor, rows: Tensor) -> Tensor:
        return rows

    def record_greedy(self, column: Tensor, logprob: Tensor, lengths: Tensor, tok_logp: Tensor, tok: Tensor) -> None:
        going = ~self.done
        logprob += torch.where(going, tok_logp, 0.0)  # where, not a product: a done row's -inf stays out
        lengths += going
        column.copy_(torch.where(going, tok, self.pad_id))

    def stop(self, step: int, done: Tensor) -> bool:
        self.done |= done
        return step + 1 == self.max_len or self.watch.all_done(self.done)

    def advance(self, tok: Tensor, rows: Tensor | None = None, beams=None) -> Tensor:
        if rows is not None:
            self.parents = rows.view(-1)  # (R,) cache rows of the parents
        return tok.reshape(-1, 1)

    def greedy_width(self, step: int, lengths: Tensor) -> int:
        return int(lengths.max())  # steps run past the last eos (DoneWatch's lag) left all-pad columns


@torch.no_grad()
def static_greedy_search(model: Transformer, src: Tensor, *, alpha: float, max_len_a: float, max_len_b: int,
                         min_len: int, bos_id: int, eos_id: int, capture: bool | None = None) -> SearchOutput:
    """greedy_search over fixed shapes; capture: replay a CUDA graph (None: on CUDA devices)."""
    policy = StaticBatch(model, src, rows_per_sentence=1, max_len_a=max_len_a, max_len_b=max_len_b, min_len=min_len,
                         bos_id=bos_id, eos_id=eos_id, capture=capture)
    return greedy_loop(policy, alpha=alpha, eos_id=eos_id)


@torch.no_grad()
def static_beam_search(model: Transformer, src: Tensor, *, alpha: float, max_len_a: float, max_len_b: int,
                       min_len: int, bos_id: int, eos_id: int, beam_size: int, n_best: int,
                       capture: bool | None = None) -> SearchOutput:
    """beam_search over fixed shapes (same rules, see search.py); capture: replay a CUDA graph (None: on
    CUDA devices). Arguments are checked by beam_search."""
    policy = StaticBatch(model, src, rows_per_sentence=beam_size, max_len_a=max_len_a, max_len_b=max_len_b,
                         min_len=min_len, bos_id=bos_id, eos_id=eos_id, capture=capture)
    return beam_loop(policy, beam_size=beam_size, n_best=n_best, alpha=alpha, eos_id=eos_id)
