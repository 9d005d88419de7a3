"""`python -m transformer_lab.benchmark.translation CKPT --peer`: the real decoding workload, ours beside
MarianMT with the same weights.

A trained checkpoint translates its own corpus's test split (or `--src FILE`, one sentence per line, with
`--ref FILE` for BLEU): variable lengths, batches of `--sentences` sorted by length, beam search with the
checkpoint's test settings (beam, alpha, max length a*S + b), each sentence leaving the batch when it is
done (with `--cuda-graphs`: the fixed-shape search, where done sentences stay in the batch, masked, and each
decoder step is one CUDA graph replay). The peer is `MarianMTModel` holding the checkpoint's weights (`marian_copy`), decoding the same
batches with `generate(num_beams=K, length_penalty=alpha, early_stopping=True, max_new_tokens=a*S+b)`
(S: the batch's longest source; Hugging Face has no per-sentence limit). Sides alternate per repeat.
Reported per side and precision: generated tokens per second (eos included, padding not), sentences per
second, and sacreBLEU when references exist.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from transformer_lab.benchmark.measure import write_report
from transformer_lab.benchmark.workloads import autocast
from transformer_lab.data.batching.encoding import length_sorted_batches
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m transformer_lab.benchmark.translation",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint written by transformer_lab.train")
    p.add_argument("--split", default="test", choices=["valid", "test"], help="the checkpoint corpus's split")
    p.add_argument("--src", type=Path, help="translate this file instead (one sentence per line)")
    p.add_argument("--ref", type=Path, help="references for --src (one per line), for BLEU")
    p.add_argument("--limit", type=int, help="only the first N sentences")
    p.add_argument("--sentences", type=int, default=32, help="sentences per batch")
    p.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"])
    p.add_argument("--peer", action="store_true", help="also decode with MarianMT holding the same weights")
    p.add_argument("--peer-attn", nargs="+", default=["sdpa", "eager"], choices=["sdpa", "eager"])
    p.add_argument("--cuda-graphs", action="store_true",
                   help="our beam search with cuda_graphs=True (one CUDA graph replay per decoder step on a GPU; "
                        "the warm-up then decodes every batch, so that each batch shape is captured untimed)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path)
    return p.parse_args(argv)


def read_lines(path: Path, what: str) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise SystemExit(f"{what} {path}: cannot read it ({error.strerror})") from None


def load_workload(args: argparse.Namespace):
    """-> (module, tokenizer, sources, references or None)."""
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.loading import module_from_checkpoint

    if args.src is not None:  # files first: a wrong path fails before the checkpoint is read
        sources = read_lines(args.src, "--src")
        references = read_lines(args.ref, "--ref") if args.ref else None
        if references is not None and len(references) != len(sources):
            raise SystemExit(f"--ref {args.ref} has {len(references)} lines but --src {args.src} has {len(sources)}")
    elif args.ref is not None:
        raise SystemExit("--ref needs --src (the split's own references are used otherwise)")
    module, _ = module_from_checkpoint(args.checkpoint)  # every checkpoint it loads carries its tokenizer
    tokenizer = module.tokenizer
    if args.src is None:
        if module.data_config is None:
            raise SystemExit(f"{args.checkpoint} carries no data settings; use --src FILE")
        datamodule = TranslationDataModule(**module.data_config)
        datamodule.prepare_data()
        sources, references = datamodule.split_texts(args.split)
    if args.limit:
        sources, references = sources[: args.limit], references[: args.limit] if references else None
    return module, tokenizer, sources, references


def strip_ids(row: list[int]) -> list[int]:
    """Hypothesis ids without bos/pad, cut after the first eos (eos kept: it counts as generated)."""
    out = []
    for t in row:
        if t in (BOS_ID, PAD_ID):
            continue
        out.append(t)
        if t == EOS_ID:
            break
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from transformer_lab.decoding import beam_search

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to PyTorch (use --device cpu)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here, as in the training benchmark
    module, tokenizer, sources, references = load_workload(args)
    model, search = module.model.eval().to(device), module.decoding_config.test
    batches = [(chunk, src.to(device)) for chunk, src in length_sorted_batches(tokenizer, sources, args.sentences)]
    K, alpha, a, b = search.beam_size, search.alpha, search.max_len_a, search.max_len_b

    def ours(src: torch.Tensor) -> list[list[int]]:
        return beam_search(model, src, beam_size=K, alpha=alpha, max_len_a=a, max_len_b=b,
                           cuda_graphs=args.cuda_graphs).tokens.tolist()

    sides = {"ours": ours}
    if args.peer:
        from transformer_lab.benchmark.marian_copy import marian_copy

        for attn in args.peer_attn:
            peer = marian_copy(model, attn).to(device)

            def generate(src: torch.Tensor, peer=peer) -> list[list[int]]:
                S = int((src != PAD_ID).sum(dim=1).max())
                return peer.generate(input_ids=src, attention_mask=src != PAD_ID, num_beams=K, do_sample=False,
                                     length_penalty=alpha, early_stopping=True, max_new_tokens=int(a * S + b)).tolist()

            sides[f"peer:{attn}"] = generate
    report: dict[str, Any] = {
        "checkpoint": str(args.checkpoint), "sentences": len(sources), "batch_sentences": args.sentences,
        "source": str(args.src) if args.src else args.split, "beam": K, "alpha": alpha,
        "max_len": f"{a} * S + {b}", "cuda_graphs": args.cuda_graphs, "threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "load_average": list(__import__("os").getloadavg()), "results": [],
    }
    for precision in args.precision:
        seconds = {name: [] for name in sides}
        outputs: dict[str, dict[int, list[int]]] = {}
        # warm-up: kernel loading and autotuning stay out of the timings; with --cuda-graphs every batch
        # shape's graph is captured here (the peer gets the same warm-up)
        warmup = batches if args.cuda_graphs else batches[-1:]
        for decode in sides.values():
            with torch.no_grad(), autocast(device, precision):
                for _, src in warmup:
                    decode(src)
        for _ in range(args.repeats):  # alternate the sides, so that load from other jobs hits them alike
            for name, decode in sides.items():
                hyps: dict[int, list[int]] = {}
                start = time.perf_counter()
                with torch.no_grad(), autocast(device, precision):
                    for chunk, src in batches:  # tolist() in each side waits for the device: timings are synced
                        hyps.update(zip(chunk, (strip_ids(r) for r in decode(src))))
                seconds[name].append(time.perf_counter() - start)
                outputs[name] = hyps
        for name in sides:
            ids = [outputs[name][i] for i in range(len(sources))]
            median = statistics.median(seconds[name])
            entry = {"impl": name, "precision": precision, "seconds": [round(s, 3) for s in seconds[name]],
                     "generated_tokens": sum(len(r) for r in ids),
                     "tokens_per_s": sum(len(r) for r in ids) / median, "sentences_per_s": len(ids) / median}
            if references is not None:
                import sacrebleu

                entry["bleu"] = sacrebleu.corpus_bleu([tokenizer.decode(r) for r in ids], [references]).score
            report["results"].append(entry)
    best = {}
    for e in report["results"]:
        side = "ours" if e["impl"] == "ours" else "peer"
        if side not in best or e["sentences_per_s"] > best[side]["sentences_per_s"]:
            best[side] = e
    if "peer" in best:
        report["ratio_best_vs_best_sentences_per_s"] = best["ours"]["sentences_per_s"] / best["peer"]["sentences_per_s"]
        report["ratio_best_vs_best_tokens_per_s"] = best["ours"]["tokens_per_s"] / best["peer"]["tokens_per_s"]
        report["best"] = {k: f"{v['impl']} {v['precision']}" for k, v in best.items()}
    report["load_average_after"] = list(__import__("os").getloadavg())
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = run(args)
    for e in report["results"]:
        bleu = f", BLEU {e['bleu']:.2f}" if "bleu" in e else ""
        print(f"{e['impl']:>12} {e['precision']}: {e['tokens_per_s']:,.1f} tok/s, {e['sentences_per_s']:,.2f} "
              f"sentences/s ({e['generated_tokens']} tokens, {statistics.median(e['seconds']):.1f} s){bleu}")
    if "best" in report:
        print(f"best vs best ({report['best']['ours']} vs {report['best']['peer']}): sentences/s "
              f"{report['ratio_best_vs_best_sentences_per_s']:.2f}x, tokens/s {report['ratio_best_vs_best_tokens_per_s']:.2f}x")
    if args.json:
        write_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
