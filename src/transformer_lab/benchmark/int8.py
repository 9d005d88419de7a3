"""`python -m transformer_lab.benchmark.int8 CKPT`: our int8 CPU decoding beside our float32 and CTranslate2's int8.

Translates real text of varied lengths (the checkpoint's test split, or `--src FILE [--ref FILE]`) three ways in
one process, with the checkpoint's test search (beam, alpha, max length a*S + b): ours in float32 and ours with
int8 linear layers (`inference/int8.py`), both through `translate_lines` (what `translate` runs), and
CTranslate2 through the lab's own int8 export (`export_ct2(..., "int8")`, `CT2Translator`; or `--ct2-dir` for an
existing one). The sides alternate within every repeat, so that load from other jobs hits them alike; medians
are reported, with sentences/s, generated tokens/s (ours only), BLEU, the int8-vs-CTranslate2 and int8-vs-fp32
ratios, and with `--profile` where our int8 and float32 decoding spend their time (torch profiler, self CPU time
grouped as linear layers, attention products, the rest).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

LINEAR_OPS = ("quantized::linear_dynamic", "aten::addmm", "aten::mm", "aten::linear", "aten::matmul")
ATTENTION_OPS = ("aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m transformer_lab.benchmark.int8", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint written by transformer_lab.train")
    p.add_argument("--split", default="test", choices=["valid", "test"], help="the checkpoint corpus's split")
    p.add_argument("--src", type=Path, help="translate this file instead (one sentence per line)")
    p.add_argument("--ref", type=Path, help="references for --src (one per line), for BLEU")
    p.add_argument("--limit", type=int, help="only the first N sentences")
    p.add_argument("--ct2-dir", type=Path, help="an existing int8 CTranslate2 export of CKPT (default: export one "
                                                "into a temporary directory)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads and CTranslate2's intra_threads")
    p.add_argument("--profile", action="store_true", help="also profile one pass of ours in int8 and fp32")
    p.add_argument("--json", type=Path)
    return p.parse_args(argv)


def load_texts(args: argparse.Namespace, module) -> tuple[list[str], list[str] | None]:
    from transformer_lab.benchmark.translation import read_lines
    from transformer_lab.data.datamodule import TranslationDataModule

    if args.src is not None:
        sources = read_lines(args.src, "--src")
        references = read_lines(args.ref, "--ref") if args.ref else None
        if references is not None and len(references) != len(sources):
            raise SystemExit(f"--ref {args.ref} has {len(references)} lines but --src {args.src} has {len(sources)}")
    else:
        if module.data_config is None:
            raise SystemExit(f"{args.checkpoint} carries no data settings; use --src FILE")
        datamodule = TranslationDataModule(**module.data_config)
        datamodule.prepare_data()
        sources, references = datamodule.split_texts(args.split)
    if args.limit:
        sources, references = sources[: args.limit], references[: args.limit] if references else None
    return sources, references


def time_profile(translate) -> dict[str, Any]:
    """One pass of `translate` under the torch profiler: self CPU time of linear layers, attention products
    and everything else (Python and the search loop's own work included in `other`)."""
    from torch.profiler import ProfilerActivity, profile

    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        translate()
    wall = time.perf_counter() - start
    events = prof.key_averages()
    total_ops = sum(e.self_cpu_time_total for e in events) / 1e6
    linear = sum(e.self_cpu_time_total for e in events if e.key in LINEAR_OPS) / 1e6
    attention = sum(e.self_cpu_time_total for e in events if e.key in ATTENTION_OPS) / 1e6
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]
    return {"wall_s": round(wall, 3), "operators_s": round(total_ops, 3), "linear_s": round(linear, 3),
            "attention_products_s": round(attention, 3), "outside_operators_s": round(wall - total_ops, 3),
            "top_operators": {e.key: round(e.self_cpu_time_total / 1e6, 3) for e in top}}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import sacrebleu

    from transformer_lab.export.ct2 import CT2Translator, check_ct2_dir, export_ct2
    from transformer_lab.inference.int8 import check_int8_device, int8_copy
    from transformer_lab.inference.loading import module_from_checkpoint
    from transformer_lab.inference.translation import translate_lines

    check_int8_device("cpu", "benchmark.int8")
    if args.ct2_dir is not None:
        check_ct2_dir(args.ct2_dir)  # before the checkpoint is read: a wrong path fails at once
    torch.set_num_threads(args.threads)
    module, _ = module_from_checkpoint(args.checkpoint)
    module = module.eval()
    sources, references = load_texts(args, module)
    search = module.decoding_config.test
    quantized = int8_copy(module)
    with tempfile.TemporaryDirectory(prefix="tlab-int8-bench-") as tmp:
        ct2_dir = args.ct2_dir or export_ct2(module, Path(tmp) / "ct2", quantization="int8")
        ct2 = CT2Translator(ct2_dir, device="cpu", compute_type="int8", intra_threads=args.threads)
        kwargs = dict(beam_size=search.beam_size, alpha=search.alpha, max_len_a=search.max_len_a,
                      max_len_b=search.max_len_b)
        sides = {
            "ours fp32": lambda: translate_lines(module, sources, search),
            "ours int8": lambda: translate_lines(quantized, sources, search),
            "ct2 int8": lambda: ct2.translate(sources, **kwargs),
        }
        warm = sources[:32]  # warm-up: a short pass of each side, untimed
        translate_lines(module, warm, search), translate_lines(quantized, warm, search), ct2.translate(warm, **kwargs)
        seconds: dict[str, list[float]] = {name: [] for name in sides}
        outputs: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for name, translate in sides.items():
                start = time.perf_counter()
                outputs[name] = translate()
                seconds[name].append(time.perf_counter() - start)
        report: dict[str, Any] = {
            "checkpoint": str(args.checkpoint), "source": str(args.src) if args.src else args.split,
            "sentences": len(sources), "source_tokens": sum(len(module.tokenizer.encode(s)) + 1 for s in sources),
            "beam": search.beam_size, "alpha": search.alpha, "max_len": f"{search.max_len_a} * S + {search.max_len_b}",
            "threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
            "quantized_engine": torch.backends.quantized.engine, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "load_average": list(os.getloadavg()), "results": {},
        }
        for name in sides:
            median = statistics.median(seconds[name])
            entry: dict[str, Any] = {"seconds": [round(s, 3) for s in seconds[name]], "median_s": round(median, 3),
                                     "sentences_per_s": len(sources) / median}
            if references is not None:
                entry["bleu"] = sacrebleu.corpus_bleu(outputs[name], [references]).score
            report["results"][name] = entry
        results = report["results"]
        report["ratio_int8_vs_ct2_int8"] = results["ours int8"]["sentences_per_s"] / results["ct2 int8"]["sentences_per_s"]
        report["ratio_int8_vs_fp32"] = results["ours int8"]["sentences_per_s"] / results["ours fp32"]["sentences_per_s"]
        report["ratio_fp32_vs_ct2_int8"] = results["ours fp32"]["sentences_per_s"] / results["ct2 int8"]["sentences_per_s"]
        report["identical_int8_vs_fp32"] = sum(a == b for a, b in zip(outputs["ours int8"], outputs["ours fp32"])) / max(
            1, len(sources))
        if references is not None:
            report["bleu_int8_minus_fp32"] = results["ours int8"]["bleu"] - results["ours fp32"]["bleu"]
        if args.profile:
            report["profile"] = {"ours int8": time_profile(sides["ours int8"]),
                                 "ours fp32": time_profile(sides["ours fp32"])}
        report["load_average_after"] = list(os.getloadavg())
    return report


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from transformer_lab.benchmark.measure import write_report
    from transformer_lab.export.ct2 import CT2ModelError

    args = parse_args(argv)
    try:
        report = run(args)
    except CT2ModelError as error:  # a user's mistake, said in one line: no traceback
        raise SystemExit(f"error: {error}") from None
    for name, e in report["results"].items():
        bleu = f", BLEU {e['bleu']:.2f}" if "bleu" in e else ""
        print(f"{name:>10}: {e['sentences_per_s']:,.2f} sentences/s (median {e['median_s']:.2f} s of {e['seconds']}){bleu}")
    print(f"ours int8 vs CTranslate2 int8: {report['ratio_int8_vs_ct2_int8']:.2f}x sentences/s; int8 vs fp32 "
          f"{report['ratio_int8_vs_fp32']:.2f}x; identical hypotheses {report['identical_int8_vs_fp32']:.1%}"
          + (f"; BLEU int8 - fp32 {report['bleu_int8_minus_fp32']:+.2f}" if "bleu_int8_minus_fp32" in report else ""))
    for name, prof in report.get("profile", {}).items():
        print(f"profile {name}: wall {prof['wall_s']} s, linear layers {prof['linear_s']} s, attention products "
              f"{prof['attention_products_s']} s, other operators {prof['operators_s'] - prof['linear_s'] - prof['attention_products_s']:.3f} s, "
              f"outside operators {prof['outside_operators_s']} s")
    if args.json:
        write_report(args.json, report)
    return report


if __name__ == "__main__":
    main()
