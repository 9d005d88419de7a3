"""The CPU trainer's precision, decided at run time: bf16 mixed precision where the CPU multiplies bf16
natively, float32 elsewhere.

`conf/trainer/cpu.yaml` sets `precision: ${tlab_cpu_precision:}`; the package registers that OmegaConf
resolver on import (`transformer_lab/__init__.py`), so every composed config resolves it on the machine
that runs the job. Native bf16 matrix support on x86 means Intel AMX (`amx_bf16`) or AVX512-BF16
(`avx512_bf16`, e.g. Zen 4, Cooper Lake); without either, oneDNN emulates bf16 products through fp32 and
bf16 autocast only adds casts. Other architectures (Arm, Apple) are not probed: float32.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import OmegaConf

RESOLVER = "tlab_cpu_precision"
BF16_MIXED, FLOAT32 = "bf16-mixed", "32-true"
# /proc/cpuinfo flag -> the name printed at the start of a run, strongest first
NATIVE_BF16_FLAGS = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


@dataclass(frozen=True)
class CpuPrecision:
    precision: str  # a Lightning Trainer precision value
    reason: str  # why, for the start-of-run line

    def describe(self) -> str:
        return f"{self.precision} ({self.reason})"


def choose_cpu_precision(flags: Iterable[str]) -> CpuPrecision:
    """CPU feature flags (as in /proc/cpuinfo) -> bf16-mixed if any native bf16 matrix flag is there."""
    present = set(flags)
    for flag, name in NATIVE_BF16_FLAGS.items():
        if flag in present:
            return CpuPrecision(BF16_MIXED, f"{name} detected")
    return CpuPrecision(FLOAT32, "no AMX-BF16 or AVX512-BF16 on this CPU")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The `flags` of the first processor in /proc/cpuinfo; empty where there is no such file."""
    try:
        with cpuinfo.open() as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def detect_cpu_precision() -> CpuPrecision:
    return choose_cpu_precision(cpu_flags())


def register_resolver() -> None:
    """`${tlab_cpu_precision:}` -> "bf16-mixed" or "32-true" for this machine."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, lambda: detect_cpu_precision().precision)


def precision_line(configured: object, resolved: str) -> str:
    """The start-of-run line. configured: the trainer's precision before resolution (the resolver
    expression unless the user overrode it); resolved: the value the Trainer got."""
    if isinstance(configured, str) and RESOLVER in configured:
        return f"precision: {detect_cpu_precision().describe()}"
    return f"precision: {resolved} (set by trainer.precision)"
