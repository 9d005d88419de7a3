"""Hugging Face `datasets` as a corpus: a dataset saved with `save_to_disk`, or one loaded by name.

`datasets` is an optional dependency (`pip install transformer_lab[hf]`) and is imported only here, only
when an `hf` corpus is used. Loading by name downloads on first use; nothing else in the project does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.corpora import SPLITS, Corpus, Pairs
from transformer_lab.data.readers.textio import stable_hash

_BATCH = 10_000
DEFAULT_SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise DataError(
            "corpus kind `hf` needs the Hugging Face `datasets` package: "
            "`pip install 'transformer_lab[hf]'` (or `pip install datasets`)."
        ) from None
    return datasets


def check_hub_name(path: str) -> None:
    """Refuse what is neither an existing directory nor a Hub name `owner/name` (recent `datasets` refuse
    names without a namespace: the Hub's WMT14 is `wmt/wmt14`, not `wmt14`)."""
    if path.startswith(("/", ".", "~")) or "\\" in path:
        raise DataError(f"data.corpus.path={path!r}: no such directory (a dataset written by save_to_disk); "
                        f"check the path, or give a Hub name such as wmt/wmt14.")
    owner, _, name = path.partition("/")
    if not owner or not name or "/" in name:
        hint = f"wmt/{path}" if path.startswith("wmt") else "OWNER/NAME"
        raise DataError(f"data.corpus.path={path!r}: not a directory and not a Hub dataset name of the form "
                        f"owner/name; use {hint} (e.g. wmt/wmt14 with data.corpus.name=de-en).")


class HFCorpus(Corpus):
    """Rows are either `{"translation": {src_lang: .., tgt_lang: ..}}` (WMT on the Hub) or have
    `src_field`/`tgt_field` columns."""

    def __init__(self, path: str, src_lang: str | None, tgt_lang: str | None, name: str | None = None,
                 splits: Mapping[str, str] | None = None, src_field: str | None = None,
                 tgt_field: str | None = None, revision: str | None = None) -> None:
        if not path:
            raise DataError("corpus kind hf needs `path`: a Hub dataset name (e.g. wmt/wmt14) or a save_to_disk dir.")
        if not (src_field and tgt_field) and not (src_lang and tgt_lang):
            raise DataError("corpus kind hf needs src_lang/tgt_lang (translation dicts) or src_field/tgt_field.")
        self.path, self.name, self.revision = path, name, revision
        self.src_lang, self.tgt_lang = src_lang or "src", tgt_lang or "tgt"
        self.split_names = {**DEFAULT_SPLITS, **dict(splits or {})}
        self.src_field, self.tgt_field = src_field, tgt_field
        self._dataset: Any = None

    def _load(self) -> Any:
        if self._dataset is None:
            datasets = import_datasets()
            local = Path(self.path).expanduser()
            if local.is_dir():
                self._dataset = datasets.load_from_disk(str(local))
            else:
                check_hub_name(self.path)
                try:
                    self._dataset = datasets.load_dataset(self.path, self.name, revision=self.revision)
                except (OSError, ValueError, ConnectionError) as err:  # not found, bad config, network
                    raise DataError(
                        f"Hugging Face dataset {self.path!r} (config {self.name!r}) could not be loaded: "
                        f"{type(err).__name__}: {err}. Check data.corpus.path / data.corpus.name (WMT14: "
                        f"wmt/wmt14 with de-en or fr-en) and the network."
                    ) from None
            missing = [s for s in SPLITS if self.split_names[s] not in self._dataset]
            if missing:
                raise DataError(
                    f"Hugging Face dataset {self.path!r} has splits {list(self._dataset)}; "
                    f"map {missing} with corpus.splits, e.g. {{valid: validation}}."
                )
        return self._dataset

    def read(self, split: str) -> Pairs:
        pairs = list(self.iter_pairs(split))
        return [src for src, _ in pairs], [tgt for _, tgt in pairs]

    def iter_pairs(self, split: str) -> Iterator[tuple[str, str]]:
        """Rows in batches of `_BATCH` from the memory-mapped Arrow table (memory independent of its size)."""
        table = self._load()[self.split_names[split]]
        if self.src_field and self.tgt_field:
            for batch in table.iter(batch_size=_BATCH):
                yield from zip(batch[self.src_field], batch[self.tgt_field])
            return
        if "translation" not in table.column_names:
            raise DataError(
                f"Dataset {self.path!r} split {self.split_names[split]!r} has columns {table.column_names}; "
                f"set corpus.src_field and corpus.tgt_field."
            )
        for batch in table.iter(batch_size=_BATCH):
            try:
                yield from ((r[self.src_lang], r[self.tgt_lang]) for r in batch["translation"])
            except KeyError as err:
                raise DataError(f"Dataset {self.path!r}: translation dicts have no language {err}.") from None

    def fingerprint(self, split: str) -> str:
        table = self._load()[self.split_names[split]]
        return stable_hash(self.path, self.name, getattr(table, "_fingerprint", None), len(table))
