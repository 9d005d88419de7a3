"""Text -> cleaned pairs -> joint BPE -> binarized arrays, built once and cached.

Cache keys: the tokenizer is keyed by the training split's fingerprint + vocabulary settings; the
binarized data by the tokenizer key + every split's fingerprint + filter settings. A file fingerprint is
its content hash (or size/mtime/edges for huge files, see textio.file_fingerprint), so a changed file
never serves stale data. A prepared directory is built under a temporary name and renamed into place
when complete, under a file lock: several processes (DDP ranks) may call `prepare` at once; one builds,
the others wait and then read.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from transformer_lab.data.cleaning import (
    clean_eval_split, clean_train_text, length_filter, log_reports,
)
from transformer_lab.data.corpora import SPLITS, Corpus
from transformer_lab.data.dataset import write_side
from transformer_lab.data.textio import stable_hash
from transformer_lab.data.tokenizer import TOKENIZER_VERSION, Tokenizer

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the on-disk layout or cleaning changes
MANIFEST = "manifest.json"
_CHUNK = 20_000


@dataclass(frozen=True)
class DataSettings:
    """Everything besides the corpus text that changes the prepared data."""

    vocab_size: int = 8000
    min_frequency: int = 2
    max_length: int = 250  # subwords per side, training pairs only
    max_chars: int = 1024  # characters per side, training pairs only (before BPE training)
    max_length_ratio: float = 1.5  # training pairs only


def prepare(corpus: Corpus, settings: DataSettings, cache_dir: str | Path,
            progress: bool = True) -> Path:
    """Directory of the prepared data for `corpus` (built if missing). Cheap when cached."""
    corpus.check()
    cache_dir = Path(cache_dir).expanduser()
    cache_dir.mkdir(parents=True, exist_ok=True)
    fingerprints = {split: corpus.fingerprint(split) for split in SPLITS}
    tokenizer_key = stable_hash(TOKENIZER_VERSION, CACHE_VERSION, fingerprints["train"], settings.vocab_size,
                                settings.min_frequency, settings.max_chars)
    data_key = stable_hash(tokenizer_key, fingerprints, asdict(settings))
    target = cache_dir / f"{corpus.src_lang}-{corpus.tgt_lang}-{data_key}"
    if (target / MANIFEST).is_file():
        return target
    with FileLock(str(cache_dir / f".{target.name}.lock")):
        if (target / MANIFEST).is_file():  # another process built it while we waited
            return target
        log.info("preparing %s -> %s", type(corpus).__name__, target)
        tokenizer_path = cache_dir / "tokenizers" / f"bpe-{settings.vocab_size}-{tokenizer_key}.json"
        _build(corpus, settings, target, tokenizer_path, progress)
    return target


def load_manifest(directory: Path) -> dict:
    return json.loads((directory / MANIFEST).read_text(encoding="utf-8"))


def _build(corpus: Corpus, settings: DataSettings, target: Path, tokenizer_path: Path, progress: bool) -> None:
    origin = f"{type(corpus).__name__} ({corpus.src_lang}->{corpus.tgt_lang})"
    sources, targets, report = clean_train_text(*corpus.read("train"), max_chars=settings.max_chars)
    report.require_nonempty(origin, "max_chars")
    tokenizer = _tokenizer(sources + targets, settings, tokenizer_path, progress)

    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        reports = [report]
        src_tok, src_len = _encode(tokenizer, sources, "train source", progress)
        tgt_tok, tgt_len = _encode(tokenizer, targets, "train target", progress)
        keep = length_filter(src_len, tgt_len, settings.max_length, settings.max_length_ratio, report)
        report.require_nonempty(origin, "max_length / max_length_ratio / max_chars")
        _write(tmp, "train", src_tok, src_len, tgt_tok, tgt_len, keep)
        texts: dict[str, dict[str, list[str]]] = {}
        for split in ("valid", "test"):
            src_text, tgt_text, eval_report = clean_eval_split(split, *corpus.read(split))
            reports.append(eval_report)
            s_tok, s_len = _encode(tokenizer, src_text, f"{split} source", progress)
            t_tok, t_len = _encode(tokenizer, tgt_text, f"{split} target", progress)
            long_lines = int(((s_len > settings.max_length) | (t_len > settings.max_length)).sum())
            if long_lines:
                log.warning("%s: %d lines longer than max_length=%d subwords are kept (dev/test sets are "
                            "never filtered)", split, long_lines, settings.max_length)
            _write(tmp, split, s_tok, s_len, t_tok, t_len, None)
            texts[split] = {"src": src_text, "tgt": tgt_text}
        (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        shutil.copyfile(tokenizer_path, tmp / "tokenizer.json")
        log_reports(reports)
        manifest = {
            "version": CACHE_VERSION, "src_lang": corpus.src_lang, "tgt_lang": corpus.tgt_lang,
            "settings": asdict(settings), "vocab_size": tokenizer.vocab_size,
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


def _tokenizer(texts: list[str], settings: DataSettings, path: Path, progress: bool) -> Tokenizer:
    if path.is_file():
        return Tokenizer.load(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return Tokenizer.load(path)
        log.info("training a joint BPE vocabulary of %d pieces on %d sentences", settings.vocab_size, len(texts))
        tokenizer = Tokenizer.train(texts, settings.vocab_size, settings.min_frequency, length=len(texts),
                                    show_progress=progress and _interactive())
        tokenizer.save(path)
    return tokenizer


def _encode(tokenizer: Tokenizer, texts: Sequence[str], label: str, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Flat int32 token array and per-sentence lengths, encoded in chunks (bounded memory)."""
    chunks: list[np.ndarray] = []
    lengths = np.zeros(len(texts), dtype=np.int64)
    for start in _progress(range(0, len(texts), _CHUNK), f"tokenizing {label}", progress):
        encoded = tokenizer.encode_batch(texts[start : start + _CHUNK])
        chunk_lengths = [len(ids) for ids in encoded]
        lengths[start : start + len(encoded)] = chunk_lengths
        chunks.append(np.fromiter(itertools.chain.from_iterable(encoded), dtype=np.int32, count=sum(chunk_lengths)))
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int32)
    return tokens, lengths


def _write(directory: Path, split: str, src_tokens: np.ndarray, src_lengths: np.ndarray,
           tgt_tokens: np.ndarray, tgt_lengths: np.ndarray, keep: np.ndarray | None) -> None:
    for side, tokens, lengths in (("src", src_tokens, src_lengths), ("tgt", tgt_tokens, tgt_lengths)):
        if keep is not None:
            tokens = tokens[np.repeat(keep, lengths)]
            lengths = lengths[keep]
        write_side(directory, split, side, tokens, lengths)


def _interactive() -> bool:
    import sys

    return sys.stderr.isatty()


def _progress(items: range, label: str, enabled: bool) -> Iterator[int] | range:
    if not enabled or not _interactive() or len(items) < 5:
        return items
    from rich.progress import track

    return track(items, description=label, transient=True)

