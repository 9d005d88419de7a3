"""Corpus readers: where the raw (source, target) text of each split comes from.

Every corpus answers two questions per split (`train`, `valid`, `test`): `read(split)` returns the
aligned raw lines, and `fingerprint(split)` returns a key that changes whenever that text would change
(the binarized cache is keyed by it). Which reader is used is chosen by the data config's `corpus`:

    corpus: builtin                      # generated toy EN -> pseudo-DE corpus (offline, seeded)
    corpus: parallel_text                # DIR/{train,valid,test}.{SRC,TGT}; dir/src_lang/tgt_lang on top
    corpus: {kind: tsv, train: a.tsv, valid: b.tsv, test: c.tsv}
    corpus: {kind: files, train: SPEC, valid: SPEC, test: SPEC}   # per-split format, see FilesCorpus
            (alias kind: wmt_test_sets, e.g. valid: {format: sgm, src: ..-src.en.sgm, ref: ..-ref.de.sgm})
    corpus: {kind: hf, path: NAME_OR_DIR, name: de-en, splits: {...}}
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

from transformer_lab.data.errors import DataError
from transformer_lab.data.textio import file_fingerprint, iter_lines, read_lines, stable_hash
from transformer_lab.data.wmt_formats import read_sgm_pair, read_tsv, read_wmt_xml

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


class ParallelTextCorpus(Corpus):
    """Plain text, one sentence per line: DIR/{train,valid,test}.{src_lang,tgt_lang}."""

    def __init__(self, dir: str | Path, src_lang: str, tgt_lang: str) -> None:
        if not dir or not src_lang or not tgt_lang:
            raise DataError(
                "corpus parallel_text needs `dir`, `src_lang` and `tgt_lang`, e.g. "
                "`data=parallel_text data.dir=/path/to/corpus data.src_lang=en data.tgt_lang=de`."
            )
        self.dir, self.src_lang, self.tgt_lang = Path(dir).expanduser(), src_lang, tgt_lang

    def paths(self, split: str) -> tuple[Path, Path]:
        return self.dir / f"{split}.{self.src_lang}", self.dir / f"{split}.{self.tgt_lang}"

    def check(self) -> None:
        layout = ", ".join(f"{s}.{self.src_lang}, {s}.{self.tgt_lang}" for s in SPLITS)
        if not self.dir.is_dir():
            raise DataError(f"Corpus directory not found: {self.dir}. Expected a directory holding {layout}.")
        for split in SPLITS:
            for path in self.paths(split):
                if not path.is_file():
                    raise DataError(
                        f"Missing file {path}. A parallel_text corpus directory must hold {layout} "
                        f"(one sentence per line, line N of .{self.src_lang} translates line N of "
                        f".{self.tgt_lang})."
                    )

    def read(self, split: str) -> Pairs:
        self.check()
        src_path, tgt_path = self.paths(split)
        sources, targets = read_lines(src_path), read_lines(tgt_path)
        check_aligned(sources, targets, str(src_path), str(tgt_path))
        return sources, targets

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        self.check()
        return iter_aligned(*self.paths(split))

    def fingerprint(self, split: str) -> str:
        self.check()
        return stable_hash(*(file_fingerprint(p) for p in self.paths(split)))


class FilesCorpus(Corpus):
    """Each split given by its own file spec, so WMT test sets can be used as they are shipped.

    SPEC is one of
      {format: text, src: PATH, tgt: PATH}
      {format: tsv, path: PATH, src_column: 0, tgt_column: 1}
      {format: sgm, src: newstest2014-deen-src.en.sgm, ref: newstest2014-deen-ref.de.sgm}
      {format: wmt_xml, path: wmttest2022.en-de.xml, translator: null}
    """

    FORMATS = {"text": ("src", "tgt"), "tsv": ("path",), "sgm": ("src", "ref"), "wmt_xml": ("path",)}

    def __init__(self, splits: Mapping[str, Mapping[str, Any]], src_lang: str = "src",
                 tgt_lang: str = "tgt") -> None:
        self.src_lang, self.tgt_lang = src_lang, tgt_lang
        self.specs: dict[str, dict[str, Any]] = {}
        for split in SPLITS:
            if split not in splits or splits[split] is None:
                raise DataError(f"corpus: missing the `{split}` entry; give a file spec for each of {SPLITS}.")
            spec = dict(splits[split])
            fmt = spec.get("format")
            if fmt not in self.FORMATS:
                raise DataError(f"corpus.{split}.format={fmt!r}; choose one of {sorted(self.FORMATS)}.")
            for key in self.FORMATS[fmt]:
                if not spec.get(key):
                    raise DataError(f"corpus.{split}: format {fmt} needs the key `{key}` (a file path).")
            self.specs[split] = spec

    def paths(self, split: str) -> list[Path]:
        return self._paths(split)

    def _paths(self, split: str) -> list[Path]:
        spec = self.specs[split]
        return [Path(spec[k]).expanduser() for k in self.FORMATS[spec["format"]]]

    def check(self) -> None:
        for split in SPLITS:
            for path in self._paths(split):
                if not path.is_file():
                    raise DataError(f"Missing file {path} (corpus.{split}, format {self.specs[split]['format']}).")

    def read(self, split: str) -> Pairs:
        self.check()
        spec, paths = self.specs[split], self._paths(split)
        fmt = spec["format"]
        if fmt == "text":
            sources, targets = read_lines(paths[0]), read_lines(paths[1])
            check_aligned(sources, targets, str(paths[0]), str(paths[1]))
            return sources, targets
        if fmt == "tsv":
            return read_tsv(paths[0], int(spec.get("src_column", 0)), int(spec.get("tgt_column", 1)))
        if fmt == "sgm":
            return read_sgm_pair(paths[0], paths[1])
        return read_wmt_xml(paths[0], self.src_lang, self.tgt_lang, spec.get("translator"))

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        if self.specs[split]["format"] != "text":  # tsv, sgm, xml: test-set sized files, read whole
            return super().iter_pairs(split)
        self.check()
        return iter_aligned(*self._paths(split))

    def fingerprint(self, split: str) -> str:
        self.check()
        spec = {k: v for k, v in self.specs[split].items()}
        return stable_hash(sorted(spec.items()), *(file_fingerprint(p) for p in self._paths(split)))


def build_corpus(spec: str | Mapping[str, Any], dir: str | None = None, src_lang: str | None = None,
                 tgt_lang: str | None = None) -> Corpus:
    """The corpus described by the data config (see module docstring)."""
    options: dict[str, Any] = {"kind": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("kind", None)
    src_lang = options.pop("src_lang", None) or src_lang
    tgt_lang = options.pop("tgt_lang", None) or tgt_lang
    if kind == "builtin":
        from transformer_lab.data.builtin import BuiltinCorpus

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
        from transformer_lab.data.hf import HFCorpus

        return HFCorpus(src_lang=src_lang, tgt_lang=tgt_lang, **options)
    raise DataError(
        f"Unknown corpus kind {kind!r}. Use one of: builtin, parallel_text, tsv, files (alias wmt_test_sets), hf "
        f"(see conf/data/*.yaml for examples)."
    )
