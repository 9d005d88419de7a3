"""`build_corpus`: the corpus a data config's `corpus` setting names.

    corpus: builtin                      # generated toy EN -> pseudo-DE corpus (offline, seeded)
    corpus: parallel_text                # DIR/{train,valid,test}.{SRC,TGT}; dir/src_lang/tgt_lang on top
    corpus: {kind: tsv, train: a.tsv, valid: b.tsv, test: c.tsv}
    corpus: {kind: files, train: SPEC, valid: SPEC, test: SPEC}   # per-split format, see FilesCorpus
            (alias kind: wmt_test_sets, e.g. valid: {format: sgm, src: ..-src.en.sgm, ref: ..-ref.de.sgm})
    corpus: {kind: hf, path: NAME_OR_DIR, name: de-en, splits: {...}}

The one module that knows every reader; the readers know only the `Corpus` interface (`corpora.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from transformer_lab.data.builtin.corpus import BuiltinCorpus
from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.corpora import SPLITS, Corpus
from transformer_lab.data.readers.files import FilesCorpus, ParallelTextCorpus
from transformer_lab.data.readers.hf import HFCorpus


def build_corpus(spec: str | Mapping[str, Any], dir: str | None = None, src_lang: str | None = None,
                 tgt_lang: str | None = None) -> Corpus:
    """The corpus described by the data config (see module docstring)."""
    options: dict[str, Any] = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("kind", None)
    src_lang = options.pop("src_lang", None) or src_lang
    tgt_lang = options.pop("tgt_lang", None) or tgt_lang
    if kind == "builtin":
        return BuiltinCorpus(**options)
    if kind == "parallel_text":
        return ParallelTextCorpus(options.pop("dir", None) or dir, src_lang, tgt_lang)
    if kind == "tsv":
        splits = {}
        for split in SPLITS:
            splits[split] = {"format": "tsv", "path": options.get(split),
                             "src_column": options.get("src_column", 0),
                             "tgt_column": options.get("tgt_column", 1)}
        return FilesCorpus(splits, src_lang or "src", tgt_lang or "tgt")
    if kind in ("files", "wmt_test_sets"):  # wmt_test_sets: an alias that reads better for sgm/xml specs
        return FilesCorpus(options, src_lang or "src", tgt_lang or "tgt")
    if kind == "hf":
        return HFCorpus(src_lang=src_lang, tgt_lang=tgt_lang, **options)
    raise DataError(
        f"Unknown corpus kind {kind!r}. Use one of: builtin, parallel_text, tsv, files (alias wmt_test_sets), hf "
        f"(see conf/data/*.yaml for examples)."
    )
