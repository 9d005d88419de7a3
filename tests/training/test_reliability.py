"""Runs survive kills, preemption, NaNs and bad sweeps without losing work (issue 6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from training_helpers import EIGHT_STEPS, FAST, REPO, offline_runs, read_wandb_offline_run, run_cli

from transformer_lab.checkpointing.errors import UnsafeCheckpointError
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.checkpointing.writing import AtomicCheckpointIO, ensure_writable_directory


# ----------------------------------------------------------------------------------- checkpoint writes
def test_a_save_that_fails_midway_leaves_the_previous_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    io, target = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, target)
    temp_before = set(os.listdir(tempfile.gettempdir()))

    def torn_save(obj, handle, *args, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk died mid-write")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="mid-write"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, target)
    monkeypatch.undo()
    assert load_checkpoint_file(target)["global_step"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]
    assert set(os.listdir(tempfile.gettempdir())) - temp_before == set()


KILLED_WRITER = """
import sys, time, torch
from transformer_lab.checkpointing.writing import AtomicCheckpointIO
def slow_save(obj, handle, *a, **k):
    handle.write(b"x" * 1000); handle.flush(); print("writing", flush=True); time.sleep(600)
torch.save = slow_save
AtomicCheckpointIO().save_checkpoint({"global_step": 2}, sys.argv[1])
"""


def test_sigkill_during_a_write_keeps_the_previous_checkpoint_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"global_step": 1}, target)
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        child.kill()
    assert load_checkpoint_file(target)["global_step"] == 1
    assert len(os.listdir(tmp_path)) == 2  # the killed writer's temporary, which no process can remove at kill time
    ensure_writable_directory(tmp_path)  # what a (re)started run does first
    assert os.listdir(tmp_path) == ["last.ckpt"]


def test_an_unwritable_checkpoint_directory_stops_training_before_it_starts(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    proc = run_cli("transformer_lab.train", *FAST, "trainer.max_steps=5", f"hydra.run.dir={tmp_path / 'run'}",
                   f"callbacks.periodic_checkpoint.dirpath={blocker}/checkpoints", check=False)
    assert proc.returncode != 0
    assert f"cannot write checkpoints to {blocker}/checkpoints" in proc.stderr
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


# ---------------------------------------------------------------------------------------- preemption
def _wait_for_step(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline:
        assert proc.poll() is None, "training ended before it could be interrupted"
        if metrics.exists() and any(json.loads(l).get("step", 0) >= step for l in metrics.read_text().splitlines()):
            return
        time.sleep(0.2)
    raise AssertionError(f"step {step} not reached in {timeout}s")


def test_sigterm_saves_finishes_wandb_exits_nonzero_and_the_same_command_resumes(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "transformer_lab.train", *FAST, "trainer.max_steps=40",
               "trainer.val_check_interval=1000", "callbacks.periodic_checkpoint.every_n_train_steps=1000",
               "trainer.log_every_n_steps=1", f"hydra.run.dir={run_dir}"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_step(run_dir, 8, proc)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, stderr[-3000:]
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert 8 <= saved["global_step"] < 40
    assert saved["TranslationDataModule"]["batches_consumed"] == saved["global_step"]  # position in the epoch
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "preempted"
    (first_wandb,) = offline_runs(run_dir)
    first = read_wandb_offline_run(first_wandb)
    assert first["exit_code"] not in (None, 0)

    relaunch = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in relaunch.stderr + relaunch.stdout
    records = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "train/loss" in r]
    resumed_steps = steps[steps.index(max(s for s in steps if s <= saved["global_step"])) + 1:]
    assert resumed_steps and min(resumed_steps) > saved["global_step"] - 1
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 40
    ids = {read_wandb_offline_run(d)["id"] for d in offline_runs(run_dir)}
    assert ids == {first["id"]}


# ----------------------------------------------------------------------------------------------- NaN
NAN_AT = "+callbacks.nan._target_=transformer_lab.training.callbacks.faults.NonFiniteGradientsAtSteps"


def test_a_nan_update_is_skipped_and_training_goes_on(tmp_path):
    run_cli("transformer_lab.train", *FAST, "trainer.max_steps=10", "trainer.val_check_interval=10",
            "callbacks.periodic_checkpoint.every_n_train_steps=10", "trainer.log_every_n_steps=1",
            NAN_AT, "+callbacks.nan.steps=[3]", f"hydra.run.dir={tmp_path}")
    state = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    records = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert max(r.get("train/skipped_updates", 0) for r in records) == 1
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "completed"


def test_repeated_nans_stop_the_run_as_diverged_naming_step_and_checkpoint(tmp_path):
    proc = run_cli("transformer_lab.train", *FAST, "trainer.max_steps=20", "trainer.val_check_interval=20",
                   "callbacks.resume_checkpoint.every_n_train_steps=2", NAN_AT,
                   "+callbacks.nan.steps=[5,6,7,8,9,10,11]", "nonfinite.max_consecutive=3",
                   f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "non-finite loss/gradients at optimizer step 7" in proc.stderr
    assert f"last good checkpoint: {tmp_path / 'checkpoints' / 'last.ckpt'}" in proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged"


def test_nan_on_one_ddp_rank_stops_every_rank_without_hanging(tmp_path):
    start = time.time()
    proc = run_cli("transformer_lab.train", *FAST, "trainer=ddp_cpu", "trainer.max_steps=20", NAN_AT,
                   "+callbacks.nan.steps=[3]", "+callbacks.nan.rank=1", "nonfinite.policy=stop",
                   f"hydra.run.dir={tmp_path}", check=False, timeout=300)
    assert proc.returncode != 0 and time.time() - start < 300
    assert "non-finite loss/gradients at optimizer step 3" in proc.stderr
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_a_ddp_rank_that_raises_ends_the_run_in_bounded_time_with_its_traceback(tmp_path):
    start = time.time()
    proc = run_cli("transformer_lab.train", *FAST, "trainer=ddp_cpu", "trainer.max_steps=50",
                   "+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep",
                   "+callbacks.fault.step=3", "+callbacks.fault.rank=1", f"hydra.run.dir={tmp_path}",
                   check=False, timeout=300)
    assert proc.returncode != 0 and time.time() - start < 300
    assert "InjectedFault: injected fault at step 3 on rank 1" in proc.stderr


# -------------------------------------------------------------------------------------------- sweeps
def test_every_sweep_job_is_validated_before_the_first_starts(tmp_path):
    proc = run_cli("transformer_lab.train", "-m", *FAST, "model.n_heads=2,3", "model.dropout=0.1,-0.5",
                   f"hydra.sweep.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "3 of 4 sweep jobs have invalid configurations; no job was started" in proc.stderr
    assert "model.dropout=-0.5" in proc.stderr and "model.n_heads=3" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["multirun.yaml"]


def test_a_failing_sweep_job_does_not_stop_the_others(failing_sweep):
    proc, sweep_dir = failing_sweep  # job 0 raises at step 2, job 1 (fault at step 1000) runs its 4 steps
    assert proc.returncode != 0  # Hydra reports the failed job at the end
    statuses = [json.loads((sweep_dir / job / "summary.json").read_text())["status"] for job in ("0", "1")]
    assert statuses == ["failed", "completed"]


def test_a_job_leaves_process_environment_as_it_found_it(monkeypatch):
    from omegaconf import OmegaConf

    from transformer_lab.training import app

    def job_that_sets_wandb_mode(cfg, config_record):
        os.environ["WANDB_MODE"] = "disabled"  # what WandbLogger(offline=True) does, for instance
        os.environ["SOME_JOB_FLAG"] = "1"
        return 1.0

    monkeypatch.setattr(app, "_train", job_that_sets_wandb_mode)
    before = dict(os.environ)
    app.run_training(OmegaConf.create({"paths": {"output_dir": "/nonexistent"}}))
    assert dict(os.environ) == before


# -------------------------------------------------------------------------------------------- resume
def test_resuming_with_a_different_model_names_what_differs(run_copy):
    """A copy of the session's finished 8-step run (tests/training/conftest.py), resumed with a wider model."""
    proc = run_cli("transformer_lab.train", *EIGHT_STEPS, "trainer.max_steps=12", "model.d_model=48",
                   "ckpt_path=last", f"hydra.run.dir={run_copy}", check=False)
    assert proc.returncode != 0
    assert "model.d_model: 32 in the checkpoint, 48 now" in proc.stderr
    assert "size mismatch" not in proc.stderr


# ------------------------------------------------------------------------------------ unsafe content
class Payload:  # an arbitrary object: unpickling it would run code chosen by the file's author
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_checkpoint_carrying_a_pickled_object_is_refused(tmp_path):
    from transformer_lab.inference.loading import module_from_checkpoint

    path = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Payload()}, path)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        module_from_checkpoint(path)
    proc = run_cli("transformer_lab.translate", str(path), stdin="hello\n", check=False)
    assert proc.returncode != 0 and "refusing to load" in proc.stderr and "pwned" not in proc.stdout


def test_targets_inside_a_checkpoint_are_never_instantiated(tmp_path):
    from transformer_lab.checkpointing.errors import CheckpointContentError
    from transformer_lab.inference.loading import module_from_checkpoint

    path = tmp_path / "targets.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model": {"vocab_size": 10}},
                "data_config": {"corpus": {"_target_": "os.system", "command": "echo pwned"}}}, path)
    with pytest.raises(CheckpointContentError, match="_target_"):
        module_from_checkpoint(path)


# ------------------------------------------------------------------- the first validation after a resume
SIX_STEPS = [*FAST, "trainer.max_steps=6", "trainer.val_check_interval=2",
             "callbacks.periodic_checkpoint.every_n_train_steps=2", "callbacks.resume_checkpoint.every_n_train_steps=2"]
FAULTS = "transformer_lab.training.callbacks.faults"


@pytest.mark.slow
@pytest.mark.parametrize("fault, returncode, checkpoint_step", [
    # SIGKILL in the validation at step 4: last.ckpt (step 4) holds the val loop's progress of the one at step 2
    ([f"+callbacks.f._target_={FAULTS}.KillDuringValidation", "+callbacks.f.step=4"], -9, 4),
    # SIGTERM during batch 4: Lightning stops after the first batch of the validation at step 4 and saves there
    ([f"+callbacks.f._target_={FAULTS}.SignalsAtStep", "+callbacks.f.step=3", "+callbacks.f.signals=[SIGTERM]"], 143, 4),
    # SIGTERM during batch 3: saved at step 3, between validations; the next is the normal one at step 4
    ([f"+callbacks.f._target_={FAULTS}.SignalsAtStep", "+callbacks.f.step=2", "+callbacks.f.signals=[SIGTERM]"], 143, 3),
], ids=["killed-mid-validation", "sigterm-mid-validation", "sigterm-between-validations"])
def test_every_validation_after_a_resume_scores_the_whole_dev_set(tmp_path, fault, returncode, checkpoint_step):
    from omegaconf import OmegaConf

    from transformer_lab.data.readers.factory import build_corpus

    run_dir = tmp_path / "run"
    first = run_cli("transformer_lab.train", *SIX_STEPS, *fault, f"hydra.run.dir={run_dir}", check=False)
    assert first.returncode == returncode, first.stderr[-3000:]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == checkpoint_step
    run_cli("transformer_lab.train", *SIX_STEPS, f"hydra.run.dir={run_dir}")

    data = OmegaConf.load(run_dir / ".hydra" / "config.yaml").data  # the dev set as the corpus has it, raw
    corpus = build_corpus(OmegaConf.to_container(data.corpus), data.get("dir"), data.get("src_lang"), data.get("tgt_lang"))
    n_dev = len(corpus.read("valid")[0])
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    scored = {r["step"]: r["val/n_sentences"] for r in records if "val/n_sentences" in r}
    assert scored == {2: n_dev, 4: n_dev, 6: n_dev}
    for step in (2, 4, 6):
        hypotheses = (run_dir / "translations" / f"valid_step{step:07d}.hyp.txt").read_text(encoding="utf-8")
        assert len(hypotheses.splitlines()) == n_dev
