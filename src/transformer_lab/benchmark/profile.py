"""`python -m transformer_lab.benchmark.profile`: where one training step of ours spends its time, and whether
compiling the whole step (forward + label-smoothed loss) pays.

    python -m transformer_lab.benchmark.profile --device cuda --preset base --sentences 833 --precision bf16
    python -m transformer_lab.benchmark.profile --threads 2 --sentences 32 --compile-step
    python -m transformer_lab.benchmark.profile --device cuda --preset big --vocab 37000 --sentences 833 \
        --compile-step --compile-mode max-autotune-no-cudagraphs --profile-compiled

Prints the operators by self time (device time on a GPU, CPU time otherwise) over `--steps` profiled
steps after warm-up, the share of matrix products (mm/bmm/addmm/attention) in that time, and with
`--compile-step` the median step time eager vs the trainer's compiled forward + loss (`compile.enabled=true`:
`training/compiled_step.py`, here with `dynamic=False` since the shape never changes; backward through the
compiled graph, Adam outside, the source mask decided before the compiled call), both timed in the same
process, alternating, with the matrix FLOP rate of each (and on a GPU its share of the datasheet bf16 peak).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from transformer_lab.benchmark import measure
from transformer_lab.benchmark.workloads import PRESETS, Shape, autocast, make_batch
from transformer_lab.model import build_transformer
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.compiled_step import training_loss_function
from transformer_lab.training.config import COMPILE_MODES, CompileConfig

MATRIX_OPS = ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::_scaled_dot_product",
              "aten::_flash_attention", "aten::_efficient_attention", "aten::_cudnn_attention",
              "aten::scaled_dot_product")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m transformer_lab.benchmark.profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="base")
    p.add_argument("--vocab", type=int, default=8000)
    p.add_argument("--sentences", type=int, default=32)
    p.add_argument("--src-len", type=int, default=30)
    p.add_argument("--tgt-len", type=int, default=30)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--threads", type=int)
    p.add_argument("--steps", type=int, default=3, help="profiled steps (after 3 warm-up steps)")
    p.add_argument("--rows", type=int, default=30, help="operators listed")
    p.add_argument("--trace", type=Path, help="also write a Chrome trace (chrome://tracing, Perfetto) here")
    p.add_argument("--compile-step", action="store_true", help="also time eager vs a compiled forward + loss")
    p.add_argument("--compile-mode", choices=COMPILE_MODES,
                   help="torch.compile's mode for --compile-step (compile.mode; default: torch's default)")
    p.add_argument("--profile-compiled", action="store_true",
                   help="with --compile-step: also list the compiled step's operators and kernels by self time")
    return p.parse_args(argv)


class TrainingStep:
    """The trainer's forward + loss (`training_loss_function`, compiled or not), then backward and a fused
    Adam step. The source mask is decided outside the forward, as the trainer does (one device read)."""

    def __init__(self, model: torch.nn.Module, precision: str, compile: bool, mode: str | None = None) -> None:
        self.model, self.precision = model, precision
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=True)
        self.loss_sums = training_loss_function(CompileConfig(enabled=compile, dynamic=False, mode=mode))

    def __call__(self, batch) -> None:
        self.model.train()
        with autocast(batch.src.device, self.precision):
            src_mask = source_padding_mask(batch.src, PAD_ID)
            sums = self.loss_sums(self.model, batch.src, batch.tgt_in, batch.tgt_out, src_mask, 0.1, PAD_ID)
        loss = sums.smoothed / sums.n_tokens.clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def profile_table(step: TrainingStep, batch, device: torch.device, args: argparse.Namespace) -> str:
    from torch.profiler import ProfilerActivity, profile

    for _ in range(3):
        step(batch)
    measure.sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step(batch)
        measure.sync(device)
    if args.trace:
        prof.export_chrome_trace(str(args.trace))
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    # operator rows only: on a GPU the kernels are listed too, with the same time as the operator that launched them
    operators = [e for e in events if e.key.startswith("aten::")]
    total = sum(getattr(e, key) for e in operators)
    matrix = sum(getattr(e, key) for e in operators if e.key.startswith(MATRIX_OPS))
    table = events.table(sort_by=key, row_limit=args.rows)
    per_step_ms = total / args.steps / 1e3
    return (f"{table}\nself time per step {per_step_ms:.1f} ms ({key}); matrix products and attention "
            f"{matrix / max(total, 1):.0%} of it")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to PyTorch (use --device cpu)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    d_model, layers, heads, d_ff = PRESETS[args.preset]
    shape = Shape(d_model=d_model, layers=layers, heads=heads, d_ff=d_ff, vocab=args.vocab)
    torch.manual_seed(0)
    model = build_transformer(shape.model_config()).to(device)
    batch = make_batch(args.sentences, args.src_len, args.tgt_len, shape.vocab, device)
    info = measure.machine_info(device, torch.get_num_threads())
    print(f"{info.get('gpu') or info['cpu_model']}, {args.preset} {args.precision}, {batch.tokens:,} tokens per step")
    eager = TrainingStep(model, args.precision, compile=False)
    print(profile_table(eager, batch, device, args))
    if args.compile_step:
        compiled = TrainingStep(model, args.precision, compile=True, mode=args.compile_mode)
        times = measure.interleaved({"eager": lambda: eager(batch), "compiled": lambda: compiled(batch)},
                                    device, repeats=10, warmup=3)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"step median: eager {medians['eager'] * 1e3:.1f} ms, compiled forward+loss "
              f"{medians['compiled'] * 1e3:.1f} ms ({medians['eager'] / medians['compiled']:.2f}x)")
        print(flop_rates(medians, shape, batch, device))
        if args.profile_compiled:  # Triton's fused kernels are listed by name, not as aten:: operators
            print(f"compiled step (mode={args.compile_mode or 'default'}):")
            print(profile_table(compiled, batch, device, args))


def flop_rates(medians: dict[str, float], shape: Shape, batch, device: torch.device) -> str:
    """Matrix FLOP/s of each step (the analytic count of `measure.analytic_train_flops`) and, on a GPU in the
    datasheet table, the model FLOPs utilization (MFU) against its dense bf16 peak."""
    sentences, src_len = batch.src.shape
    flops = measure.analytic_train_flops(shape.d_model, shape.layers, shape.d_ff, shape.vocab, sentences, src_len,
                                         batch.tgt_in.size(1))
    peak = measure.gpu_table_peak(device)[1] if device.type == "cuda" else None
    parts = []
    for name, seconds in medians.items():
        rate = flops / seconds
        share = f", MFU {rate / peak:.1%} of the bf16 datasheet peak" if peak else ""
        parts.append(f"{name} {rate / 1e12:.1f} TFLOP/s{share}")
    return f"matrix FLOPs per step {flops / 1e9:.1f} G: " + "; ".join(parts)


if __name__ == "__main__":
    main()
