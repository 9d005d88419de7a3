from pathlib import Path

import pytest

from transformer_lab.data import DataError, ParallelTextCorpus, build_corpus

from data_helpers import DE, EN, write_parallel


def test_line_count_mismatch_names_both_files_and_counts(tmp_path: Path) -> None:
    corpus = write_parallel(tmp_path, {s: (EN, DE) for s in ("train", "valid", "test")})
    (corpus / "train.de").write_text("".join(t + "\n" for t in DE[:-1]), encoding="utf-8")
    with pytest.raises(DataError) as err:
        ParallelTextCorpus(corpus, "en", "de").read("train")
    message = str(err.value)
    assert "train.en has 6 lines" in message and "train.de has 5" in message


def test_missing_split_file_names_path_and_layout(tmp_path: Path) -> None:
    corpus = write_parallel(tmp_path, {s: (EN, DE) for s in ("train", "valid")})
    with pytest.raises(DataError) as err:
        ParallelTextCorpus(corpus, "en", "de").check()
    assert str(corpus / "test.en") in str(err.value)
    assert "test.en, test.de" in str(err.value)  # the expected layout


def test_missing_directory_names_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Corpus directory not found: .*nowhere.*train.en, train.de"):
        ParallelTextCorpus(tmp_path / "nowhere", "en", "de").check()


def test_parallel_text_needs_dir() -> None:
    with pytest.raises(DataError, match="data.dir="):
        build_corpus("parallel_text", None, "en", "de")


def test_unknown_corpus_kind() -> None:
    with pytest.raises(DataError, match="Unknown corpus kind 'nope'"):
        build_corpus({"kind": "nope"})


def test_files_corpus_mixes_formats(tmp_path: Path) -> None:
    (tmp_path / "train.tsv").write_text("a\tA\nb\tB\n", encoding="utf-8")
    (tmp_path / "v.en").write_text("c\n", encoding="utf-8")
    (tmp_path / "v.de").write_text("C\n", encoding="utf-8")
    corpus = build_corpus({
        "kind": "files",
        "train": {"format": "tsv", "path": str(tmp_path / "train.tsv")},
        "valid": {"format": "text", "src": str(tmp_path / "v.en"), "tgt": str(tmp_path / "v.de")},
        "test": {"format": "text", "src": str(tmp_path / "v.en"), "tgt": str(tmp_path / "v.de")},
    })
    assert corpus.read("train") == (["a", "b"], ["A", "B"])
    assert corpus.read("valid") == (["c"], ["C"])
