"""BatchPolicy: the hook through which the one greedy loop (greedy.py) and the one beam loop (beams.py) treat
the sentences they have finished -- the only place the dynamic and the fixed-shape searches differ.

Shapes: B sentences of the batch, B' those a step decodes, R decoder rows (B' x rows per sentence), V vocabulary.

Two implementations, in the manner of fairseq2's generators (one loop, the variant behind a hook):
  DynamicBatch (dynamic_batch.py)  finished sentences leave the batch: a step decodes B' <= B sentences, its
                                   results are scattered to their rows, one host read per step;
  StaticBatch (static_search.py)   fixed shapes (a CUDA graph step): a step decodes all B sentences, a done
                                   sentence's results are masked out, the host reads "all done" a few steps late.
Both set up the same limits (per-sentence maximum lengths, token rules, the first input) here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.decoding.limits import TokenRules, max_output_lengths
from transformer_lab.model.transformer import Transformer


class BatchPolicy:
    """What the loops ask of a search each step. Set up here: `size` B, `pad_id`, `vocab` V, `max_lens` (B')
    the maximum output lengths of the sentences a step decodes, `max_len` L the longest, the token `rules`
    and `first_input` (R, 1) bos."""

    def __init__(self, model: Transformer, src: Tensor, *, rows_per_sentence: int, max_len_a: float,
                 max_len_b: int, min_len: int, bos_id: int, eos_id: int) -> None:
        B, device = src.size(0), src.device
        self.size, self.pad_id, self.vocab = B, model.pad_id, model.generator.out_features
        self.max_lens = max_output_lengths(src, pad_id=model.pad_id, max_len_a=max_len_a, max_len_b=max_len_b)  # (B,)
        # the earliest length at which a sentence must end, and L; one host read sizes the search
        self.first_forced, self.max_len = torch.stack([self.max_lens.min(), self.max_lens.max()]).tolist()
        self.rules = TokenRules(pad_id=model.pad_id, bos_id=bos_id, eos_id=eos_id, min_len=min_len, device=device)
        self.first_input = torch.full((B * rows_per_sentence, 1), bos_id, dtype=torch.long, device=device)

    def must_end(self, step: int) -> Tensor | None:
        """(B',) bool: the sentences whose generated token number step+1 is their last; None at the (common)
        steps where no sentence of the step has reached its maximum length."""
        return step + 1 >= self.max_lens if step + 1 >= self.first_forced else None

    # --- the hook ----------------------------------------------------------------------------------------

    def next_logp(self, inp: Tensor) -> Tensor:
        """inp (R, 1) token ids -> float32 log-probabilities (R, V) of the next token (rows in the order the
        last `advance` left them)."""
        raise NotImplementedError

    def going(self) -> Tensor | None:
        """(B',) bool: the step's sentences whose hypotheses may still finish (None: all of them)."""
        raise NotImplementedError

    def rows_of(self, t: Tensor) -> Tensor:
        """t (B, ...) a result of the whole batch -> its rows (B', ...) of the step's sentences (a copy when
        B' < B: write it back with `with_rows`)."""
        raise NotImplementedError

    def with_rows(self, t: Tensor, rows: Tensor) -> Tensor:
        """t (B, ...) with the step's sentences' rows set to rows (B', ...): the tensor to keep (t or rows)."""
        raise NotImplementedError

    def record_greedy(self, column: Tensor, logprob: Tensor, lengths: Tensor, tok_logp: Tensor, tok: Tensor) -> None:
        """A greedy step's tokens tok (B',) and their log-probabilities tok_logp (B',) into the results of the
        sentences still going, in place: column (B,) its output column, logprob (B,), lengths (B,)."""
        raise NotImplementedError

    def stop(self, step: int, done: Tensor) -> bool:
        """done (B',) bool: the step's sentences done after it -> whether the search is over."""
        raise NotImplementedError

    def advance(self, tok: Tensor, rows: Tensor | None = None, beams=None) -> Tensor:
        """Set up the next step: tok (B', G) the tokens it decodes, rows (B', G) the decoder row each continues
        (beam search; None: its own row), beams the BeamBuffers of a beam search -> the next input (R, 1)."""
        raise NotImplementedError

    def greedy_width(self, step: int, lengths: Tensor) -> int:
        """The number of output columns of a greedy search that stopped at `step` (lengths (B,))."""
        raise NotImplementedError
