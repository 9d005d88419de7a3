import builtins
import re
import sys
import types
from pathlib import Path

import pytest

from transformer_lab import prepare as prepare_cli
from transformer_lab.data import DataError, TranslationDataModule, build_corpus


def test_missing_datasets_package_gives_install_hint(monkeypatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    corpus = build_corpus({"kind": "hf", "path": "wmt/wmt14", "name": "de-en", "src_lang": "en", "tgt_lang": "de"})
    with pytest.raises(DataError, match=r"pip install 'transformer_lab\[hf\]'"):
        corpus.read("train")


def test_saved_to_disk_dataset_feeds_the_datamodule(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [{"translation": {"en": f"the dog {i} sees the cat .", "de": f"der Hund {i} sieht die Katze ."}}
            for i in range(40)]
    dataset = datasets.DatasetDict({
        "train": datasets.Dataset.from_list(rows),
        "validation": datasets.Dataset.from_list(rows[:5]),
        "test": datasets.Dataset.from_list(rows[5:9]),
    })
    dataset.save_to_disk(str(tmp_path / "ds"))
    dm = TranslationDataModule({"kind": "hf", "path": str(tmp_path / "ds"), "src_lang": "en", "tgt_lang": "de"},
                               vocab_size=300, min_frequency=1, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    assert dm.split_texts("test")[1][0] == "der Hund 5 sieht die Katze ."
    assert len(dm.dataset("train")) == 40


# ---- the Hub's WMT14: name and configs pinned without the network ---------------------------------------
class _Rows:
    """An in-memory table with the slice of the `datasets.Dataset` API the reader uses (column_names, iter)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows, self.column_names, self._fingerprint = rows, list(rows[0]), "fake"

    def __len__(self) -> int:
        return len(self.rows)

    def iter(self, batch_size: int):
        for start in range(0, len(self.rows), batch_size):
            chunk = self.rows[start:start + batch_size]
            yield {column: [row[column] for row in chunk] for column in self.column_names}


def fake_datasets(monkeypatch, pair: str) -> list[tuple]:
    """Put a module `datasets` whose load_dataset records its arguments into sys.modules; returns the record."""
    calls: list[tuple] = []
    other = pair.split("-")[0]

    def load_dataset(path, name=None, **kwargs):
        calls.append((path, name, kwargs))
        rows = [{"translation": {other: f"{other} {i}", "en": f"en {i}"}} for i in range(3)]
        return {"train": _Rows(rows), "validation": _Rows(rows[:2]), "test": _Rows(rows[:1])}

    module = types.ModuleType("datasets")
    module.load_dataset = load_dataset
    module.load_from_disk = lambda path: pytest.fail("a Hub name must not be read as a directory")
    monkeypatch.setitem(sys.modules, "datasets", module)
    return calls


@pytest.mark.parametrize(("task", "config", "tgt"), [("wmt14_en_de", "de-en", "de"), ("wmt14_en_fr", "fr-en", "fr")])
def test_prepare_source_hf_loads_wmt_wmt14(monkeypatch, tmp_path: Path, capsys, task: str, config: str,
                                           tgt: str) -> None:
    calls = fake_datasets(monkeypatch, config)
    assert prepare_cli.main([task, "--source", "hf", "--out", str(tmp_path / task)]) == 0
    assert calls == [("wmt/wmt14", config, {"revision": None})]
    assert (tmp_path / task / f"train.{tgt}").read_text(encoding="utf-8") == f"{tgt} 0\n{tgt} 1\n{tgt} 2\n"
    assert (tmp_path / task / "test.en").read_text(encoding="utf-8") == "en 0\n"
    assert "train 3 pairs, valid 2 pairs, test 1 pairs" in capsys.readouterr().out


@pytest.mark.parametrize(("path", "message"), [
    ("wmt14", r"not a directory and not a Hub dataset name of the form owner/name; use wmt/wmt14"),
    ("./not_saved_yet", r"no such directory"),
])
def test_a_path_that_is_neither_a_directory_nor_a_hub_name_is_refused(monkeypatch, path: str, message: str) -> None:
    calls = fake_datasets(monkeypatch, "de-en")
    corpus = build_corpus({"kind": "hf", "path": path, "name": "de-en", "src_lang": "en", "tgt_lang": "de"})
    with pytest.raises(DataError, match=rf"data\.corpus\.path='{re.escape(path)}': {message}"):
        corpus.read("train")
    assert calls == []


def test_the_hf_data_config_documents_the_namespaced_name() -> None:
    text = (Path(__file__).resolve().parents[2] / "conf" / "data" / "hf.yaml").read_text(encoding="utf-8")
    assert "data.corpus.path=wmt/wmt14 data.corpus.name=de-en" in text
    assert not re.search(r"path=wmt14\b", text)


@pytest.mark.parametrize(("error", "config"), [
    (FileNotFoundError("Dataset 'wmt/wmt41' doesn't exist on the Hub"), "de-en"),
    (ValueError("BuilderConfig 'en-de' not found. Available: ['cs-en', 'de-en', 'fr-en', 'hi-en', 'ru-en']"), "en-de"),
])
def test_a_load_failure_is_one_data_error(monkeypatch, error: Exception, config: str) -> None:
    fake_datasets(monkeypatch, "de-en")

    def failing(path, name=None, **kwargs):
        raise error

    sys.modules["datasets"].load_dataset = failing
    corpus = build_corpus({"kind": "hf", "path": "wmt/wmt41", "name": config, "src_lang": "en", "tgt_lang": "de"})
    with pytest.raises(DataError, match=rf"'wmt/wmt41' \(config '{config}'\) could not be loaded: {type(error).__name__}"):
        corpus.read("train")
