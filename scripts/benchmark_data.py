"""Data loading throughput: batches/s and tokens/s from the binarized cache through the DataLoader.

    PYTHONPATH=src python scripts/benchmark_data.py                      # built-in toy corpus
    PYTHONPATH=src python scripts/benchmark_data.py --dir DIR --src-lang en --tgt-lang de --vocab-size 37000

Reports the cold preparation time (corpus -> BPE -> cache), the warm start (cache hit), and one epoch
of training batches and one pass over the dev set for each requested number of workers.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time

import torch

from transformer_lab.data import TranslationDataModule
from transformer_lab.special_tokens import PAD_ID


def measure(loader, max_batches: int | None) -> dict[str, float]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="parallel_text corpus directory (default: the built-in toy corpus)")
    parser.add_argument("--src-lang", default="en")
    parser.add_argument("--tgt-lang", default="de")
    parser.add_argument("--vocab-size", type=int, default=4000)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--cache-dir", default=None, help="default: a fresh temporary directory (cold start)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--max-batches", type=int, default=None, help="stop each pass early")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
