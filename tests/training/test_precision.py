"""The CPU trainer's precision: bf16-mixed where the CPU multiplies bf16 natively, float32 elsewhere."""

from __future__ import annotations

import re

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from training_helpers import TINY, run_cli

from transformer_lab.train import CONFIG_DIR
from transformer_lab.training.runtime.precision import (
    choose_cpu_precision,
    cpu_flags,
    detect_cpu_precision,
    precision_line,
)

ZEN4 = "fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni"
SAPPHIRE_RAPIDS = "fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8"
SKYLAKE = "fpu sse2 avx2 avx512f avx512bw avx512_vnni"
ZEN3 = "fpu sse2 avx2 fma"


@pytest.mark.parametrize(
    "flags, expected, reason",
    [
        (ZEN4, "bf16-mixed", "AVX512-BF16 detected"),
        (SAPPHIRE_RAPIDS, "bf16-mixed", "AMX-BF16 detected"),  # AMX named first: the stronger unit
        (SKYLAKE, "32-true", "no AMX-BF16 or AVX512-BF16"),  # AVX-512 without its bf16 extension
        (ZEN3, "32-true", "no AMX-BF16 or AVX512-BF16"),
        ("", "32-true", "no AMX-BF16 or AVX512-BF16"),  # no /proc/cpuinfo (macOS, Windows)
    ],
)
def test_choice_follows_the_native_bf16_flags(flags, expected, reason):
    choice = choose_cpu_precision(flags.split())
    assert choice.precision == expected
    assert reason in choice.reason


def test_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: {ZEN4}\n\nprocessor\t: 1\n")
    assert cpu_flags(cpuinfo) == set(ZEN4.split())
    assert cpu_flags(tmp_path / "missing") == set()


def test_trainer_cpu_resolves_to_this_machines_choice():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=["trainer=cpu"])
    assert OmegaConf.to_container(cfg.trainer, resolve=False)["precision"] == "${tlab_cpu_precision:}"
    assert cfg.trainer.precision == detect_cpu_precision().precision


def test_start_line_says_why():
    assert precision_line("${tlab_cpu_precision:}", "x") == f"precision: {detect_cpu_precision().describe()}"
    assert precision_line("32-true", "32-true") == "precision: 32-true (set by trainer.precision)"


def test_a_tiny_run_trains_in_the_resolved_precision(tmp_path):
    # debug=tiny pins 32-true for reproducible tests; put the trainer=cpu default back
    proc = run_cli("transformer_lab.train", *TINY, "trainer.precision=${tlab_cpu_precision:}", "trainer.max_steps=2",
                   "test=false", "logger=none", f"hydra.run.dir={tmp_path}")
    expected = detect_cpu_precision()
    out = proc.stdout + proc.stderr
    assert f"precision: {expected.describe()}" in out
    amp = re.search(r"Using bfloat16 Automatic Mixed Precision", out)
    assert bool(amp) == (expected.precision == "bf16-mixed")  # Lightning got the resolved value
