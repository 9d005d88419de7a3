"""The streaming preparation against an in-memory reference computed here with plain lists and np.save."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from data_helpers import DE, EN, write_parallel

from transformer_lab.data import DataError, DataSettings, ParallelTextCorpus, Tokenizer, prepare, read_lines
from transformer_lab.data.cache import pipeline as cache_module
from transformer_lab.data.readers.cleaning import normalize_whitespace
from transformer_lab.data.readers.textio import iter_lines
from transformer_lab.data.tokenizers.sampling import reservoir_sample

SETTINGS = DataSettings(vocab_size=320, min_frequency=1, max_length=40, max_length_ratio=1.6, max_chars=200)


@pytest.fixture
def dirty_corpus(tmp_path: Path) -> Path:
    """Training pairs that hit every filter: empty sides, over max_chars, over max_length, bad ratio."""
    sources, targets = [], []
    for i in range(40):
        for en, de in zip(EN, DE):
            sources.append(f"{en} {i}")
            targets.append(f"{de}  {i}\t")
    sources[3], targets[7] = "   ", ""  # empty
    sources[11] = "x" * 201  # over max_chars
    sources[20] = " ".join(["wort"] * 39)  # over max_length subwords
    targets[30] = targets[30] + " und so weiter" * 3  # bad length ratio
    valid = (EN + [" ".join(["lang"] * 40)], DE + ["kurz"])  # dev keeps every line, even over-long ones
    return write_parallel(tmp_path / "dirty", {"train": (sources, targets), "valid": valid, "test": (EN, DE)})


def _reference(corpus_dir: Path, settings: DataSettings, out: Path) -> Counter:
    """The whole preparation in memory: every line in a list, one BPE call, np.save of whole arrays."""
    out.mkdir()
    src = [normalize_whitespace(s) for s in read_lines(corpus_dir / "train.en")]
    tgt = [normalize_whitespace(t) for t in read_lines(corpus_dir / "train.de")]
    kept = [(s, t) for s, t in zip(src, tgt) if s and t and len(s) <= settings.max_chars and len(t) <= settings.max_chars]
    tokenizer = Tokenizer.train([s for s, _ in kept] + [t for _, t in kept], settings.vocab_size, settings.min_frequency)
    dropped: Counter = Counter()
    rows = {"src": [], "tgt": []}
    for s, t in kept:
        s_ids, t_ids = tokenizer.encode(s), tokenizer.encode(t)
        if max(len(s_ids), len(t_ids)) > settings.max_length:
            dropped["long"] += 1
        elif max(len(s_ids), len(t_ids)) > settings.max_length_ratio * max(min(len(s_ids), len(t_ids)), 1):
            dropped["ratio"] += 1
        else:
            rows["src"].append(s_ids)
            rows["tgt"].append(t_ids)
    splits = {"train": rows}
    for split in ("valid", "test"):
        splits[split] = {side: [tokenizer.encode(normalize_whitespace(line))
                                for line in read_lines(corpus_dir / f"{split}.{lang}")]
                         for side, lang in (("src", "en"), ("tgt", "de"))}
    for split, sides in splits.items():
        for side, sentences in sides.items():
            np.save(out / f"{split}.{side}.tokens.npy", np.array([i for ids in sentences for i in ids], dtype=np.int32))
            np.save(out / f"{split}.{side}.offsets.npy", np.cumsum([0] + [len(ids) for ids in sentences], dtype=np.int64))
    tokenizer.save(out / "tokenizer.json")
    return dropped


def test_streaming_cache_is_byte_identical_to_the_in_memory_reference(dirty_corpus: Path, tmp_path: Path,
                                                                       monkeypatch) -> None:
    monkeypatch.setattr(cache_module, "_CHUNK", 7)  # many chunks, a partial last one
    prepared = prepare(ParallelTextCorpus(dirty_corpus, "en", "de"), SETTINGS, tmp_path / "cache", progress=False)
    dropped = _reference(dirty_corpus, SETTINGS, tmp_path / "reference")
    assert dropped["long"] and dropped["ratio"]  # the fixture exercises the subword filters
    references = sorted((tmp_path / "reference").iterdir())
    assert len(references) == 13  # tokenizer.json + 3 splits x 2 sides x (tokens, offsets)
    for reference in references:
        assert (prepared / reference.name).read_bytes() == reference.read_bytes(), reference.name
    manifest = cache_module.load_manifest(prepared)
    assert manifest["cleaning"]["train"]["read"] == 240
    assert manifest["cleaning"]["train"]["dropped"] == {
        "empty source or target": 2, "longer than max_chars characters": 1,
        "longer than max_length subwords": dropped["long"], "length ratio above max_length_ratio": dropped["ratio"]}


def test_a_bpe_sample_covering_the_corpus_gives_the_full_vocabulary(dirty_corpus: Path, tmp_path: Path) -> None:
    corpus = ParallelTextCorpus(dirty_corpus, "en", "de")
    full = prepare(corpus, SETTINGS, tmp_path / "cache", progress=False)
    covering = DataSettings(**{**SETTINGS.keyed(), "bpe_sample_sentences": 10_000})
    sampled = prepare(corpus, covering, tmp_path / "cache", progress=False)
    assert sampled != full  # the option is part of the cache key
    assert (sampled / "tokenizer.json").read_bytes() == (full / "tokenizer.json").read_bytes()


def test_a_small_bpe_sample_is_seeded_and_changes_the_vocabulary(dirty_corpus: Path, tmp_path: Path) -> None:
    corpus = ParallelTextCorpus(dirty_corpus, "en", "de")
    small = DataSettings(**{**SETTINGS.keyed(), "bpe_sample_sentences": 9})
    first = prepare(corpus, small, tmp_path / "a", progress=False)
    second = prepare(corpus, small, tmp_path / "b", progress=False)
    full = prepare(corpus, SETTINGS, tmp_path / "a", progress=False)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    assert (first / "tokenizer.json").read_bytes() != (full / "tokenizer.json").read_bytes()


def test_bpe_sample_must_be_positive() -> None:
    with pytest.raises(DataError, match="bpe_sample_sentences=0"):
        DataSettings(bpe_sample_sentences=0)


@pytest.mark.parametrize("longer", ["en", "de"])
def test_streamed_files_of_different_length_are_refused_with_both_counts(tmp_path: Path, longer: str) -> None:
    corpus_dir = write_parallel(tmp_path / "c", {"train": (EN, DE), "valid": (EN, DE), "test": (EN, DE)})
    with open(corpus_dir / f"train.{longer}", "a", encoding="utf-8") as handle:
        handle.write("one more\nand another\n")
    counts = {"en": 6, "de": 6, longer: 8}
    with pytest.raises(DataError, match=rf"train\.en has {counts['en']} lines but .*train\.de has {counts['de']}"):
        list(ParallelTextCorpus(corpus_dir, "en", "de").iter_pairs("train"))
    with pytest.raises(DataError, match="lines but"):
        prepare(ParallelTextCorpus(corpus_dir, "en", "de"), SETTINGS, tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache" / "tokenizers").glob("*.json"))  # nothing cached from a bad corpus


def test_iter_lines_reads_gzip_and_plain_alike(tmp_path: Path) -> None:
    raw = "\ufeffa\u2028b\r\nc\rd\n\nlast".encode()
    (tmp_path / "x.txt").write_bytes(raw)
    (tmp_path / "x.txt.gz").write_bytes(gzip.compress(raw))
    expected = ["a\u2028b", "c\rd", "", "last"]
    assert list(iter_lines(tmp_path / "x.txt")) == list(iter_lines(tmp_path / "x.txt.gz")) == expected


def test_reservoir_sample_is_uniform() -> None:
    inclusions = Counter()
    for seed in range(3000):
        inclusions.update(reservoir_sample(range(20), 5, seed))
    for item in range(20):  # each item is in the sample with probability 5/20
        assert abs(inclusions[item] / 3000 - 0.25) < 0.035, (item, inclusions[item])


def test_reservoir_sample_of_a_short_stream_is_the_stream() -> None:
    assert reservoir_sample(iter("abc"), 5, seed=0) == ["a", "b", "c"]
    assert reservoir_sample(range(100), 10, seed=4) == reservoir_sample(range(100), 10, seed=4)
