"""Cleaning of sentence pairs, with a count for every reason a pair was dropped.

Every split gets whitespace normalization. Only the training split is filtered (empty pairs, too long,
bad length ratio): dev and test keep every line, in order, so BLEU is computed over the official set.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from transformer_lab.data.errors import DataError

log = logging.getLogger(__name__)

EMPTY = "empty source or target"
TOO_MANY_CHARS = "longer than max_chars characters"
TOO_MANY_TOKENS = "longer than max_length subwords"
BAD_RATIO = "length ratio above max_length_ratio"


def normalize_whitespace(text: str) -> str:
    """Strip, and collapse every run of Unicode whitespace (incl. U+2028/U+2029, tabs) to one space."""
    return " ".join(text.split())


@dataclass
class CleaningReport:
    """How many pairs of one split were read and kept, and why the others were dropped."""

    split: str
    read: int
    dropped: Counter = field(default_factory=Counter)

    @property
    def kept(self) -> int:
        return self.read - sum(self.dropped.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in self.dropped.most_common()) or "none dropped"
        return f"{self.split}: read {self.read} pairs, kept {self.kept} ({reasons})"

    def require_nonempty(self, origin: str, settings: str) -> None:
        if self.kept == 0:
            reasons = "; ".join(f"{n} dropped as {reason}" for reason, n in self.dropped.items())
            raise DataError(
                f"The {self.split} split of {origin} is empty after cleaning: read {self.read} lines; "
                f"{reasons or 'the files hold no lines'}. Check the files, or relax {settings}."
            )


def clean_eval_split(split: str, sources: list[str], targets: list[str]) -> tuple[list[str], list[str], CleaningReport]:
    """Whitespace normalization only: every line is kept, in order (even empty or over-long ones)."""
    return ([normalize_whitespace(s) for s in sources], [normalize_whitespace(t) for t in targets],
            CleaningReport(split, len(sources)))


def clean_train_pairs(pairs: Iterable[tuple[str, str]], max_chars: int,
                      report: CleaningReport) -> Iterator[tuple[str, str]]:
    """Normalize whitespace; drop pairs with an empty side or a side over `max_chars` characters.

    A stream: pairs are read, counted in `report` (read and dropped) and yielded one at a time, so memory
    does not grow with the corpus."""
    for src, tgt in pairs:
        report.read += 1
        src, tgt = normalize_whitespace(src), normalize_whitespace(tgt)
        if not src or not tgt:
            report.dropped[EMPTY] += 1
        elif len(src) > max_chars or len(tgt) > max_chars:
            report.dropped[TOO_MANY_CHARS] += 1
        else:
            yield src, tgt


def length_filter(src_lengths: np.ndarray, tgt_lengths: np.ndarray, max_length: int, max_ratio: float,
                  report: CleaningReport) -> np.ndarray:
    """Boolean keep-mask over training pairs by subword length and length ratio; counts go to `report`."""
    src_lengths = np.asarray(src_lengths)
    tgt_lengths = np.asarray(tgt_lengths)
    too_long = (src_lengths > max_length) | (tgt_lengths > max_length)
    shorter = np.maximum(np.minimum(src_lengths, tgt_lengths), 1)
    longer = np.maximum(src_lengths, tgt_lengths)
    bad_ratio = ~too_long & (longer > max_ratio * shorter)
    empty = ~too_long & ~bad_ratio & (np.minimum(src_lengths, tgt_lengths) == 0)
    for reason, mask in ((TOO_MANY_TOKENS, too_long), (BAD_RATIO, bad_ratio), (EMPTY, empty)):
        if mask.any():
            report.dropped[reason] += int(mask.sum())
    return ~(too_long | bad_ratio | empty)


def log_reports(reports: list[CleaningReport]) -> None:
    """Log each split's counts, and show them as a small rich table when a console is attached."""
    for report in reports:
        log.info("cleaning %s", report.summary())
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        return
    console = Console(stderr=True)
    if not console.is_terminal:
        return
    table = Table(title="Data cleaning")
    for column in ("split", "read", "kept", "dropped (reason: count)"):
        table.add_column(column)
    for report in reports:
        reasons = ", ".join(f"{r}: {n}" for r, n in report.dropped.most_common()) or "-"
        table.add_row(report.split, str(report.read), str(report.kept), reasons)
    console.print(table)
