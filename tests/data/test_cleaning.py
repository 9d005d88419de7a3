from pathlib import Path

import numpy as np
import pytest
from data_helpers import DE, EN, write_parallel

from transformer_lab.data import DataError, DataSettings, ParallelTextCorpus, normalize_whitespace, prepare
from transformer_lab.data.cache.dataset import TranslationDataset
from transformer_lab.data.cache.pipeline import load_manifest
from transformer_lab.data.readers.cleaning import BAD_RATIO, EMPTY, TOO_MANY_TOKENS, CleaningReport, length_filter


def test_whitespace_is_normalized() -> None:
    assert normalize_whitespace("  a \t b\u2028c\u00a0 d  ") == "a b c d"


def test_length_filter_counts_each_reason() -> None:
    report = CleaningReport("train", 4)
    keep = length_filter(np.array([3, 300, 2, 10]), np.array([3, 3, 9, 11]), max_length=250, max_ratio=1.5,
                         report=report)
    assert keep.tolist() == [True, False, False, True]
    assert report.dropped == {TOO_MANY_TOKENS: 1, BAD_RATIO: 1}


def test_empty_training_split_reports_counts_per_reason(tmp_path: Path) -> None:
    train = (["", "x", "word " * 400], ["y", "  ", "Wort"])
    corpus = write_parallel(tmp_path / "c", {"train": train, "valid": (EN, DE), "test": (EN, DE)})
    with pytest.raises(DataError) as err:
        prepare(ParallelTextCorpus(corpus, "en", "de"), DataSettings(vocab_size=300, max_chars=1024), tmp_path / "cache")
    message = str(err.value)
    assert "read 3 lines" in message
    assert f"2 dropped as {EMPTY}" in message and "1 dropped as longer than max_chars" in message


def test_overlong_training_pairs_dropped_dev_test_kept(tmp_path: Path, caplog) -> None:
    long_en, long_de = " ".join(["word"] * 60), " ".join(["Wort"] * 60)
    train = (EN * 5 + [long_en], DE * 5 + [long_de])
    corpus = write_parallel(tmp_path / "c", {"train": train, "valid": (EN + [long_en], DE + [long_de]),
                                             "test": ([long_en] + EN, [long_de] + DE)})
    settings = DataSettings(vocab_size=300, min_frequency=1, max_length=40, max_length_ratio=3.0)
    with caplog.at_level("INFO"):
        directory = prepare(ParallelTextCorpus(corpus, "en", "de"), settings, tmp_path / "cache", progress=False)
    cleaning = load_manifest(directory)["cleaning"]
    assert cleaning["train"] == {"read": 31, "kept": 30, "dropped": {TOO_MANY_TOKENS: 1}}
    assert "1 longer than max_length subwords" in caplog.text  # counted in the log
    assert len(TranslationDataset(directory, "valid")) == 7 and len(TranslationDataset(directory, "test")) == 7
    assert TranslationDataset(directory, "test").src_lengths[0] > 40  # kept whole, in file order
