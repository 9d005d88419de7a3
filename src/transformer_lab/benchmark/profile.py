"""`python -m transformer_lab.benchmark.profile`: where one training step of ours spends its time, and whether
compiling the whole step (forward + label-smoothed loss) pays.

    python -m transformer_lab.benchmark.profile --device cuda --preset base --sentences 833 --precision bf16
    python -m transformer_lab.benchmark.profile --threads 2 --sentences 32 --compile-step

Prints the operators by self time (device time on a GPU, CPU time otherwise) over `--steps` profiled
steps after warm-up, the share of matrix products (mm/bmm/addmm/attention) in that time, and with
`--compile-step` the median step time eager vs `torch.compile(dynamic=False)` of forward + loss (backward
through the compiled graph, Adam outside), both timed in the same process, alternating.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from transformer_lab.benchmark import measure
from transformer_lab.benchmark.workloads import PRESETS, Shape, autocast, make_batch
from transformer_lab.model import build_transformer
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.loss import label_smoothed_loss

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
    return p.parse_args(argv)


class TrainingStep:
    """forward (+ loss) possibly compiled, then backward and a fused Adam step; no host sync."""

    def __init__(self, model: torch.nn.Module, precision: str, compile: bool) -> None:
        self.model, self.precision = model, precision
        self.optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9, fused=True)
        self.loss = torch.compile(self._loss, dynamic=False) if compile else self._loss

    def _loss(self, src: torch.Tensor, tgt_in: torch.Tensor, tgt_out: torch.Tensor) -> torch.Tensor:
        with autocast(src.device, self.precision):
            logits = self.model(src, tgt_in)  # (B, T, V)
        sums = label_smoothed_loss(logits, tgt_out, 0.1, PAD_ID)
        return sums.smoothed / sums.n_tokens.clamp(min=1)

    def __call__(self, batch) -> None:
        self.model.train()
        loss = self.loss(batch.src, batch.tgt_in, batch.tgt_out)
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
        compiled = TrainingStep(model, args.precision, compile=True)
        times = measure.interleaved({"eager": lambda: eager(batch), "compiled": lambda: compiled(batch)},
                                    device, repeats=10, warmup=3)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"step median: eager {medians['eager'] * 1e3:.1f} ms, compiled forward+loss "
              f"{medians['compiled'] * 1e3:.1f} ms ({medians['eager'] / medians['compiled']:.2f}x)")


if __name__ == "__main__":
    main()
