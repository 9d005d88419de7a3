"""Runs that exercise the job lifecycle: DDP on CPU, multirun, failure, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from training_helpers import TINY, offline_runs, read_wandb_offline_run, run_cli


def test_two_process_ddp_cpu_run_scores_exactly_the_dev_set(tmp_path):
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.checkpointing.loading import module_from_checkpoint

    run_cli("transformer_lab.train", *TINY, "trainer=ddp_cpu", "trainer.max_steps=10", "test=false",
            f"hydra.run.dir={tmp_path}", timeout=400)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if "val/bleu" in r][-1]
    module, _ = module_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    references = TranslationDataModule(**module.data_config).split_texts("valid")[1]
    hypotheses = (tmp_path / "translations" / f"valid_step{validation['step']:07d}.hyp.txt").read_text().splitlines()
    # Every dev sentence exactly once across the two ranks (no DistributedSampler padding).
    assert validation["val/n_sentences"] == len(references) == len(hypotheses)
    import sacrebleu

    assert validation["val/bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-4)
    assert len(offline_runs(tmp_path)) == 1  # rank 0 only


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
                   "+callbacks.fault._target_=transformer_lab.training.faults.RaiseAtStep",
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
