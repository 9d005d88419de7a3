import builtins
from pathlib import Path

import pytest

from transformer_lab.data import DataError, TranslationDataModule, build_corpus


def test_missing_datasets_package_gives_install_hint(monkeypatch) -> None:
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("No module named 'datasets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    corpus = build_corpus({"kind": "hf", "path": "wmt14", "name": "de-en", "src_lang": "en", "tgt_lang": "de"})
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
