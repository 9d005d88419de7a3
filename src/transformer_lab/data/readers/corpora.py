"""The corpus interface: where the raw (source, target) text of each split comes from.

Every corpus answers two questions per split (`train`, `valid`, `test`): `read(split)` returns the
aligned raw lines, and `fingerprint(split)` returns a key that changes whenever that text would change
(the binarized cache is keyed by it). The readers: `file_corpora.py` (text, tsv, sgm, xml files),
`builtin.py` (the generated toy corpus), `hf.py` (Hugging Face datasets); `corpus_factory.build_corpus`
picks one from the data config's `corpus`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence, Sized
from pathlib import Path

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.textio import iter_lines

SPLITS = ("train", "valid", "test")
Pairs = tuple[list[str], list[str]]


class Corpus(ABC):
    """A source of aligned raw text for the three splits."""

    src_lang: str = "src"
    tgt_lang: str = "tgt"

    @abstractmethod
    def read(self, split: str) -> Pairs:
        """(sources, targets) of `split` as raw lines, same length, in file order."""

    @abstractmethod
    def fingerprint(self, split: str) -> str:
        """Changes whenever `read(split)` would return different text."""

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """The pairs of `read(split)`, one at a time. Readers of big files override it to stream (memory
        independent of the corpus size); the default reads the split whole."""
        yield from zip(*self.read(split))

    def check(self) -> None:
        """Cheap checks (files exist) before any expensive work; raise DataError if something is wrong."""

    def paths(self, split: str) -> Sequence[Path]:
        """The files `split` is read from, for messages (none for generated or downloaded corpora)."""
        return ()


def check_aligned(sources: Sized, targets: Sized, src_name: str, tgt_name: str) -> None:
    if len(sources) != len(targets):
        raise DataError(
            f"{src_name} has {len(sources)} lines but {tgt_name} has {len(targets)}: a parallel corpus "
            f"needs exactly one target line per source line. Fix the files (a stray newline or a "
            f"missing line); nothing is truncated automatically."
        )


def iter_aligned(src_path: Path, tgt_path: Path) -> Iterator[tuple[str, str]]:
    """Line pairs of two text files, streamed; `check_aligned`'s error if their line counts differ."""
    counts = [0, 0]
    for pair in itertools.zip_longest(iter_lines(src_path), iter_lines(tgt_path)):
        counts[0] += pair[0] is not None
        counts[1] += pair[1] is not None
        if None in pair:  # one file is longer: count the rest of it for the message
            continue
        yield pair
    check_aligned(range(counts[0]), range(counts[1]), str(src_path), str(tgt_path))
