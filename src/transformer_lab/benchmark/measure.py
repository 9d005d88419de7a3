"""Timing, FLOP counting, memory and the machine's peak matrix rate.

Timing rule for a shared machine: the sides are timed alternately in one process (ours, peer, ours, ...),
so that load from other jobs hits both alike; we report the median and the best of the repeats and
compare sides by ratios.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from transformer_lab.benchmark.workloads import Batch, Side

# Dense bf16 tensor-core peaks from the vendors' datasheets (TFLOP/s, no sparsity), by device-name substring.
GPU_BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 NVL": 835.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10": 125.0,
    "RTX 4090": 165.0,
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds for one call, device work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(fns: dict[str, Callable[[], Any]], device: torch.device, repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time each fn `repeats` times, alternating between them, after `warmup` untimed calls of each."""
    for fn in fns.values():
        for _ in range(warmup):
            timed(fn, device)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, device))
    return times


def rate_summary(units: float, seconds: list[float]) -> dict[str, Any]:
    """units per second: median and best over the repeats, plus the raw seconds."""
    return {
        "median": units / statistics.median(seconds),
        "best": units / min(seconds),
        "seconds": [round(s, 4) for s in seconds],
    }


def train_step_flops(side: Side, batch: Batch, precision: str) -> int:
    """Matrix FLOPs of one training step (forward + backward), counted by PyTorch's FlopCounterMode
    (mm/addmm/bmm/attention; elementwise ops, LayerNorm, softmax and Adam not counted). Runs one step."""
    with FlopCounterMode(display=False) as counter:
        side.train_step(batch, precision)
    return int(counter.get_total_flops())


def analytic_train_flops(d_model: int, layers: int, d_ff: int, vocab: int, sentences: int, src_len: int, tgt_len: int) -> int:
    """The same count from the shapes: 6 FLOPs per weight per token it multiplies (2 forward, 4 backward),
    plus attention's two matrix products (QK^T and PV, 2*Tq*Tk*D each forward) times 3.

      encoder:  6 * (4 D^2 + 2 D d_ff) * B*S              + 12 * B * S^2 * D    per layer
      decoder:  6 * (6 D^2 + 2 D d_ff) * B*T  (self-attention Q/K/V/O, cross-attention Q/O, FFN)
                + 6 * 2 D^2 * B*S                           (cross-attention K/V of the source)
                + 12 * B * T^2 * D + 12 * B * T * S * D     per layer (causal scores counted in full)
      output:   6 * D * V * B*T                             (pre-softmax projection; lookups are free)
    Biases, LayerNorm, softmax and the optimizer are left out, as in FlopCounterMode.
    """
    D, F, B, S, T = d_model, d_ff, sentences, src_len, tgt_len
    encoder = 6 * (4 * D * D + 2 * D * F) * B * S + 12 * B * S * S * D
    decoder = 6 * (6 * D * D + 2 * D * F) * B * T + 6 * 2 * D * D * B * S + 12 * B * T * T * D + 12 * B * T * S * D
    return layers * (encoder + decoder) + 6 * D * vocab * B * T


def saved_activation_bytes(side: Side, batch: Batch, precision: str) -> int:
    """Bytes of the tensors autograd keeps for backward during one training step (parameters excluded,
    each storage counted once): the activation memory, which grows with the tokens in a batch."""
    params = {p.untyped_storage().data_ptr() for p in side.model.parameters()}
    seen: set[int] = set()
    total = 0

    @torch.compiler.disable  # bookkeeping, not model code: never traced into a compiled graph
    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in params and ptr not in seen:
            seen.add(ptr)
            total += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        side.train_step(batch, precision)
    return total


def cuda_peak_bytes(fn: Callable[[], Any], device: torch.device) -> int:
    """torch.cuda.max_memory_allocated over one call (everything the allocator holds: weights, Adam state,
    activations, workspace)."""
    sync(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    sync(device)
    return int(torch.cuda.max_memory_allocated(device))


def static_training_bytes(side: Side) -> int:
    """fp32 weights + gradients + Adam's two moments: 16 bytes per trained parameter."""
    return 16 * trained_parameters(side)


def trained_parameters(side: Side) -> int:
    """Parameters that receive gradients, each shared tensor once (Marian's fixed sinusoid tables excluded)."""
    return sum(p.numel() for p in side.model.parameters() if p.requires_grad)


def peak_matmul_flops(device: torch.device, dtype: torch.dtype, seconds: float = 1.0) -> float:
    """The machine's matrix rate (FLOP/s): the best single product in a timed loop over square sizes
    (CPU: 1024 and 2048, the sizes where oneDNN's blocking is at its best here; GPU: 8192). Random data,
    not zeros (zeros run faster on some hardware). Best, not median: other jobs only ever slow it down."""
    sizes = (8192,) if device.type == "cuda" else (1024, 2048)
    best_rate = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        timed(lambda: a @ b, device)  # warm up
        best, spent = float("inf"), 0.0
        while spent < seconds / len(sizes) or best == float("inf"):
            t = timed(lambda: a @ b, device)
            best, spent = min(best, t), spent + t
        best_rate = max(best_rate, 2 * n**3 / best)
    return best_rate


def gpu_table_peak(device: torch.device) -> tuple[str, float | None]:
    """(device name, datasheet dense bf16 FLOP/s or None if not in the table)."""
    name = torch.cuda.get_device_name(device)
    for key, tflops in GPU_BF16_PEAK_TFLOPS.items():
        if key in name:
            return name, tflops * 1e12
    return name, None


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": threads,
        "logical_cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "device": device.type,
    }
    try:
        import transformers

        info["transformers"] = transformers.__version__
    except ImportError:
        info["transformers"] = None
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_report(path: Path, report: dict[str, Any]) -> None:
    """The raw JSON of a benchmark run (docs/perf/ keeps these), its folder made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}", file=sys.stderr)
