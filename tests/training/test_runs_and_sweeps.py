"""Runs that exercise the job lifecycle: multirun, failure, resume (DDP on CPU: test_ddp_launchers.py)."""

from __future__ import annotations

import json

import pytest
import torch
from training_helpers import TINY, offline_runs, read_wandb_offline_run, run_cli

# The 2-process DDP run's dev scoring: tests/training/test_ddp_launchers.py, on its plain-node run.


# Slow: CI makes the same checks (one finished W&B run per job, distinct ids, the group, exit code 0) on the 3-job
# sweep of tests/report/test_report_sweeps.py::test_three_row_sweep_gives_three_runs_one_wandb_group_and_a_...
@pytest.mark.slow
def test_multirun_gives_one_finished_wandb_run_per_job(tmp_path):
    run_cli("transformer_lab.train", "-m", *TINY, "trainer.max_steps=4", "trainer.val_check_interval=4",
            "test=false", "model.dropout=0.0,0.2", f"hydra.sweep.dir={tmp_path}", "group=sweep-test")
    runs = [read_wandb_offline_run(d) for job in ("0", "1") for d in offline_runs(tmp_path / job)]
    assert len(runs) == 2
    assert {run["config"]["model"]["dropout"] for run in runs} == {0.0, 0.2}
    assert len({run["id"] for run in runs}) == 2
    assert all(run["exit_code"] == 0 and run["group"] == "sweep-test" for run in runs)


def test_a_job_that_raises_leaves_a_failed_wandb_run(tmp_path):
    proc = run_cli("transformer_lab.train", *TINY, "trainer.max_steps=10", f"hydra.run.dir={tmp_path}",
                   "+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep",
                   "+callbacks.fault.step=3", check=False)
    assert proc.returncode != 0
    assert "injected fault at step 3" in proc.stderr
    (wandb_dir,) = offline_runs(tmp_path)
    run = read_wandb_offline_run(wandb_dir)
    assert run["exit_code"] not in (None, 0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "injected fault" in summary["error"]


def test_resuming_mid_epoch_reproduces_the_uninterrupted_run(tmp_path):
    common = [*TINY, "test=false", "trainer.val_check_interval=6", "callbacks.periodic_checkpoint.every_n_train_steps=6",
              "callbacks.resume_checkpoint.every_n_train_steps=6",
              "model.dropout=0.1"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    run_cli("transformer_lab.train", *common, "trainer.max_steps=12", f"hydra.run.dir={straight}")
    run_cli("transformer_lab.train", *common, "trainer.max_steps=6", f"hydra.run.dir={interrupted}")
    first = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 6
    assert first["TranslationDataModule"]["batches_consumed"] == 6  # mid-epoch: the epoch has far more batches
    run_cli("transformer_lab.train", *common, "trainer.max_steps=12", "ckpt_path=last", f"hydra.run.dir={interrupted}")
    a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    # ... and the relaunch continued the same W&B run.
    ids = {read_wandb_offline_run(d)["id"] for d in offline_runs(interrupted)}
    assert len(ids) == 1


def test_multirun_with_spawning_ddp_is_refused_before_launch(tmp_path):
    proc = run_cli("transformer_lab.train", "-m", *TINY, "trainer=ddp_cpu", "model.dropout=0.0,0.1",
                   f"hydra.sweep.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "hydra/launcher=slurm" in proc.stderr
    assert not list(tmp_path.rglob("*.ckpt"))
