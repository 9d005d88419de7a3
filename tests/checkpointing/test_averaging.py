"""Checkpoint averaging: the mean (against numpy), tied weights, choice by step, and memory independent of N."""

from __future__ import annotations

import multiprocessing
import resource
from pathlib import Path

import numpy as np
import pytest
import torch

from transformer_lab.average_checkpoints import main as average_main
from transformer_lab.checkpointing.averaging import average_state_dicts
from transformer_lab.checkpointing.errors import CheckpointContentError


def synthetic_state_dict(seed: int, rows: int = 64, width: int = 32) -> dict[str, torch.Tensor]:
    """Weights shaped like a model's: a tied embedding/output pair, float32 and bfloat16 tensors, an int buffer."""
    generator = torch.Generator().manual_seed(seed)
    embedding = torch.randn(rows, width, generator=generator)
    return {
        "model.embedding.weight": embedding,
        "model.layer.weight": torch.randn(width, width, generator=generator),
        "model.layer.bias": torch.randn(width, generator=generator).to(torch.bfloat16),
        "model.output.weight": embedding,  # tied: the same tensor under two names
        "model.steps_seen": torch.tensor([seed], dtype=torch.int64),
    }


def write_checkpoints(directory: Path, steps: list[int], **shape: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, step in enumerate(steps):
        path = directory / f"ckpt-{index:02d}.ckpt"  # names deliberately not in step order
        torch.save({"state_dict": synthetic_state_dict(step, **shape), "global_step": step,
                    "hyper_parameters": {"written_at_step": step}, "optimizer_states": [{"big": torch.zeros(3)}]}, path)
        paths.append(path)
    return paths


def test_average_is_the_elementwise_mean() -> None:
    states = [synthetic_state_dict(seed) for seed in (3, 1, 4, 1, 5)]
    averaged = average_state_dicts(iter(states))
    for key in states[0]:
        stacked = np.stack([s[key].to(torch.float64).numpy() for s in states])
        if states[0][key].is_floating_point():
            expected = torch.from_numpy(stacked.mean(axis=0)).to(states[-1][key].dtype)
            torch.testing.assert_close(averaged[key], expected, rtol=0, atol=0)
        else:  # integer buffers: the last checkpoint's
            assert torch.equal(averaged[key], states[-1][key])
        assert averaged[key].dtype == states[-1][key].dtype


def test_tied_weights_stay_tied() -> None:
    averaged = average_state_dicts(synthetic_state_dict(seed) for seed in range(3))
    assert averaged["model.output.weight"] is averaged["model.embedding.weight"]
    assert averaged["model.layer.weight"] is not averaged["model.embedding.weight"]


def test_different_parameters_are_refused() -> None:
    other = synthetic_state_dict(1)
    other["model.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointContentError, match="checkpoint 1 has different parameters"):
        average_state_dicts([synthetic_state_dict(0), other])


def test_command_averages_the_last_n_by_step(tmp_path: Path, capsys) -> None:
    write_checkpoints(tmp_path / "ckpts", steps=[30, 10, 50, 20, 40])
    out = tmp_path / "averaged.ckpt"
    assert average_main([str(tmp_path / "ckpts"), "--last", "3", "-o", str(out)]) == 0
    assert "steps 30, 40, 50" in capsys.readouterr().out
    result = torch.load(out, weights_only=True)
    expected = average_state_dicts([synthetic_state_dict(step) for step in (30, 40, 50)])
    for key, value in expected.items():
        assert torch.equal(result["state_dict"][key], value), key
    tied = result["state_dict"]
    assert tied["model.output.weight"].untyped_storage().data_ptr() == tied["model.embedding.weight"].untyped_storage().data_ptr()
    assert result["hyper_parameters"] == {"written_at_step": 50}
    assert "optimizer_states" not in result


def _average_in_child(directory: str, last: int, output: str, results) -> None:
    average_main([directory, "--last", str(last), "-o", output])
    results.put(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux: KiB


def peak_rss_of_averaging(directory: Path, last: int, output: Path) -> int:
    """Peak resident memory (bytes) of a fresh process that averages the last `last` checkpoints."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_average_in_child, args=(str(directory), last, str(output), results))
    child.start()
    peak = results.get(timeout=300)
    child.join()
    return peak


def test_peak_memory_does_not_grow_with_the_number_of_checkpoints(tmp_path: Path) -> None:
    rows, width = 16384, 512  # 8M float32 weights: 32 MiB per checkpoint (the base model's are 250 MB)
    write_checkpoints(tmp_path / "ckpts", steps=list(range(10)), rows=rows, width=width)
    checkpoint_bytes = (rows * width + 2 * width * width) * 4
    two = peak_rss_of_averaging(tmp_path / "ckpts", 2, tmp_path / "two.ckpt")
    ten = peak_rss_of_averaging(tmp_path / "ckpts", 10, tmp_path / "ten.ckpt")
    # Holding all ten would add 8 checkpoints (256 MiB) over two; the running sum adds nothing.
    assert ten - two < checkpoint_bytes / 2, f"N=2: {two / 2**20:.0f} MiB, N=10: {ten / 2**20:.0f} MiB"
