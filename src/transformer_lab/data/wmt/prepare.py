"""WMT14 preparation: download (only when asked) -> parse -> clean -> plain parallel-text layout.

The three steps are separate functions so that parsing and cleaning are tested on small local files in
the real formats, without the network:

    fetch(task, raw_dir[, base_url])  downloads the official statmt.org archives (or a mirror's), verifies
                                      them (download.py) and extracts the needed files (extract.py)
    write_layout(task, raw_dir, out)  parses them and writes out/{train,valid,test}.{src,tgt}

Training data: the corpora the paper's recipe uses (same list as fairseq's prepare-wmt14en2*.sh).
Dev: newstest2013; test: newstest2014 ("full" version, 3003 sentences), both read from the SGML files.
Training pairs are streamed (memory does not grow with the files) and get whitespace normalization and
empty-pair removal here; length filters are applied later, by the data module (they depend on the
subword vocabulary).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.cleaning import normalize_whitespace
from transformer_lab.data.readers.corpora import iter_aligned
from transformer_lab.data.wmt.download import STATMT, Downloader
from transformer_lab.data.wmt.extract import extract
from transformer_lab.data.wmt.formats import read_sgm_pair
from transformer_lab.data.wmt.manifest import Manifest

log = logging.getLogger(__name__)

HF_DATASET = "wmt/wmt14"  # the Hub's WMT14 (parquet; configs de-en, fr-en; rows {"translation": {de|fr, en}})


@dataclass(frozen=True)
class Task:
    src: str
    tgt: str
    archives: tuple[str, ...]  # paths under statmt.org (or a mirror): keys of download.ARCHIVES
    train: tuple[str, ...]  # file stems: STEM.{src,tgt}[.gz] somewhere inside the archives
    dev: tuple[str, str]  # (source .sgm, reference .sgm) file names
    test: tuple[str, str]


def _europarl(pair: str) -> str:
    return f"europarl-v7.{pair}"


TASKS = {
    "wmt14_en_de": Task(
        "en", "de",
        archives=("wmt13/training-parallel-europarl-v7.tgz",
                  "wmt13/training-parallel-commoncrawl.tgz",
                  "wmt14/training-parallel-nc-v9.tgz",
                  "wmt14/dev.tgz", "wmt14/test-full.tgz"),
        train=(_europarl("de-en"), "commoncrawl.de-en", "news-commentary-v9.de-en"),
        dev=("newstest2013-src.en.sgm", "newstest2013-ref.de.sgm"),
        test=("newstest2014-deen-src.en.sgm", "newstest2014-deen-ref.de.sgm"),
    ),
    "wmt14_en_fr": Task(
        "en", "fr",
        archives=("wmt13/training-parallel-europarl-v7.tgz",
                  "wmt13/training-parallel-commoncrawl.tgz",
                  "wmt13/training-parallel-un.tgz",
                  "wmt14/training-parallel-nc-v9.tgz",
                  "wmt10/training-giga-fren.tar",
                  "wmt14/dev.tgz", "wmt14/test-full.tgz"),
        train=(_europarl("fr-en"), "commoncrawl.fr-en", "undoc.2000.fr-en", "news-commentary-v9.fr-en",
               "giga-fren.release2.fixed"),
        dev=("newstest2013-src.en.sgm", "newstest2013-ref.fr.sgm"),
        test=("newstest2014-fren-src.en.sgm", "newstest2014-fren-ref.fr.sgm"),
    ),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise DataError(f"Unknown task {name!r}; choose one of {sorted(TASKS)}.")
    return TASKS[name]


def wanted_files(task: Task) -> set[str]:
    names = {n for pair in (task.dev, task.test) for n in pair}
    for stem in task.train:
        for lang in (task.src, task.tgt):
            names |= {f"{stem}.{lang}", f"{stem}.{lang}.gz"}
    return names


# ---- step 1: download (network) ----------------------------------------------------------------------
def fetch(task: Task, raw_dir: Path, base_url: str = STATMT, downloader: Downloader | None = None) -> None:
    """Download, verify and extract the task's archives into raw_dir; a re-run skips what the manifest
    shows verified and unchanged, and redoes everything else. base_url: statmt.org or a mirror of it."""
    downloader = downloader or Downloader(base_url)
    raw_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(raw_dir)
    wanted = wanted_files(task)
    for relpath in task.archives:
        record = downloader.record(relpath)
        archive = raw_dir / relpath.rsplit("/", 1)[-1]
        if not manifest.archive_verified(archive, record.checksums()):
            if archive.is_file():  # present but not verified by us (older run, copied in): check it once
                try:
                    sums = downloader.verify(relpath, archive)
                except DataError as err:
                    log.warning("%s is not the recorded file (%s); downloading it again", archive, err)
                    archive.unlink()
            if not archive.is_file():
                log.info("downloading %s", downloader.url(relpath))
                archive, sums = downloader.fetch(relpath, raw_dir)
            manifest.record_archive(archive, downloader.url(relpath), sums)
        if not manifest.extracted(archive, wanted):
            log.info("extracting %s", archive.name)
            manifest.record_extracted(archive, wanted, extract(archive, wanted, raw_dir))


# ---- step 2: parse, clean, write (no network) --------------------------------------------------------
def _find(raw_dir: Path, name: str) -> Path:
    for candidate in (name, name + ".gz"):
        path = raw_dir / candidate
        if path.is_file():
            return path
    raise DataError(f"Missing {raw_dir / name}: run the prepare command without --no-download, or put "
                    f"the file (extracted from the WMT archives) there.")


def write_layout(task: Task, raw_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write out_dir/{train,valid,test}.{src,tgt} from the extracted WMT files; returns line counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with _AtomicPair(out_dir, "train", task) as (src_out, tgt_out):
        total = 0
        for stem in task.train:
            src_path, tgt_path = _find(raw_dir, f"{stem}.{task.src}"), _find(raw_dir, f"{stem}.{task.tgt}")
            read = kept = 0
            for src, tgt in iter_aligned(src_path, tgt_path):  # streamed: giga-fren alone has 22M pairs
                read += 1
                src, tgt = normalize_whitespace(src), normalize_whitespace(tgt)
                if src and tgt:
                    src_out.write(src + "\n")
                    tgt_out.write(tgt + "\n")
                    kept += 1
            log.info("%s: %d pairs, %d kept (%d empty dropped)", stem, read, kept, read - kept)
            total += kept
        counts["train"] = total
    for split, (src_name, ref_name) in (("valid", task.dev), ("test", task.test)):
        sources, references = read_sgm_pair(_find(raw_dir, src_name), _find(raw_dir, ref_name))
        with _AtomicPair(out_dir, split, task) as (src_out, tgt_out):
            for src, ref in zip(sources, references):  # every line kept, in order
                src_out.write(normalize_whitespace(src) + "\n")
                tgt_out.write(normalize_whitespace(ref) + "\n")
        counts[split] = len(sources)
    return counts


class _AtomicPair:
    """Two output files written under temporary names and renamed into place on success."""

    def __init__(self, directory: Path, split: str, task: Task) -> None:
        self.paths = [directory / f"{split}.{task.src}", directory / f"{split}.{task.tgt}"]
        self.tmps = [p.with_name(p.name + ".tmp") for p in self.paths]

    def __enter__(self):
        self.handles = [open(t, "w", encoding="utf-8", newline="\n") for t in self.tmps]
        return self.handles

    def __exit__(self, exc_type, exc, tb) -> None:
        for handle in self.handles:
            handle.close()
        for tmp, path in zip(self.tmps, self.paths):
            if exc_type is None:
                os.replace(tmp, path)
            elif tmp.exists():
                tmp.unlink()


def write_layout_from_hf(task_name: str, out_dir: Path) -> dict[str, int]:
    """Alternative source: the `wmt/wmt14` dataset on the Hugging Face Hub (needs `datasets` and network)."""
    from transformer_lab.data.readers.hf import HFCorpus

    task = get_task(task_name)
    corpus = HFCorpus(path=HF_DATASET, name=f"{task.tgt}-{task.src}", src_lang=task.src, tgt_lang=task.tgt)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "valid", "test"):
        with _AtomicPair(out_dir, split, task) as (src_out, tgt_out):
            kept = 0
            for src, tgt in corpus.iter_pairs(split):
                src, tgt = normalize_whitespace(src), normalize_whitespace(tgt)
                if split != "train" or (src and tgt):
                    src_out.write(src + "\n")
                    tgt_out.write(tgt + "\n")
                    kept += 1
        counts[split] = kept
    return counts
