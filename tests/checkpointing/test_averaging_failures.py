"""Averaging checkpoints that do not belong together (other parameter names, shapes or model settings) is
refused naming the file, before anything is written; a write that fails leaves no partial average under
the output's name and keeps the file that was there."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from transformer_lab.average_checkpoints import main as average_main
from transformer_lab.checkpointing.errors import CheckpointContentError

MODEL = {"d_model": 8, "n_heads": 2, "norm": "post"}


def write(path: Path, step: int, width: int = 8, extra: bool = False, model: dict | None = None) -> Path:
    generator = torch.Generator().manual_seed(step)
    state = {"model.layer.weight": torch.randn(width, width, generator=generator),
             "model.layer.bias": torch.randn(width, generator=generator)}
    if extra:
        state["model.extra.weight"] = torch.zeros(width)
    torch.save({"state_dict": state, "global_step": step, "hyper_parameters": {"model": model or dict(MODEL)}}, path)
    return path


MISMATCHES = {  # the odd checkpoint's settings -> what the message must name
    "wider": ({"width": 16}, r"model\.layer\.weight has shape \((16, 16|8, 8)\), \((8, 8|16, 16)\) in"),
    "more parameters": ({"extra": True}, r"has different parameters than .*only in .*'model\.extra\.weight'"),
    "pre-norm, same shapes": ({"model": {**MODEL, "norm": "pre"}},
                              r"has another model than .*model\.norm: 'pre' there, 'post' in"),
    "other heads, same shapes": ({"model": {**MODEL, "n_heads": 4}}, r"model\.n_heads: 4 there, 2 in"),
}


@pytest.mark.parametrize("kind", list(MISMATCHES))
def test_checkpoints_of_another_architecture_are_refused_naming_the_file(tmp_path, kind):
    options, message = MISMATCHES[kind]
    for odd_position in (0, 2):  # the odd one oldest, or in the middle of the first-added ones
        directory = tmp_path / f"at{odd_position}"
        directory.mkdir()
        paths = [write(directory / f"s{step}.ckpt", step, **(options if i == odd_position else {}))
                 for i, step in enumerate((10, 20, 30, 40))]
        output = directory / "averaged.ckpt"
        output.write_bytes(b"the previous average")
        with pytest.raises(CheckpointContentError, match=message) as caught:
            average_main([str(p) for p in paths] + ["--last", "4", "-o", str(output)])
        assert str(paths[odd_position]) in str(caught.value) and "one model configuration" in str(caught.value)
        assert output.read_bytes() == b"the previous average"  # untouched, no temporary left beside it
        assert sorted(p.name for p in directory.iterdir()) == sorted([p.name for p in paths] + ["averaged.ckpt"])


def test_the_command_says_it_in_one_line(tmp_path):
    paths = [write(tmp_path / "a.ckpt", 1), write(tmp_path / "b.ckpt", 2, width=4)]
    proc = subprocess.run([sys.executable, "-m", "transformer_lab.average_checkpoints", *map(str, paths), "-o",
                           str(tmp_path / "out.ckpt")], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out.ckpt").exists()


def _small_file_limit() -> None:  # a disk that fills up: writes past 16 KiB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))


def test_a_failed_write_leaves_no_partial_average_under_its_name(tmp_path):
    paths = [write(tmp_path / f"s{step}.ckpt", step, width=128) for step in (1, 2)]  # 64 KiB of weights each
    fresh, existing = tmp_path / "fresh.ckpt", tmp_path / "existing.ckpt"
    existing.write_bytes(b"the previous average")
    for output in (fresh, existing):
        proc = subprocess.run([sys.executable, "-m", "transformer_lab.average_checkpoints", *map(str, paths), "-o",
                               str(output)], capture_output=True, text=True, preexec_fn=_small_file_limit, timeout=300, check=False)
        assert proc.returncode == 2 and "File too large while writing" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not fresh.exists() and existing.read_bytes() == b"the previous average"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.ckpt", "s1.ckpt", "s2.ckpt"]  # no temporaries
