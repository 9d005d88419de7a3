"""Which checkpoint a launch resumes from (`ckpt_path`), and the checks before it may (fast, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.checkpointing.resume import check_resume_compatible, newest_resumable_checkpoint, resolve_ckpt_path
from transformer_lab.config.checks import ConfigError

MODEL = {"d_model": 16, "vocab_size": 40}
DATA = {"corpus": "builtin", "vocab_size": 40, "num_workers": 0}


def write_checkpoint(path: Path, step: int, model=MODEL, data=DATA, loops: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = {"state_dict": {}, "global_step": step, "hyper_parameters": {"model": dict(model)},
                  "data_config": dict(data)}
    if loops:
        checkpoint["loops"] = {}
    torch.save(checkpoint, path)
    return path


def test_auto_resumes_from_last_only_when_it_exists(tmp_path):
    assert resolve_ckpt_path("auto", tmp_path) is None
    last = write_checkpoint(RunLayout(tmp_path).last_checkpoint, 4)
    assert resolve_ckpt_path("auto", tmp_path) == str(last)
    assert resolve_ckpt_path("last", tmp_path) == str(last)
    assert resolve_ckpt_path(None, tmp_path) is None


def test_last_and_a_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ckpt_path=last: no .*last\.ckpt\. Relaunch in the run directory"):
        resolve_ckpt_path("last", tmp_path)
    with pytest.raises(FileNotFoundError, match="ckpt_path=nowhere.ckpt: no such checkpoint file"):
        resolve_ckpt_path("nowhere.ckpt", tmp_path)
    given = write_checkpoint(tmp_path / "elsewhere" / "x.ckpt", 2)
    assert resolve_ckpt_path(str(given), tmp_path) == str(given)


def test_a_different_model_or_data_is_refused_naming_each_key(tmp_path):
    path = write_checkpoint(tmp_path / "x.ckpt", 4)
    check_resume_compatible(path, model=MODEL, data={**DATA, "num_workers": 4}, run_dir=tmp_path)  # may change
    check_resume_compatible(path, model=MODEL, data={**DATA, "pad_to_multiple_of": 8}, run_dir=tmp_path)  # only pad
    with pytest.raises(ConfigError) as refused:
        check_resume_compatible(path, model={**MODEL, "d_model": 32}, data={**DATA, "corpus": "other"}, run_dir=tmp_path)
    assert "model.d_model: 16 in the checkpoint, 32 now" in str(refused.value)
    assert "data.corpus: 'builtin' in the checkpoint, 'other' now" in str(refused.value)


def test_an_unreadable_checkpoint_names_the_newest_resumable_one(tmp_path):
    layout = RunLayout(tmp_path)
    last = layout.last_checkpoint
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    write_checkpoint(layout.periodic_dir / "step0000004.ckpt", 4)
    newest = write_checkpoint(layout.periodic_dir / "step0000008.ckpt", 8)
    write_checkpoint(layout.checkpoints_dir / "best-step0000012-bleu1.00.ckpt", 12, loops=False)  # weights only
    with pytest.raises(ConfigError, match="is not a readable transformer_lab checkpoint \\(empty: 0 bytes\\)"):
        check_resume_compatible(last, model=MODEL, data=DATA, run_dir=tmp_path)
    with pytest.raises(ConfigError) as refused:
        check_resume_compatible(last, model=MODEL, data=DATA, run_dir=tmp_path)
    assert f"The newest readable checkpoint in the run directory is {newest} (step 8)" in str(refused.value)
    assert newest_resumable_checkpoint(layout, excluding=newest) == (4, layout.periodic_dir / "step0000004.ckpt")


def test_without_another_readable_checkpoint_the_way_on_is_to_start_over(tmp_path):
    last = RunLayout(tmp_path).last_checkpoint
    last.parent.mkdir(parents=True)
    last.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="No other readable checkpoint is in the run directory"):
        check_resume_compatible(last, model=MODEL, data=DATA, run_dir=tmp_path)
