"""`python -m transformer_lab.benchmark`: training and beam-search throughput, ours beside MarianMT.

    python -m transformer_lab.benchmark --preset base --precision fp32 bf16 --peer --threads 1 --json out.json
    python -m transformer_lab.benchmark --device cuda --precision bf16 --sentences 833 --peer   # ~25k tokens/side
    python -m transformer_lab.benchmark --device cuda --no-train --decode-sentences 256 --peer --cuda-graphs

Training throughput counts source + target tokens per second through forward, label-smoothed loss,
backward and an Adam step. Decoding throughput counts generated tokens per second of a beam search that
is forced to generate exactly --decode-len tokens per sentence (ours: min_len = max length; the peer:
generate(min_new_tokens = max_new_tokens)), so untrained models do the same work.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

from transformer_lab.benchmark import measure
from transformer_lab.benchmark.workloads import PRESETS, Shape, Side, make_batch, make_ours, make_peer, peer_available


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m transformer_lab.benchmark", description=__doc__.split("\n\n")[0])
    shape = p.add_argument_group("model shape (a preset, then explicit values override it)")
    shape.add_argument("--preset", choices=sorted(PRESETS), default="base")
    shape.add_argument("--d-model", type=int)
    shape.add_argument("--layers", type=int, help="layers per stack (encoder = decoder)")
    shape.add_argument("--heads", type=int)
    shape.add_argument("--d-ff", type=int)
    shape.add_argument("--vocab", type=int, default=8000, help="shared source/target vocabulary")
    shape.add_argument("--dropout", type=float, default=0.1)
    work = p.add_argument_group("workload")
    work.add_argument("--sentences", type=int, default=32, help="sentences per batch (training and decoding)")
    work.add_argument("--src-len", type=int, default=30)
    work.add_argument("--tgt-len", type=int, default=30)
    work.add_argument("--beam", type=int, default=4)
    work.add_argument("--decode-len", type=int, default=30, help="tokens generated per sentence (forced)")
    work.add_argument("--decode-sentences", type=int, help="sentences per decoding batch (default: --sentences)")
    work.add_argument("--no-train", action="store_true")
    work.add_argument("--no-decode", action="store_true")
    run = p.add_argument_group("how")
    run.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    run.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32", "bf16"],
                     help="bf16 = autocast with fp32 master weights")
    run.add_argument("--compile", action="store_true", help="torch.compile our model's training forward")
    run.add_argument("--cuda-graphs", action="store_true",
                     help="our beam search with cuda_graphs=True (fixed shapes; one CUDA graph replay per decoder "
                          "step on a GPU, captured during the warm-up)")
    run.add_argument("--threads", type=int, help="torch.set_num_threads (CPU)")
    run.add_argument("--peer", action="store_true", help="also time Hugging Face MarianMT with identical shapes")
    run.add_argument("--peer-attn", nargs="+", default=["sdpa", "eager"], choices=["sdpa", "eager"],
                     help="MarianMT attention implementations to try (the best one counts)")
    run.add_argument("--repeats", type=int, default=3)
    run.add_argument("--warmup", type=int, default=1)
    run.add_argument("--no-peak", action="store_true", help="skip measuring the peak matrix rate")
    run.add_argument("--json", type=Path, help="write the results here")
    return p.parse_args(argv)


def shape_from(args: argparse.Namespace) -> Shape:
    d_model, layers, heads, d_ff = PRESETS[args.preset]
    return Shape(
        d_model=args.d_model or d_model, layers=args.layers or layers, heads=args.heads or heads,
        d_ff=args.d_ff or d_ff, vocab=args.vocab, dropout=args.dropout,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to PyTorch (use --device cpu)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 here
    shape = shape_from(args)
    torch.manual_seed(0)
    batch = make_batch(args.sentences, args.src_len, args.tgt_len, shape.vocab, device)
    decode_src = make_batch(args.decode_sentences or args.sentences, args.src_len, 2, shape.vocab, device, seed=1).src
    report: dict[str, Any] = {
        "machine": measure.machine_info(device, torch.get_num_threads()),
        "shape": shape.__dict__,
        "workload": {
            "sentences": args.sentences, "src_len": args.src_len, "tgt_len": args.tgt_len,
            "train_tokens_per_step": batch.tokens, "beam": args.beam, "decode_len": args.decode_len,
            "decode_sentences": decode_src.size(0), "compile": args.compile, "cuda_graphs": args.cuda_graphs,
            "repeats": args.repeats,
        },
        "peak_matmul_flops": {},
        "results": [],
    }
    if not args.no_peak:
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            report["peak_matmul_flops"][precision] = measure.peak_matmul_flops(device, dtype)
        if device.type == "cuda":
            name, table = measure.gpu_table_peak(device)
            report["peak_matmul_flops"]["bf16_datasheet"] = table
    sides = [make_ours(shape, device, compile=args.compile, cuda_graphs=args.cuda_graphs)]
    if args.peer:
        if peer_available():
            sides += [make_peer(shape, device, attn) for attn in args.peer_attn]
        else:
            report["peer_skipped"] = "transformers is not installed (pip install -e '.[bench]')"
    report["analytic_train_flops_per_step"] = measure.analytic_train_flops(
        shape.d_model, shape.layers, shape.d_ff, shape.vocab, args.sentences, args.src_len, args.tgt_len
    )
    report["parameters"] = {side.name: measure.trained_parameters(side) for side in sides}
    for precision in args.precision:
        report["results"] += measure_precision(sides, batch, decode_src, precision, args, device, report)
    if not args.no_peak:  # again at the end, keeping the best: load from other jobs comes and goes
        for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            peak = max(report["peak_matmul_flops"][precision], measure.peak_matmul_flops(device, dtype))
            report["peak_matmul_flops"][precision] = peak
            for e in report["results"]:
                if e["precision"] == precision and e.get("train_model_flops_per_s"):
                    e["train_fraction_of_peak"] = e["train_model_flops_per_s"] / peak
    report["ratios"] = ratios(report["results"])
    report["machine"]["load_average_after"] = list(measure.os.getloadavg())
    return report


def measure_precision(sides: list[Side], batch, decode_src, precision: str, args, device, report) -> list[dict]:
    entries = {side.name: {"impl": side.name, "precision": precision} for side in sides}
    if not args.no_train:
        for side in sides:
            e = entries[side.name]
            e["train_flops_per_step"] = measure.train_step_flops(side, batch, precision)
            e["activation_bytes"] = measure.saved_activation_bytes(side, batch, precision)
            e["activation_bytes_per_token"] = e["activation_bytes"] / batch.tokens
            e["static_training_bytes"] = measure.static_training_bytes(side)
            if device.type == "cuda":
                e["cuda_peak_bytes"] = measure.cuda_peak_bytes(lambda s=side: s.train_step(batch, precision), device)
        times = measure.interleaved(
            {s.name: (lambda s=s: s.train_step(batch, precision)) for s in sides}, device, args.repeats, args.warmup
        )
        for side in sides:
            e = entries[side.name]
            e["train_tokens_per_s"] = measure.rate_summary(batch.tokens, times[side.name])
            # model FLOPs (the analytic count, the same for both sides): what MFU conventionally divides
            flops_per_s = report["analytic_train_flops_per_step"] / statistics.median(times[side.name])
            e["train_model_flops_per_s"] = flops_per_s
            peak = report["peak_matmul_flops"].get(precision)
            e["train_fraction_of_peak"] = flops_per_s / peak if peak else None
            table = report["peak_matmul_flops"].get("bf16_datasheet")
            if table:
                e["train_mfu_vs_datasheet_bf16"] = flops_per_s / table
    if not args.no_decode:
        generated = decode_src.size(0) * args.decode_len
        times = measure.interleaved(
            {s.name: (lambda s=s: s.decode(decode_src, args.beam, args.decode_len, precision)) for s in sides},
            device, args.repeats, args.warmup,
        )
        for side in sides:
            entries[side.name]["decode_tokens_per_s"] = measure.rate_summary(generated, times[side.name])
    return list(entries.values())


def ratios(results: list[dict]) -> dict[str, Any]:
    """ours / best peer, per precision and best setting vs best setting, on median throughputs."""
    out: dict[str, Any] = {}
    for metric in ("train_tokens_per_s", "decode_tokens_per_s"):
        rows = [r for r in results if metric in r]
        ours = [r for r in rows if r["impl"] == "ours"]
        peers = [r for r in rows if r["impl"] != "ours"]
        if not ours or not peers:
            continue
        m: dict[str, Any] = {}
        for precision in sorted({r["precision"] for r in rows}):
            o = [r[metric]["median"] for r in ours if r["precision"] == precision]
            p = [r[metric]["median"] for r in peers if r["precision"] == precision]
            if o and p:
                m[precision] = max(o) / max(p)
        best_ours = max(ours, key=lambda r: r[metric]["median"])
        best_peer = max(peers, key=lambda r: r[metric]["median"])
        m["best_vs_best"] = best_ours[metric]["median"] / best_peer[metric]["median"]
        m["best_ours"] = f"{best_ours['impl']} {best_ours['precision']}"
        m["best_peer"] = f"{best_peer['impl']} {best_peer['precision']}"
        out[metric] = m
    return out


def print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    m, w = report["machine"], report["workload"]
    console.print(
        f"[bold]{m['cpu_model'] if m['device'] == 'cpu' else m.get('gpu')}[/bold], {m['threads']} thread(s), "
        f"load {m['load_average'][0]:.1f} -> {m['load_average_after'][0]:.1f}; shape {report['shape']}; "
        f"{w['sentences']}x({w['src_len']}+{w['tgt_len']}) tokens/step; beam {w['beam']}, {w['decode_len']} tokens"
    )
    peaks = report["peak_matmul_flops"]
    if peaks:
        console.print("peak matrix rate: " + ", ".join(f"{k} {v / 1e9:,.1f} GFLOP/s" for k, v in peaks.items() if v))
    table = Table(title="median (best) over repeats")
    for col in ("impl", "precision", "train tok/s", "decode tok/s", "model GFLOP/s", "of peak", "activations MB"):
        table.add_column(col, justify="right")
    for r in report["results"]:
        t, d = r.get("train_tokens_per_s"), r.get("decode_tokens_per_s")
        table.add_row(
            r["impl"], r["precision"],
            f"{t['median']:,.0f} ({t['best']:,.0f})" if t else "-",
            f"{d['median']:,.1f} ({d['best']:,.1f})" if d else "-",
            f"{r['train_model_flops_per_s'] / 1e9:,.1f}" if t else "-",
            f"{r['train_fraction_of_peak']:.0%}" if t and r.get("train_fraction_of_peak") else "-",
            f"{r['activation_bytes'] / 2**20:,.0f}" if t else "-",
        )
    console.print(table)
    for metric, m in report.get("ratios", {}).items():
        parts = [f"{k} {v:.2f}x" for k, v in m.items() if isinstance(v, float)]
        console.print(f"ours/peer {metric}: " + ", ".join(parts) + f"  ({m['best_ours']} vs {m['best_peer']})")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    report = run(args)
    print_report(report)
    if args.json:
        measure.write_report(args.json, report)
    return report
