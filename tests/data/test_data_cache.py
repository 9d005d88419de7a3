import multiprocessing
import time
from pathlib import Path

import pytest

from transformer_lab.data import DataSettings, ParallelTextCorpus, TranslationDataset, prepare
from transformer_lab.data.cache import pipeline as cache_module

SETTINGS = DataSettings(vocab_size=300, min_frequency=1, max_length_ratio=3.0)


def test_cache_is_reused_when_inputs_are_unchanged(tiny_corpus: Path, tmp_path: Path, monkeypatch) -> None:
    corpus = ParallelTextCorpus(tiny_corpus, "en", "de")
    first = prepare(corpus, SETTINGS, tmp_path / "cache")
    monkeypatch.setattr(cache_module, "_build", lambda *a, **k: pytest.fail("rebuilt an unchanged corpus"))
    start = time.perf_counter()
    assert prepare(ParallelTextCorpus(tiny_corpus, "en", "de"), SETTINGS, tmp_path / "cache") == first
    assert time.perf_counter() - start < 1.0


def test_cache_is_rebuilt_when_a_file_changes(tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = ParallelTextCorpus(tiny_corpus, "en", "de")
    first = prepare(corpus, SETTINGS, tmp_path / "cache")
    lines = (tiny_corpus / "valid.de").read_text(encoding="utf-8").splitlines()
    lines[0] = "ein ganz anderer Satz ."  # same line count, different content
    (tiny_corpus / "valid.de").write_text("\n".join(lines) + "\n", encoding="utf-8")
    second = prepare(ParallelTextCorpus(tiny_corpus, "en", "de"), SETTINGS, tmp_path / "cache")
    assert second != first
    assert TranslationDataset(second, "valid").tgt_lengths[0] != TranslationDataset(first, "valid").tgt_lengths[0]


def test_cache_is_rebuilt_when_settings_change(tiny_corpus: Path, tmp_path: Path) -> None:
    corpus = ParallelTextCorpus(tiny_corpus, "en", "de")
    first = prepare(corpus, SETTINGS, tmp_path / "cache")
    other = DataSettings(vocab_size=280, min_frequency=1, max_length_ratio=3.0)
    assert prepare(corpus, other, tmp_path / "cache") != first


def _prepare_in_child(args: tuple[str, str]) -> str:
    corpus_dir, cache_dir = args
    return str(prepare(ParallelTextCorpus(corpus_dir, "en", "de"), SETTINGS, cache_dir, progress=False))


def test_concurrent_prepare_builds_once(tiny_corpus: Path, tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(3) as pool:
        results = pool.map(_prepare_in_child, [(str(tiny_corpus), str(tmp_path / "cache"))] * 3)
    assert len(set(results)) == 1
    entries = [p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert sorted(entries) == sorted([Path(results[0]).name, "tokenizers"])  # no leftover temp dirs
    assert len(TranslationDataset(results[0], "train")) == 60
