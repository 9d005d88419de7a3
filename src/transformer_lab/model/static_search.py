"""Greedy and beam search over fixed shapes: the `cuda_graphs=True` path of search.py.

Shapes: B sentences, K beam size, R = B*K decoder rows, L maximum output length, V vocabulary.

Same conventions, settings and results as greedy_search / beam_search (search.py; tests/model/
test_static_decoding.py checks token-identical outputs in float32), different bookkeeping: every step decodes all R rows
with one StaticDecoder step (static_decoding.py: a CUDA graph replay on a GPU). A captured graph has fixed
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

from transformer_lab.model.hypotheses import (
    SearchOutput,
    beam_result,
    best_finished,
    keep_finished,
    length_penalty,
    rank_extensions,
    survivors,
)
from transformer_lab.model.search_state import TokenRules, max_output_lengths
from transformer_lab.model.static_decoding import StaticDecoder, static_decoder
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


def _start(model: Transformer, src: Tensor, *, rows_per_sentence: int, max_len_a: float, max_len_b: int,
           capture: bool | None) -> tuple[StaticDecoder, Tensor, int, int]:
    """Encode src (B, S), size the decoder for the batch: -> (decoder, max_lens (B,), the shortest maximum
    length (the first step where a sentence may have to end), L the longest)."""
    device = src.device
    capture = device.type == "cuda" if capture is None else capture
    memory, src_mask = model.encode(src)  # (B, S, D), (B, 1, 1, S)
    max_lens = max_output_lengths(src, pad_id=model.pad_id, max_len_a=max_len_a, max_len_b=max_len_b)  # (B,)
    first_forced, L = torch.stack([max_lens.min(), max_lens.max()]).tolist()  # one host read sizes the batch
    decoder = static_decoder(model, sentences=src.size(0), rows_per_sentence=rows_per_sentence, src_len=src.size(1),
                             max_len=L, device=device, capture=capture)
    decoder.start(memory, src_mask)
    return decoder, max_lens, first_forced, L


@torch.no_grad()
def static_greedy_search(model: Transformer, src: Tensor, *, alpha: float, max_len_a: float, max_len_b: int,
                         min_len: int, bos_id: int, eos_id: int, capture: bool | None = None) -> SearchOutput:
    """greedy_search over fixed shapes; capture: replay a CUDA graph (None: on CUDA devices)."""
    pad_id, B, device = model.pad_id, src.size(0), src.device
    decoder, max_lens, first_forced, L = _start(model, src, rows_per_sentence=1, max_len_a=max_len_a,
                                                max_len_b=max_len_b, capture=capture)
    rules = TokenRules(pad_id=pad_id, bos_id=bos_id, eos_id=eos_id, min_len=min_len, device=device)
    tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    logprob = torch.zeros(B, dtype=torch.float32, device=device)
    lengths = torch.zeros(B, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    watch = DoneWatch(device)
    inp = torch.full((B, 1), bos_id, dtype=torch.long, device=device)
    for step in range(L):
        logp = decoder.step(inp)  # (B, V)
        rules.apply_(logp, step, step + 1 >= max_lens if step + 1 >= first_forced else None)
        tok_logp, tok = logp.max(dim=-1)  # (B,), (B,)
        going = ~done
        logprob += torch.where(going, tok_logp, 0.0)  # where, not a product: a done row's -inf stays out
        lengths += going
        tokens[:, step] = torch.where(going, tok, pad_id)
        done |= tok == eos_id
        if watch.all_done(done):
            break
        inp = tok[:, None]
    width = int(lengths.max())  # steps run past the last eos (DoneWatch's lag) left all-pad columns
    return SearchOutput(tokens[:, :width], logprob / length_penalty(lengths.float(), alpha))


@torch.no_grad()
def static_beam_search(model: Transformer, src: Tensor, *, alpha: float, max_len_a: float, max_len_b: int,
                       min_len: int, bos_id: int, eos_id: int, beam_size: int, n_best: int,
                       capture: bool | None = None) -> SearchOutput:
    """beam_search over fixed shapes (same rules, see search.py); capture: replay a CUDA graph (None: on
    CUDA devices). Arguments are checked by beam_search."""
    pad_id, B, K, device = model.pad_id, src.size(0), beam_size, src.device
    decoder, max_lens, first_forced, L = _start(model, src, rows_per_sentence=K, max_len_a=max_len_a,
                                                max_len_b=max_len_b, capture=capture)
    rules = TokenRules(pad_id=pad_id, bos_id=bos_id, eos_id=eos_id, min_len=min_len, device=device)
    V = model.generator.out_features

    alive_tokens = torch.full((B, K, L), pad_id, dtype=torch.long, device=device)
    alive_score = torch.full((B, K), float("-inf"), dtype=torch.float32, device=device)
    alive_score[:, 0] = 0.0  # all beams start identical: expand only the first at step 0
    n_finished = torch.zeros(B, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    best_tokens = torch.full((B, L), pad_id, dtype=torch.long, device=device)
    best_score = torch.full((B,), float("-inf"), dtype=torch.float32, device=device)
    beam_base = (torch.arange(B, device=device) * K)[:, None]  # (B, 1): flat row of a sentence's first beam
    kept_tokens = kept_score = None
    if n_best > 1:  # the first K finished hypotheses of each sentence, in finishing order; slot K: discarded
        kept_tokens = torch.full((B, K + 1, L), pad_id, dtype=torch.long, device=device)
        kept_score = torch.full((B, K + 1), float("-inf"), dtype=torch.float32, device=device)
    watch = DoneWatch(device)
    inp = torch.full((B * K, 1), bos_id, dtype=torch.long, device=device)
    rows: Tensor | None = None  # (R,) parent rows; None at step 0

    for step in range(L):
        logp = decoder.step(inp, rows).view(B, K, V)
        forced = (step + 1 >= max_lens)[:, None].expand(B, K) if step + 1 >= first_forced else None
        cand = rules.apply_(logp, step, forced).add_(alive_score[:, :, None]).view(B, K * V)
        # the 2K best extensions; finished: eos within the top K, of a sentence not yet done
        ranked = rank_extensions(cand, vocab=V, beam_size=K, step=step, alpha=alpha, eos_id=eos_id, going=~done)
        cand_best, seq = best_finished(ranked, alive_tokens, step=step, eos_id=eos_id)  # (B,), (B, L)
        better = cand_best > best_score  # never for a done sentence: its finished scores are all -inf
        best_tokens = torch.where(better[:, None], seq, best_tokens)
        best_score = torch.where(better, cand_best, best_score)
        if n_best > 1:
            keep_finished(kept_tokens, kept_score, alive_tokens, ranked, n_finished, step=step, eos_id=eos_id)
        n_finished += ranked.finished.sum(dim=1)
        done |= (n_finished >= K) | (step + 1 >= max_lens)  # (B,)
        if step + 1 == L or watch.all_done(done):
            break

        alive_score, parent, tok, alive_tokens = survivors(ranked, alive_tokens, step=step)  # (B, K) x3, (B, K, L)
        rows = (beam_base + parent).view(-1)  # (R,) cache rows of the parents
        inp = tok.reshape(-1, 1)
    return beam_result(best_tokens, best_score, kept_tokens, kept_score, n_best=n_best, pad_id=pad_id)
