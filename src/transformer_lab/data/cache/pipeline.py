"""Text -> cleaned pairs -> joint BPE -> binarized arrays, built once and cached, in bounded memory.

Every step streams: the training split is read pair by pair from the corpus (`Corpus.iter_pairs`) and
cleaned as it goes, the BPE is trained from an iterator (on all cleaned sentences, or on a reservoir
sample of `bpe_sample_sentences` of them), and binarizing encodes chunks of `_CHUNK` pairs and appends
them to the memory-mapped arrays. Peak memory depends on the chunk, the BPE sample and the vocabulary,
not on the corpus size (docs/PERFORMANCE.md, data section). The training split is read twice (BPE,
then binarizing); the dev and test sets are small and read whole.

Cache keys: the tokenizer is keyed by the training split's fingerprint + vocabulary settings (or by the
`tokenizer_file`'s fingerprint); the binarized data by the tokenizer key + every split's fingerprint +
filter settings. A file fingerprint is its content hash (or size/mtime/edges for huge files, see
textio.file_fingerprint), so a changed file never serves stale data. A prepared directory is built
under a temporary name and renamed into place when complete, under a file lock: several processes (DDP
ranks) may call `prepare` at once; one builds, the others wait and then read.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock

from transformer_lab.data.cache.dataset import SplitWriter
from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.cleaning import (
    CleaningReport,
    clean_eval_split,
    clean_train_pairs,
    length_filter,
    log_reports,
)
from transformer_lab.data.readers.corpora import SPLITS, Corpus
from transformer_lab.data.readers.textio import file_fingerprint, stable_hash
from transformer_lab.data.tokenizers.bpe import TOKENIZER_VERSION, Tokenizer
from transformer_lab.data.tokenizers.sampling import reservoir_sample

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the on-disk layout or cleaning changes
MANIFEST = "manifest.json"
_CHUNK = 20_000  # pairs encoded and written at a time
BPE_SAMPLE_SEED = 0  # fixed: the vocabulary must not change with the training seed


@dataclass(frozen=True)
class DataSettings:
    """Everything besides the corpus text that changes the prepared data."""

    vocab_size: int = 8000
    min_frequency: int = 2
    max_length: int = 250  # subwords per side, training pairs only
    max_chars: int = 1024  # characters per side, training pairs only (before BPE training)
    max_length_ratio: float = 1.5  # training pairs only
    bpe_sample_sentences: int | None = None  # train the BPE on a uniform sample of this many sentences
    tokenizer_file: str | None = None  # an existing tokenizer.json or sentencepiece .model instead of BPE

    def __post_init__(self) -> None:
        if self.bpe_sample_sentences is not None and self.bpe_sample_sentences < 1:
            raise DataError(f"data.bpe_sample_sentences={self.bpe_sample_sentences}: give a positive number of "
                            "sentences, or null to train the BPE on every training sentence.")

    def keyed(self) -> dict:
        """The settings as they enter cache keys and the manifest. Options left unset are omitted, so
        caches prepared before those options existed keep their keys."""
        return {k: v for k, v in asdict(self).items()
                if not (k in ("bpe_sample_sentences", "tokenizer_file") and v is None)}


def prepare(corpus: Corpus, settings: DataSettings, cache_dir: str | Path,
            progress: bool = True, tokenizer: Tokenizer | None = None) -> Path:
    """Directory of the prepared data for `corpus` (built if missing). Cheap when cached. `tokenizer`: encode
    with this one (e.g. a checkpoint's, for `init_from`) instead of training a BPE or reading `tokenizer_file`;
    it is keyed by its `to_json()` text."""
    corpus.check()
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    fingerprints = {split: corpus.fingerprint(split) for split in SPLITS}
    if tokenizer is not None:
        tokenizer_key = stable_hash("given", tokenizer.to_json())
        tokenizer_name = f"given-{tokenizer_key}.json"
    elif settings.tokenizer_file:
        from transformer_lab.data.tokenizers.external import CONVERTER_VERSION, check_tokenizer_file

        tokenizer_file = check_tokenizer_file(settings.tokenizer_file)
        tokenizer_key = stable_hash(CONVERTER_VERSION, file_fingerprint(tokenizer_file))
        tokenizer_name = f"{tokenizer_file.stem}-{tokenizer_key}.json"
    else:
        sample = [("bpe_sample_sentences", settings.bpe_sample_sentences)] if settings.bpe_sample_sentences else []
        tokenizer_key = stable_hash(TOKENIZER_VERSION, CACHE_VERSION, fingerprints["train"], settings.vocab_size,
                                    settings.min_frequency, settings.max_chars, *sample)
        tokenizer_name = f"bpe-{settings.vocab_size}-{tokenizer_key}.json"
    data_key = stable_hash(tokenizer_key, fingerprints, settings.keyed())
    target = cache_dir / f"{corpus.src_lang}-{corpus.tgt_lang}-{data_key}"
    if (target / MANIFEST).is_file():
        return target
    with FileLock(str(cache_dir / f".{target.name}.lock")):
        if (target / MANIFEST).is_file():  # another process built it while we waited
            return target
        log.info("preparing %s -> %s", type(corpus).__name__, target)
        _build(corpus, settings, target, cache_dir / "tokenizers" / tokenizer_name, progress, tokenizer)
    return target


def load_manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def _build(corpus: Corpus, settings: DataSettings, target: Path, tokenizer_path: Path, progress: bool,
           given: Tokenizer | None = None) -> None:
    origin = f"{type(corpus).__name__} ({corpus.src_lang}->{corpus.tgt_lang})"
    tokenizer = given if given is not None else _tokenizer(corpus, settings, tokenizer_path, origin, progress)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        reports = [_binarize_train(corpus, tokenizer, settings, tmp, origin, progress)]
        texts: dict[str, dict[str, list[str]]] = {}
        for split in ("valid", "test"):
            src_text, tgt_text, eval_report = clean_eval_split(split, *corpus.read(split))
            reports.append(eval_report)
            long_lines = 0
            with SplitWriter(tmp, split) as writer:
                for start in range(0, len(src_text), _CHUNK):
                    src_ids = tokenizer.encode_batch(src_text[start : start + _CHUNK])
                    tgt_ids = tokenizer.encode_target_batch(tgt_text[start : start + _CHUNK])  # target model
                    long_lines += sum(max(len(s), len(t)) > settings.max_length for s, t in zip(src_ids, tgt_ids))
                    writer.append(src_ids, tgt_ids)
            if long_lines:
                log.warning("%s: %d lines longer than max_length=%d subwords are kept (dev/test sets are "
                            "never filtered)", split, long_lines, settings.max_length)
            texts[split] = {"src": src_text, "tgt": tgt_text}
        (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        if given is not None:
            (tmp / "tokenizer.json").write_text(given.to_json(), encoding="utf-8")
        else:
            shutil.copyfile(tokenizer_path, tmp / "tokenizer.json")
        log_reports(reports)
        manifest = {
            "version": CACHE_VERSION, "src_lang": corpus.src_lang, "tgt_lang": corpus.tgt_lang,
            "settings": settings.keyed(), "vocab_size": tokenizer.vocab_size,
            "sizes": {r.split: r.kept for r in reports},
            "cleaning": {r.split: {"read": r.read, "kept": r.kept, "dropped": dict(r.dropped)} for r in reports},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if target.exists():  # an incomplete leftover (no manifest) from a killed process
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _binarize_train(corpus: Corpus, tokenizer: Tokenizer, settings: DataSettings, directory: Path, origin: str,
                    progress: bool) -> CleaningReport:
    """Stream the training split: clean, encode and length-filter chunk by chunk, append to the arrays."""
    report = CleaningReport("train", 0)
    pairs = clean_train_pairs(corpus.iter_pairs("train"), settings.max_chars, report)
    cleaned = 0
    with SplitWriter(directory, "train") as writer, _counter("binarizing train", progress) as advance:
        for chunk in _chunks(pairs, _CHUNK):
            cleaned += len(chunk)
            src_ids = tokenizer.encode_batch([src for src, _ in chunk])
            tgt_ids = tokenizer.encode_target_batch([tgt for _, tgt in chunk])  # target model
            keep = length_filter([len(ids) for ids in src_ids], [len(ids) for ids in tgt_ids],
                                 settings.max_length, settings.max_length_ratio, report)
            writer.append([ids for ids, k in zip(src_ids, keep) if k], [ids for ids, k in zip(tgt_ids, keep) if k])
            advance(len(chunk))
    if cleaned == 0:
        report.require_nonempty(origin, "max_chars")
    report.require_nonempty(origin, "max_length / max_length_ratio / max_chars")
    return report


def _tokenizer(corpus: Corpus, settings: DataSettings, path: Path, origin: str, progress: bool) -> Tokenizer:
    if path.is_file():
        return Tokenizer.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return Tokenizer.load(path)
        if settings.tokenizer_file:
            from transformer_lab.data.tokenizers.external import load_tokenizer_file

            tokenizer = load_tokenizer_file(settings.tokenizer_file)
            log.info("using the tokenizer %s (%d pieces; data.vocab_size is not used)", settings.tokenizer_file,
                     tokenizer.vocab_size)
        else:
            tokenizer = _train_bpe(corpus, settings, origin, progress)
        tokenizer.save(path)
    return tokenizer


def _train_bpe(corpus: Corpus, settings: DataSettings, origin: str, progress: bool) -> Tokenizer:
    """Joint BPE from a stream of the cleaned training sentences (source and target), or from a uniform
    sample of `bpe_sample_sentences` of them (as sentencepiece's `input_sentence_size`)."""
    report = CleaningReport("train", 0)
    pairs = clean_train_pairs(corpus.iter_pairs("train"), settings.max_chars, report)
    sentences: Iterable[str] = (text for pair in pairs for text in pair)
    if settings.bpe_sample_sentences:
        sentences = reservoir_sample(sentences, settings.bpe_sample_sentences, BPE_SAMPLE_SEED)
        log.info("BPE sample: %d of %d cleaned training sentences", len(sentences), 2 * report.kept)
    log.info("training a joint BPE vocabulary of %d pieces", settings.vocab_size)
    tokenizer = Tokenizer.train(sentences, settings.vocab_size, settings.min_frequency,
                                show_progress=progress and _interactive())
    report.require_nonempty(origin, "max_chars")
    return tokenizer


def _chunks(pairs: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    chunk: list[tuple[str, str]] = []
    for pair in pairs:
        chunk.append(pair)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _interactive() -> bool:
    import sys

    return sys.stderr.isatty()


@contextmanager
def _counter(label: str, enabled: bool) -> Iterator:
    """A running count of pairs on an interactive console (the total is unknown while streaming)."""
    if not enabled or not _interactive():
        yield lambda n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}: {task.completed:,.0f} pairs"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)
