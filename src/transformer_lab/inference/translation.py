"""Translating lines of text with a trained module: batched beam (or greedy) search, n-best hypotheses with
their scores, and a warning instead of a crash for a line the model cannot take.

Shared by `translate` (the command line) and `inference.scoring` (evaluate on test files). A line is
whitespace-normalized and BPE-encoded; an empty line gets no hypotheses. A line the model cannot take (longer
than a learned position table, or whose maximum output length exceeds it) is reported through `warn` and
gets no hypotheses either, as does a line longer than `max_source_tokens` (attention costs grow with the
square of a line's length: a multi-megabyte line would otherwise run for hours); the other lines are
translated. A hypothesis never holds a line break (a byte-level vocabulary has "\\n", "\\r", U+2028 ...
pieces): each becomes a space, so output line i stays the translation of input line i. Scores are
length-normalized log-probabilities (GNMT penalty).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# the characters str.splitlines() breaks on: none may appear inside one output line
_LINE_BREAKS = str.maketrans({c: " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})

import numpy as np
import torch

from transformer_lab.data.batching.encoding import append_eos_and_pad
from transformer_lab.data.batching.samplers import EvalBatchSampler
from transformer_lab.data.readers.cleaning import normalize_whitespace
from transformer_lab.decoding.limits import max_output_lengths
from transformer_lab.decoding.search import search as search_with
from transformer_lab.special_tokens import PAD_ID

if TYPE_CHECKING:
    from transformer_lab.decoding.config import SearchConfig
    from transformer_lab.decoding.ensemble import Ensemble
    from transformer_lab.training.module.lightning_module import TranslationModule


@dataclass
class Hypothesis:
    """One translation of a line."""

    score: float  # length-normalized log-probability
    text: str  # detokenized


class LineTranslator:
    """Translates lists of text lines with a TranslationModule; a line the model cannot take is reported
    through `warn(line_number, reason)` and gets no hypotheses. `ensemble`: decode with these models (an
    Ensemble holding the module's own model and others of its vocabulary, `loading.ensemble_of`) instead of
    the module's model alone. With strategy `sample`, each line gets `search.samples` hypotheses, in the order
    drawn (n_best is for beam search)."""

    def __init__(self, module: TranslationModule, search: SearchConfig, *, n_best: int = 1, max_tokens: int = 4096,
                 device: str = "cpu", precision: str = "fp32", warn: Callable[[int, str], None] | None = None,
                 max_source_tokens: int | None = None, ensemble: Ensemble | None = None) -> None:
        self.module, self.search, self.n_best, self.max_tokens = module.to(device).eval(), search, n_best, max_tokens
        self.decoder = ensemble.to(device).eval() if ensemble is not None else None  # None: module.model
        if search.strategy == "sample" and n_best > 1:
            raise ValueError(f"n_best={n_best} is for beam search; sampling draws search.samples translations per "
                             f"line (now {search.samples})")
        self.n_out = search.samples if search.strategy == "sample" else n_best  # hypotheses per line
        self.max_source_tokens = max_source_tokens  # None: no limit but the model's own
        self.device, self.tokenizer = torch.device(device), module.tokenizer
        self.bf16 = precision == "bf16"
        if precision == "int8":  # int8 copies of the models (inference/int8.py); the search code is the same
            from transformer_lab.inference.int8 import check_int8_device, int8_copy

            check_int8_device(device, "--precision int8")
            self.module = int8_copy(self.module)
            self.decoder = int8_copy(self.decoder) if self.decoder is not None else None
        self.warn = warn or (lambda number, reason: print(f"warning: line {number}: {reason}", file=sys.stderr))

    def translate(self, lines: list[str], first_line_number: int = 1) -> list[list[Hypothesis]]:
        """Hypotheses (best first, up to n_best) for each line; [] for an empty or skipped line."""
        results: list[list[Hypothesis]] = [[] for _ in lines]
        pieces: list[list[int] | None] = []  # None: nothing to translate (empty, or refused)
        todo = []
        for i, line in enumerate(lines):
            text = normalize_whitespace(line)
            words = len(text.split())  # a lower bound on its tokens, known before (slowly) encoding a huge line
            if self.max_source_tokens is not None and words + 1 > self.max_source_tokens:
                self.warn(first_line_number + i, f"at least {words + 1} tokens (one per word, eos included), more "
                          f"than --max-source-tokens {self.max_source_tokens}; its output line is left empty")
                pieces.append(None)
                continue
            ids = self.tokenizer.encode(text) if text else None
            pieces.append(ids)
            problem = self.length_problem(len(ids) + 1) if ids is not None else None  # + 1: the source's eos
            if problem:
                self.warn(first_line_number + i, problem + "; its output line is left empty")
            elif ids is not None:
                todo.append(i)
        lengths = np.array([len(pieces[i]) + 1 for i in todo])
        # the evaluation sampler: length-sorted, padded batches of at most max_tokens (a long line alone)
        for batch in EvalBatchSampler(lengths, lengths, self.max_tokens):
            indices = [todo[j] for j in batch]
            try:
                hypotheses = self._search([pieces[i] for i in indices])
            except (ValueError, torch.cuda.OutOfMemoryError) as error:
                if len(indices) > 1:  # find the line(s) at fault: one at a time
                    hypotheses = [self._search_alone(pieces[i], first_line_number + i) for i in indices]
                else:
                    self.warn(first_line_number + indices[0], f"{error}; its output line is left empty")
                    hypotheses = [[]]
            for i, hyps in zip(indices, hypotheses):
                results[i] = hyps
        return results

    def length_problem(self, n_tokens: int) -> str | None:
        """Why a source of n_tokens (eos included) cannot be translated, or None. Only learned position
        tables have a limit (model.positional.max_len); the other schemes extend to any length."""
        if self.max_source_tokens is not None and n_tokens > self.max_source_tokens:
            return (f"{n_tokens} tokens (eos included), more than --max-source-tokens {self.max_source_tokens}; "
                    "raise it to translate this line")
        models = self.decoder.models if self.decoder is not None else [self.module.model]
        learned = [m.config.positional.max_len for m in models if m.config.positional.name == "learned"]
        if not learned:
            return None
        limit, search = min(learned), self.search  # an ensemble: its smallest table
        if n_tokens > limit:
            return (f"{n_tokens} tokens (eos included), more than the {limit} positions of the model's learned "
                    "position table (model.positional.max_len)")
        n_out = int(max_output_lengths(torch.tensor([[1] * n_tokens]), pad_id=PAD_ID, max_len_a=search.max_len_a,
                                       max_len_b=search.max_len_b))
        if n_out > limit:
            return (f"its maximum output length {n_out} (--max-len-a {search.max_len_a} x {n_tokens} tokens + "
                    f"--max-len-b {search.max_len_b}) exceeds the {limit} positions of the model's learned "
                    "position table; lower --max-len-a/--max-len-b")
        return None

    def _search_alone(self, pieces: list[int], line_number: int) -> list[Hypothesis]:
        try:
            return self._search([pieces])[0]
        except (ValueError, torch.cuda.OutOfMemoryError) as error:
            self.warn(line_number, f"{error}; its output line is left empty")
            return []

    def _search(self, pieces: list[list[int]]) -> list[list[Hypothesis]]:
        src = append_eos_and_pad(pieces)  # (B, S)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:
            if self.decoder is None:
                out = self.module.search(src.to(self.device), self.search, n_best=self.n_best)
            else:
                out = search_with(self.decoder, src.to(self.device), self.search, n_best=self.n_best)
        if self.n_out == 1:
            tokens, scores = out.tokens[:, None], out.scores[:, None]  # (B, 1, L), (B, 1)
        else:
            tokens, scores = out.nbest_tokens, out.nbest_scores  # (B, N, L), (B, N)
        return [
            [Hypothesis(float(score), self.tokenizer.decode(ids).translate(_LINE_BREAKS))
             for ids, score in zip(rows.tolist(), row_scores)]
            for rows, row_scores in zip(tokens, scores.tolist())
        ]


def translate_lines(module: TranslationModule, lines: Iterable[str], search: SearchConfig, max_tokens: int = 4096,
                    device: str = "cpu", ensemble: Ensemble | None = None, precision: str = "fp32") -> list[str]:
    """The 1-best text of every line ("" for an empty or skipped line); the first sample with strategy sample.
    `ensemble`: decode with it; `precision`: fp32, bf16 or int8 (LineTranslator)."""
    results = LineTranslator(module, search, max_tokens=max_tokens, device=device, precision=precision,
                             ensemble=ensemble).translate(list(lines))
    return [hyps[0].text if hyps else "" for hyps in results]
