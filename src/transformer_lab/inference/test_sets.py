"""Which WMT test set a reference file is, for the evaluation record: sacreBLEU's signature names the test
set (`test:`, `lang:`) only when sacreBLEU fetched it itself, so a score on a file would not say whether it
is the paper's full newstest2014 (3,003 sentences) or sacreBLEU's filtered `wmt14` EN-DE set (2,737).

A reference is named when it is one the lab prepared: the parallel-text layout `prepare` writes
(`DIR/test.LANG` with `DIR/test.en` beside it = newstest2014, `DIR/valid.LANG` = newstest2013) or a WMT
SGML reference file it reads (`data/wmt/prepare.py` `TASKS`), with the set's known sentence count. A 2,737-line
German reference gets a warning instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WmtTestSet:
    """A WMT test set as the paper used it, and sacreBLEU's name for the same sentences."""

    name: str  # e.g. "newstest2014"
    version: str | None  # "full" for newstest2014 (the paper's), None where WMT shipped one version
    n_sentences: int
    sacrebleu: str  # sacreBLEU's test set holding the same sentences, e.g. "wmt14/full"

    def describe(self) -> str:
        version = f", {self.version}" if self.version else ""
        return f"{self.name}{version}, {self.n_sentences:,} sentences = sacreBLEU {self.sacrebleu}"

    def as_record(self) -> dict[str, Any]:
        return {**asdict(self), "described": self.describe()}


NEWSTEST2014_FULL = WmtTestSet("newstest2014", "full", 3003, "wmt14/full")
NEWSTEST2013 = WmtTestSet("newstest2013", None, 3000, "wmt13")
FILTERED_WMT14_EN_DE_SENTENCES = 2737  # sacreBLEU's `wmt14` en-de: the filtered newstest2014


def _prepared(tgt_lang: str) -> dict[tuple[str, str | None], WmtTestSet]:
    """(reference file name, source file that must be beside it or None) -> the set, for the references of
    `tgt_lang` that `prepare` reads (the WMT SGML files of `TASKS`) or writes (its parallel-text layout)."""
    from transformer_lab.data.wmt.prepare import TASKS

    named: dict[tuple[str, str | None], WmtTestSet] = {}
    for task in TASKS.values():
        if task.tgt == tgt_lang:
            named[(task.test[1], None)] = named[(f"test.{task.tgt}", f"test.{task.src}")] = NEWSTEST2014_FULL
            named[(task.dev[1], None)] = named[(f"valid.{task.tgt}", f"valid.{task.src}")] = NEWSTEST2013
    return named


def identify_test_set(ref: str | Path, tgt_lang: str | None, n_sentences: int) -> WmtTestSet | None:
    """The prepared WMT test set `ref` holds (by its name, the file beside it and its sentence count), or
    None when it is not one."""
    path = Path(ref)
    for (name, source), test_set in _prepared(tgt_lang or "").items():
        if path.name == name and (source is None or (path.parent / source).is_file()) \
                and n_sentences == test_set.n_sentences:
            return test_set
    return None


def reference_warning(tgt_lang: str | None, n_sentences: int) -> str | None:
    """A warning for a reference that looks like sacreBLEU's filtered wmt14 EN-DE set, else None."""
    if tgt_lang == "de" and n_sentences == FILTERED_WMT14_EN_DE_SENTENCES:
        return (f"{n_sentences:,} German references: this is sacreBLEU's filtered wmt14 set, not the paper's "
                f"full newstest2014 ({NEWSTEST2014_FULL.n_sentences:,} sentences, sacreBLEU "
                f"{NEWSTEST2014_FULL.sacrebleu}); scores on the two are not comparable")
    return None
