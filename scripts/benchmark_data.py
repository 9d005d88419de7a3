"""Data benchmarks: preparation memory and time at scale, and data loading throughput.

    # peak RSS and time of the streaming preparation (clean -> BPE -> binarize) for 1M and 5M generated pairs
    PYTHONPATH=src nice -n 5 python scripts/benchmark_data.py prepare --pairs 1000000 5000000 --bpe-sample 1000000

    # batches/s and tokens/s from the binarized cache through the DataLoader
    PYTHONPATH=src python scripts/benchmark_data.py loading                      # built-in toy corpus
    PYTHONPATH=src python scripts/benchmark_data.py loading --dir DIR --src-lang en --tgt-lang de --vocab-size 37000

`prepare` writes one synthetic corpus of max(--pairs) pairs to disk (a Zipf-distributed vocabulary of
pseudo-words plus a rare random token in half the sentences, so the number of distinct words grows with
the corpus as on real data), takes its first N pairs for each size, and runs each preparation in a fresh
child process whose own peak RSS (ru_maxrss) is reported: the sizes cannot inflate each other's figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

SYLLABLES_EN = "ba be bi bo bu da de di do du ka ke ki ko ku la le li lo lu ma me mi mo mu na ne ni no nu " \
               "pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo vu th st tr pl".split()
SYLLABLES_FR = "ab eb ib ob ub ad ed id od ud ak ek ik ok uk al el il ol ul am em im om um an en in on un " \
               "ap ep ip op up ar er ir or ur as es is os us at et it ot ut av ev iv ov uv ch qu gr fl".split()


# ---- the synthetic corpus ----------------------------------------------------------------------------
def _words(syllables: list[str], count: int, rng: np.random.Generator) -> np.ndarray:
    parts = rng.integers(0, len(syllables), size=(count, 4))
    sizes = rng.integers(1, 5, size=count)
    table = np.array(syllables)
    return np.array(["".join(table[row[:n]]) for row, n in zip(parts, sizes)], dtype=object)


def write_synthetic_corpus(directory: Path, pairs: int, vocabulary: int = 200_000, seed: int = 0) -> None:
    """DIR/{train,valid,test}.{en,fr}: `pairs` training pairs, 1000 dev and test pairs (one pass, in blocks)."""
    rng = np.random.default_rng(seed)
    src_words, tgt_words = _words(SYLLABLES_EN, vocabulary, rng), _words(SYLLABLES_FR, vocabulary, rng)
    zipf = 1.0 / np.arange(1, vocabulary + 1) ** 1.05
    zipf /= zipf.sum()
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    directory.mkdir(parents=True, exist_ok=True)
    for split, total in (("train", pairs), ("valid", 1000), ("test", 1000)):
        with open(directory / f"{split}.en", "w", encoding="utf-8") as src_out, \
                open(directory / f"{split}.fr", "w", encoding="utf-8") as tgt_out:
            for start in range(0, total, 50_000):
                block = min(50_000, total - start)
                lengths = rng.integers(5, 41, size=block)
                ids = rng.choice(vocabulary, size=int(lengths.sum()), p=zipf)
                rare = rng.integers(0, 26, size=(block, 8))
                src_lines, tgt_lines = [], []
                for i, sentence in enumerate(np.split(ids, np.cumsum(lengths)[:-1])):
                    src, tgt = list(src_words[sentence]), list(tgt_words[sentence])
                    even = len(tgt) - len(tgt) % 2  # a little reordering: swap neighbouring words
                    tgt[0:even:2], tgt[1:even:2] = tgt[1:even:2], tgt[0:even:2]
                    if i % 2:  # a name or code seen once or twice in the whole corpus
                        name = "".join(letters[rare[i, : 4 + i % 5]]).capitalize()
                        src.append(name)
                        tgt.append(name)
                    src_lines.append(" ".join(src) + " .\n")
                    tgt_lines.append(" ".join(tgt) + " .\n")
                src_out.writelines(src_lines)
                tgt_out.writelines(tgt_lines)


def head_corpus(source: Path, target: Path, pairs: int) -> None:
    """The first `pairs` training pairs of `source` (dev and test copied as they are)."""
    target.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "fr"):
        with open(source / f"train.{lang}", "rb") as reader, open(target / f"train.{lang}", "wb") as writer:
            for _, line in zip(range(pairs), reader):
                writer.write(line)
        for split in ("valid", "test"):
            shutil.copyfile(source / f"{split}.{lang}", target / f"{split}.{lang}")


# ---- one preparation, in a child process -------------------------------------------------------------
def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (the tokenizers' encoding threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _prepare_child(corpus_dir: str, cache_dir: str, vocab_size: int, bpe_sample: int | None, results) -> None:
    from transformer_lab.data import DataSettings, ParallelTextCorpus, TranslationDataset, prepare

    imports_rss = _peak_rss_mib()
    settings = DataSettings(vocab_size=vocab_size, bpe_sample_sentences=bpe_sample)
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    directory = prepare(ParallelTextCorpus(corpus_dir, "en", "fr"), settings, cache_dir, progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    train = TranslationDataset(directory, "train")
    results.put({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mib": _peak_rss_mib(),
                 "imports_rss_mib": imports_rss,
                 "train_pairs": len(train), "train_tokens": int(train.src_lengths.sum() + train.tgt_lengths.sum()),
                 "cache_mib": sum(p.stat().st_size for p in Path(directory).iterdir()) / 2**20})


def measure_prepare(corpus_dir: Path, vocab_size: int, bpe_sample: int | None) -> dict:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: its peak RSS is this run's alone
    results = context.Queue()
    with tempfile.TemporaryDirectory(prefix="tlab_bench_cache_") as cache_dir:
        child = context.Process(target=_prepare_child,
                                args=(str(corpus_dir), cache_dir, vocab_size, bpe_sample, results))
        child.start()
        result = results.get()
        child.join()
    return result


def _machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores, python {platform.python_version()}"


def run_prepare(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tlab_bench_data_"))
    sizes = sorted(args.pairs)
    full = workdir / f"synthetic-{sizes[-1]}"
    if not (full / "test.fr").is_file():
        start = time.perf_counter()
        write_synthetic_corpus(full, sizes[-1])
        print(f"generated {sizes[-1]:,} pairs in {time.perf_counter() - start:.0f} s -> {full}", flush=True)
    print(f"machine: {_machine()}; load average before: {os.getloadavg()}", flush=True)
    rows = []
    for size in sizes:
        corpus_dir = full if size == sizes[-1] else workdir / f"synthetic-{size}"
        if not (corpus_dir / "test.fr").is_file():
            head_corpus(full, corpus_dir, size)
        text_mib = sum((corpus_dir / f"train.{lang}").stat().st_size for lang in ("en", "fr")) / 2**20
        result = measure_prepare(corpus_dir, args.vocab_size, args.bpe_sample)
        rows.append((size, text_mib, result))
        print(f"{size:,} pairs done: {result}; load average {os.getloadavg()}", flush=True)
    print(f"\nvocab {args.vocab_size}, BPE sample {args.bpe_sample or 'all'} sentences; "
          f"load average after: {os.getloadavg()}")
    print("| training pairs | text (MiB) | kept pairs | tokens | cache (MiB) | wall (s) | CPU (s) | peak RSS (MiB) | after imports (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size, text_mib, r in rows:
        print(f"| {size:,} | {text_mib:,.0f} | {r['train_pairs']:,} | {r['train_tokens']:,} | {r['cache_mib']:,.0f} | "
              f"{r['seconds']:.0f} | {r['cpu_seconds']:.0f} | {r['peak_rss_mib']:,.0f} | {r['imports_rss_mib']:,.0f} |")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


# ---- loading throughput ------------------------------------------------------------------------------
def measure(loader, max_batches: int | None) -> dict[str, float]:
    from transformer_lab.special_tokens import PAD_ID

    start = time.perf_counter()
    batches = tokens = padded = 0
    for batch in loader:
        batches += 1
        tokens += int((batch["src"] != PAD_ID).sum()) + int((batch["tgt_out"] != PAD_ID).sum())
        padded += batch["src"].numel() + batch["tgt_out"].numel()
        if max_batches and batches >= max_batches:
            break
    seconds = time.perf_counter() - start
    return {"batches": batches, "seconds": seconds, "batches_per_s": batches / seconds,
            "tokens_per_s": tokens / seconds, "padding": 1 - tokens / max(padded, 1)}


def run_loading(args: argparse.Namespace) -> None:
    import torch

    from transformer_lab.data import TranslationDataModule

    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="tlab_bench_")
    corpus = "parallel_text" if args.dir else {"kind": "builtin"}
    options = dict(dir=args.dir, src_lang=args.src_lang, tgt_lang=args.tgt_lang, vocab_size=args.vocab_size,
                   max_tokens=args.max_tokens, eval_max_tokens=2 * args.max_tokens, max_length_ratio=2.5,
                   cache_dir=cache_dir)
    start = time.perf_counter()
    TranslationDataModule(corpus, **options).prepare_data()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    dm = TranslationDataModule(corpus, **options)
    dm.prepare_data()
    dm.setup("fit")
    warm = time.perf_counter() - start

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}")
    print(f"corpus: {args.dir or 'builtin'}; train {len(dm.dataset('train'))} pairs, vocab {dm.tokenizer.vocab_size}, "
          f"max_tokens {args.max_tokens}")
    print(f"prepare: cold {cold:.1f} s (generate/read, clean, train BPE, binarize), warm {warm:.2f} s (cache hit)")
    print("| split | workers | batches | seconds | batches/s | tokens/s (non-pad, src+tgt) | padding |")
    print("|---|---|---|---|---|---|---|")
    for workers in args.workers:
        dm.num_workers = workers
        for split, loader in (("train", dm.train_dataloader()), ("valid", dm.val_dataloader())):
            r = measure(loader, args.max_batches)
            print(f"| {split} | {workers} | {r['batches']} | {r['seconds']:.2f} | {r['batches_per_s']:.0f} | "
                  f"{r['tokens_per_s']:,.0f} | {r['padding']:.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="peak RSS and time of the preparation on a generated corpus")
    prep.add_argument("--pairs", type=int, nargs="+", default=[1_000_000, 5_000_000])
    prep.add_argument("--bpe-sample", type=int, default=1_000_000, help="data.bpe_sample_sentences (0: all)")
    prep.add_argument("--vocab-size", type=int, default=32000)
    prep.add_argument("--workdir", help="where the generated corpora go (default: a temporary directory)")
    prep.add_argument("--keep", action="store_true", help="keep the generated corpora")
    loading = commands.add_parser("loading", help="batches/s and tokens/s through the DataLoader")
    loading.add_argument("--dir", help="parallel_text corpus directory (default: the built-in toy corpus)")
    loading.add_argument("--src-lang", default="en")
    loading.add_argument("--tgt-lang", default="de")
    loading.add_argument("--vocab-size", type=int, default=4000)
    loading.add_argument("--max-tokens", type=int, default=4096)
    loading.add_argument("--cache-dir", default=None, help="default: a fresh temporary directory (cold start)")
    loading.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    loading.add_argument("--max-batches", type=int, default=None, help="stop each pass early")
    args = parser.parse_args()
    if args.command == "prepare":
        args.bpe_sample = args.bpe_sample or None
        run_prepare(args)
    else:
        run_loading(args)


if __name__ == "__main__":
    main()
