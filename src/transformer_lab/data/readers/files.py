"""Corpora read from files: a directory of parallel text, or one file spec per split (text, tsv, WMT sgm/xml)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.corpora import SPLITS, Corpus, Pairs, check_aligned, iter_aligned
from transformer_lab.data.readers.textio import file_fingerprint, read_lines, stable_hash
from transformer_lab.data.wmt.formats import read_sgm_pair, read_tsv, read_wmt_xml


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
