"""The tokenized BLEU of the paper's Tables 2 and 3, as tensor2tensor computed it (`get_ende_bleu.sh`).

The pipeline, one step per function:
1. `moses_tokenize`: Moses `tokenizer.perl -l LANG` (no `-a`, with its HTML escaping: `"` -> `&quot;`,
   `'` -> `&apos;`, `&` -> `&amp;`, ...) of hypotheses and references, through `sacremoses`;
2. `split_compounds` (German only): `perl -ple 's{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g'`;
3. `tokenized_bleu`: `multi-bleu.perl` on the result: corpus BLEU on whitespace tokens, no smoothing,
   which is sacreBLEU's BLEU with `tokenize="none"` and `smooth_method="none"`.

French (EN-FR) gets step 1 and 3 only, as in the reference pipeline. The number is "tokenized BLEU (as in
the paper)": comparable with the paper's 27.3 / 28.4 / 41.0 only in this form. sacreBLEU stays the number
to publish (its signature says how it was computed; this one depends on a tokenizer's version).

Where a Python port could drift from the Perl originals, the functions below reproduce the Perl; the
tests run the Perl scripts themselves (`mosestokenizer`'s bundled `tokenizer.perl`, the `multi-bleu.perl`
that `texar-pytorch` ships) on sentences where 13a and Moses differ.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sacrebleu.metrics.bleu import BLEUScore
    from sacremoses import MosesTokenizer

COMPOUND_SPLIT_LANGUAGES = frozenset({"de"})  # t2t splits compounds for EN-DE only
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")  # what `tgt_lang` must look like (an ISO 639 code: de, fr, ...)

# `perl -ple` reads bytes (no -C), so its \S is "not ASCII whitespace" and each byte of a UTF-8 character
# is one \S. Python's bytes patterns have the same \s ([ \t\n\r\f\v]); a str pattern would take one whole
# character per \S, which differs on chains like "ü-ü-ü" (Perl splits both hyphens, str patterns one).
_HYPHEN_BETWEEN_NON_SPACES = re.compile(rb"(\S)-(\S)")

# Python's \s (used by sacremoses to collapse spaces) includes \x1c-\x1f, Perl's does not: tokenizer.perl
# deletes these four as "ASCII junk" instead of turning them into a space.
_NOT_PERL_SPACE = re.compile("[\x1c-\x1f]")

# Prefixes tokenizer.perl of the paper's time treats as non-breaking (a following "." stays attached) that
# sacremoses' current list lacks: French "a" (`mosestokenizer`'s copy of Moses' nonbreaking_prefix.fr has
# it: "Il y en a." stays one token "a." there). Checked against that script in tests.
_PREFIXES_MISSING_FROM_SACREMOSES = {"fr": ("a",)}


def split_compounds(line: str) -> str:
    """tensor2tensor's `##AT##` splitting, byte for byte as Perl does it: `a-b` -> `a ##AT##-##AT## b`.

    Matches do not overlap (Perl's /g resumes after each match), so in `a-b-c` the second hyphen's left
    character was consumed by the first match and stays joined: `a ##AT##-##AT## b-c`. A middle part of
    two or more bytes is split on both sides (`Nord-Süd-Verbindung`, and `x-ä-y`, since `ä` is two bytes)."""
    return _HYPHEN_BETWEEN_NON_SPACES.sub(rb"\1 ##AT##-##AT## \2", line.encode("utf-8")).decode("utf-8")


@lru_cache(maxsize=8)
def _moses(lang: str) -> MosesTokenizer:
    from sacremoses import MosesTokenizer

    tokenizer = MosesTokenizer(lang=lang)
    tokenizer.NONBREAKING_PREFIXES.extend(_PREFIXES_MISSING_FROM_SACREMOSES.get(lang, ()))
    return tokenizer


def moses_tokenize(line: str, lang: str) -> str:
    """`tokenizer.perl -l LANG` of one line (default rules: no aggressive hyphen splitting; escaping on)."""
    line = _NOT_PERL_SPACE.sub("", line)
    if line.isspace() or not line:
        return line  # tokenizer.perl prints a blank line as it is
    return _moses(lang).tokenize(line, aggressive_dash_splits=False, escape=True, return_str=True)


# the references are the same at every validation of a run: tokenized once (Moses and the split took 0.8 s of
# 1.1 s for 3,000 pairs, on an AMD EPYC), not per validation; bounded, as the hypotheses change every time
@lru_cache(maxsize=1 << 16)
def paper_tokenize(line: str, lang: str) -> str:
    """A hypothesis or reference as the paper's BLEU sees it: Moses-tokenized, compounds split for German."""
    tokens = moses_tokenize(line, lang)
    return split_compounds(tokens) if lang in COMPOUND_SPLIT_LANGUAGES else tokens


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str], tgt_lang: str) -> BLEUScore:
    """The paper's tokenized BLEU of detokenized `hypotheses` against one reference each, in `tgt_lang`
    (an ISO code: `de`, `fr`, ...). Returns sacreBLEU's score object (`.score`, precisions, lengths)."""
    from sacrebleu.metrics import BLEU

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not isinstance(tgt_lang, str) or not LANGUAGE_CODE.fullmatch(tgt_lang):
        raise ValueError(f"tgt_lang must be a language code like 'de' or 'fr', got {tgt_lang!r}")
    hyps = [paper_tokenize(h, tgt_lang) for h in hypotheses]
    refs = [paper_tokenize(r, tgt_lang) for r in references]
    # multi-bleu.perl: whitespace tokens (already tokenized, hence force), no smoothing (a zero n-gram
    # precision gives 0), closest reference length.
    return BLEU(tokenize="none", force=True, smooth_method="none").corpus_score(hyps, [refs])
