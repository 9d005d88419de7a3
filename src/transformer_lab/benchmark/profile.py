"""`python -m transformer_lab.benchmark.profile`: where one training step (or one beam search) of ours spends
its time, how much faster it could get at all, and whether compiling the whole step (forward + label-smoothed
loss) pays.

    python -m transformer_lab.benchmark.profile --device cuda --preset base --sentences 833 --precision bf16
    python -m transformer_lab.benchmark.profile --threads 2 --sentences 32 --compile-step
    python -m transformer_lab.benchmark.profile --threads 2 --sentences 32 --peer          # ceiling vs MarianMT
    python -m transformer_lab.benchmark.profile --threads 2 --sentences 32 --decode --peer # the same, beam search
    python -m transformer_lab.benchmark.profile --device cuda --preset big --vocab 37000 --sentences 833 \
        --compile-step --compile-mode max-autotune-no-cudagraphs --profile-compiled

Prints the operators by self time (device time on a GPU, CPU time otherwise) over `--steps` profiled
calls after warm-up, and the share of matrix products (mm/bmm/addmm/attention) in that time. That share
bounds any speed-up that does not change the matrix products: with everything else free, a call would be
1 / share faster. With `--peer`, MarianMT (the benchmark's peer, same shapes) is profiled on the same work,
and the ceiling of the benchmark's ours-vs-peer ratio at this shape is printed: the peer's time per call
over the time of our matrix products alone.

`--decode` profiles the benchmark's decoding workload instead of a training step: a beam search generating
exactly `--decode-len` tokens per sentence (`--beam` 4). With `--compile-step` (training only), the median
step time eager vs the trainer's compiled forward + loss (`compile.enabled=true`: `training/module/compiled_step.py`,
here with `dynamic=False` since the shape never changes; backward through the compiled graph, Adam outside,
the source mask decided before the compiled call), both timed in the same process, alternating, with the
matrix FLOP rate of each (and on a GPU its share of the datasheet bf16 peak).

Profiled self times include the profiler's own cost per operator (a few microseconds), which weighs most on
the many small operators of a decoding step, alike for both sides.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from transformer_lab.benchmark import measure
from transformer_lab.benchmark.workloads import PRESETS, Shape, autocast, make_batch, make_ours, make_peer, peer_available
from transformer_lab.model import build_transformer
from transformer_lab.model.attention import source_padding_mask
from transformer_lab.special_tokens import PAD_ID
from transformer_lab.training.module.compiled_step import training_loss_function
from transformer_lab.training.module.settings import COMPILE_MODES, CompileConfig

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
    p.add_argument("--steps", type=int, default=3, help="profiled steps or searches (after 3 warm-up calls)")
    p.add_argument("--rows", type=int, default=30, help="operators listed")
    p.add_argument("--trace", type=Path, help="also write a Chrome trace (chrome://tracing, Perfetto) here")
    p.add_argument("--compile-step", action="store_true", help="also time eager vs a compiled forward + loss")
    p.add_argument("--compile-mode", choices=COMPILE_MODES,
                   help="torch.compile's mode for --compile-step (compile.mode; default: torch's default)")
    p.add_argument("--profile-compiled", action="store_true",
                   help="with --compile-step: also list the compiled step's operators and kernels by self time")
    p.add_argument("--decode", action="store_true",
                   help="profile a beam search (exactly --decode-len tokens per sentence) instead of a training step")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--decode-len", type=int, default=30, help="tokens generated per sentence (forced)")
    p.add_argument("--peer", action="store_true",
                   help="also profile MarianMT on the same work and print the ceiling of ours vs the peer")
    p.add_argument("--peer-attn", choices=["sdpa", "eager"], default="eager",
                   help="MarianMT's attention implementation (eager: its faster one on CPU in bf16)")
    args = p.parse_args(argv)
    if args.decode and args.compile_step:
        p.error("--compile-step times the training step; it does not apply with --decode")
    if args.peer and not peer_available():
        p.error("--peer needs Hugging Face transformers: pip install -e '.[bench]'")
    return args


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


@dataclass(frozen=True)
class OperatorProfile:
    """Self time of the aten operators over `calls` profiled calls of one workload (device time on a GPU)."""

    table: str  # the profiler's table, operators (and kernels) by self time
    calls: int
    total_us: float  # every aten operator's self time, all calls together
    matrix_us: float  # of which matrix products and attention (MATRIX_OPS)

    @property
    def per_call_ms(self) -> float:
        return self.total_us / self.calls / 1e3

    @property
    def matrix_per_call_ms(self) -> float:
        return self.matrix_us / self.calls / 1e3

    @property
    def matrix_share(self) -> float:
        return self.matrix_us / self.total_us if self.total_us else 0.0

    @property
    def ceiling(self) -> float:
        """How many times faster a call could get if everything but its matrix products cost nothing."""
        return self.total_us / self.matrix_us if self.matrix_us else math.inf


def ratio_ceiling(ours: OperatorProfile, peer: OperatorProfile) -> float:
    """The most that ours-vs-peer throughput can reach on this work without fewer or faster matrix products:
    the peer's time per call over the time of our matrix products alone."""
    return peer.per_call_ms / ours.matrix_per_call_ms if ours.matrix_us else math.inf


def profile_operators(fn: Callable[[], object], device: torch.device, calls: int, rows: int,
                      trace: Path | None = None, warmup: int = 3) -> OperatorProfile:
    """Profiles `calls` calls of `fn` after `warmup` unprofiled ones."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        fn()
    measure.sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(calls):
            fn()
        measure.sync(device)
    if trace:
        prof.export_chrome_trace(str(trace))
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    # operator rows only: on a GPU the kernels are listed too, with the same time as the operator that launched them
    operators = [e for e in events if e.key.startswith("aten::")]
    total = sum(getattr(e, key) for e in operators)
    matrix = sum(getattr(e, key) for e in operators if e.key.startswith(MATRIX_OPS))
    return OperatorProfile(events.table(sort_by=key, row_limit=rows), calls, float(total), float(matrix))


def describe(name: str, unit: str, result: OperatorProfile) -> str:
    return (f"{name}: self time per {unit} {result.per_call_ms:.1f} ms; matrix products and attention "
            f"{result.matrix_share:.0%} of it ({result.matrix_per_call_ms:.1f} ms): with every other operator "
            f"free, at most {result.ceiling:.2f}x faster")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to PyTorch (use --device cpu)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    d_model, layers, heads, d_ff = PRESETS[args.preset]
    shape = Shape(d_model=d_model, layers=layers, heads=heads, d_ff=d_ff, vocab=args.vocab)
    batch = make_batch(args.sentences, args.src_len, args.tgt_len, shape.vocab, device)
    info = measure.machine_info(device, torch.get_num_threads())
    machine = info.get("gpu") or info["cpu_model"]
    if args.decode:
        print(f"{machine}, {args.preset} {args.precision}, beam search: {args.sentences} sentences x beam "
              f"{args.beam} x {args.decode_len} tokens")
        print_profiles(profile_decoding(shape, batch, device, args), unit="search")
        return
    print(f"{machine}, {args.preset} {args.precision}, training step: {batch.tokens:,} tokens")
    torch.manual_seed(0)
    eager = TrainingStep(build_transformer(shape.model_config()).to(device), args.precision, compile=False)
    print_profiles(profile_training(eager, shape, batch, device, args), unit="step")
    if args.compile_step:
        compare_compiled(eager, shape, batch, device, args)


def profile_training(eager: TrainingStep, shape: Shape, batch, device: torch.device,
                     args: argparse.Namespace) -> dict[str, OperatorProfile]:
    """Our training step (and the peer's, with `--peer`: forward, the same loss, backward, fused Adam)."""
    profiles = {"ours": profile_operators(lambda: eager(batch), device, args.steps, args.rows, args.trace)}
    if args.peer:
        torch.manual_seed(0)
        peer = make_peer(shape, device, args.peer_attn)
        profiles[peer.name] = profile_operators(lambda: peer.train_step(batch, args.precision), device,
                                                args.steps, args.rows)
    return profiles


def profile_decoding(shape: Shape, batch, device: torch.device, args: argparse.Namespace) -> dict[str, OperatorProfile]:
    """The benchmark's decoding workload, ours (and the peer's): beam search forced to `--decode-len` tokens."""
    torch.manual_seed(0)
    sides = [make_ours(shape, device)]
    if args.peer:
        torch.manual_seed(0)
        sides.append(make_peer(shape, device, args.peer_attn))
    return {side.name: profile_operators(lambda: side.decode(batch.src, args.beam, args.decode_len, args.precision),
                                         device, args.steps, args.rows, args.trace if side.name == "ours" else None)
            for side in sides}


def print_profiles(profiles: dict[str, OperatorProfile], unit: str) -> None:
    """Each side's table and ceiling; with a peer, the ceiling of ours vs the peer."""
    for name, result in profiles.items():
        print(f"{result.table}\n{describe(name, unit, result)}")
    ours = profiles["ours"]
    for peer_name, peer in profiles.items():
        if peer_name != "ours":
            print(f"ceiling of ours vs {peer_name} at this shape, without fewer or faster matrix products: "
                  f"{peer.per_call_ms:.1f} ms per {unit} / {ours.matrix_per_call_ms:.1f} ms of ours' matrix "
                  f"products = {ratio_ceiling(ours, peer):.2f}x (now, profiled: {peer.per_call_ms / ours.per_call_ms:.2f}x)")


def compare_compiled(eager: TrainingStep, shape: Shape, batch, device: torch.device, args: argparse.Namespace) -> None:
    """Median step time eager vs the trainer's compiled forward + loss, alternating in this process."""
    compiled = TrainingStep(eager.model, args.precision, compile=True, mode=args.compile_mode)
    times = measure.interleaved({"eager": lambda: eager(batch), "compiled": lambda: compiled(batch)},
                                device, repeats=10, warmup=3)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"step median: eager {medians['eager'] * 1e3:.1f} ms, compiled forward+loss "
          f"{medians['compiled'] * 1e3:.1f} ms ({medians['eager'] / medians['compiled']:.2f}x)")
    print(flop_rates(medians, shape, batch, device))
    if args.profile_compiled:  # Triton's fused kernels are listed by name, not as aten:: operators
        print(f"compiled step (mode={args.compile_mode or 'default'}):")
        print_profiles({"ours": profile_operators(lambda: compiled(batch), device, args.steps, args.rows, args.trace)},
                       unit="step")


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
