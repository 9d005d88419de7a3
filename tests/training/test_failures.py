"""Every failure explained, nothing lost (issue 16): kills during validation, corrupt checkpoints, a full
disk, empty splits, bad values, files that are not checkpoints, W&B without network, refused resumes, and
where a failed sweep job's error is written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from training_helpers import EIGHT_STEPS, FAST, REPO, TINY, offline_runs, run_cli

from transformer_lab.checkpointing.errors import CheckpointWriteError, UnreadableCheckpointError
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.checkpointing.writing import AtomicCheckpointIO

# finished_run (a finished 8-step run), run_copy (a copy to damage) and failing_sweep: tests/training/conftest.py


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


# ------------------------------------------------------------- 1. a kill during a due validation
@pytest.mark.slow
def test_a_kill_during_the_validation_at_a_checkpoint_step_is_made_good_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    kill = ["+callbacks.kill._target_=transformer_lab.training.callbacks.faults.KillDuringValidation", "+callbacks.kill.step=4"]
    killed = run_cli("transformer_lab.train", *EIGHT_STEPS, *kill, f"hydra.run.dir={run_dir}", check=False)
    assert killed.returncode == -9  # SIGKILL: no hook ran
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    after_kill = summary_of(run_dir)
    assert (after_kill["status"], after_kill["global_step"]) == ("running", 4)  # refreshed at each save

    relaunch = run_cli("transformer_lab.train", *EIGHT_STEPS, f"hydra.run.dir={run_dir}")
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val/bleu" in r] == [4, 8]
    assert (run_dir / "translations" / "valid_step0000004.hyp.txt").is_file()
    output = relaunch.stdout + relaunch.stderr
    assert "did not end (killed at or after step 4)" in output
    assert "the validation due at step 4 did not complete before the run stopped; running it now" in output
    summary = summary_of(run_dir)
    assert summary["status"] == "completed" and summary["interrupted_at_steps"] == [4]
    assert summary["validated_step"] == 8


@pytest.mark.slow
def test_a_resume_after_a_completed_validation_does_not_run_it_again(run_copy):
    """The check reads summary.json's `validated_step`: a validation that completed is not run twice."""
    from transformer_lab.training.records.run_record import read_summary

    assert read_summary(run_copy)["validated_step"] == 8
    shutil.copy(run_copy / "checkpoints" / "periodic" / "step0000004.ckpt", run_copy / "checkpoints" / "last.ckpt")
    proc = run_cli("transformer_lab.train", *EIGHT_STEPS, f"hydra.run.dir={run_copy}")
    assert "running it now" not in proc.stdout + proc.stderr


def test_a_relaunch_marks_an_attempt_that_never_ended_as_interrupted(tmp_path):
    from transformer_lab.training.records.run_record import mark_interrupted_attempt, write_summary

    write_summary(tmp_path, {"status": "running", "global_step": 400})
    mark_interrupted_attempt(tmp_path)
    assert summary_of(tmp_path) == {"status": "interrupted", "global_step": 400, "interrupted_at_steps": [400]}
    write_summary(tmp_path, {"status": "completed", "global_step": 800})
    mark_interrupted_attempt(tmp_path)  # a run that ended is left alone
    assert summary_of(tmp_path)["status"] == "completed"


# ----------------------------------------------------- 2. a truncated last.ckpt, and the way on
def test_a_truncated_last_checkpoint_is_named_with_the_newest_readable_one_as_the_way_on(run_copy):
    truncate(run_copy / "checkpoints" / "last.ckpt")
    config_before = (run_copy / ".hydra" / "config.yaml").read_text()
    proc = run_cli("transformer_lab.train", *EIGHT_STEPS, "trainer.max_steps=12", f"hydra.run.dir={run_copy}",
                   check=False)
    assert proc.returncode != 0
    message = (f"cannot resume: {run_copy / 'checkpoints' / 'last.ckpt'} is not a readable transformer_lab "
               "checkpoint (truncated")
    assert message in proc.stderr and "PytorchStreamReader" not in proc.stderr
    summary = summary_of(run_copy)
    assert summary["status"] == "failed" and message in summary["error"]  # no longer `completed`
    newest = run_copy / "checkpoints" / "periodic" / "step0000008.ckpt"
    assert f"is {newest} (step 8): resume from it with ckpt_path={newest}" in proc.stderr
    assert message in (run_copy / "train.log").read_text()
    assert (run_copy / ".hydra" / "config.yaml").read_text() == config_before


@pytest.mark.slow
def test_the_checkpoint_named_as_the_way_on_resumes(run_copy):
    truncate(run_copy / "checkpoints" / "last.ckpt")
    newest = run_copy / "checkpoints" / "periodic" / "step0000008.ckpt"
    run_cli("transformer_lab.train", *EIGHT_STEPS, "trainer.max_steps=12", f"ckpt_path={newest}",
            f"hydra.run.dir={run_copy}")
    assert summary_of(run_copy)["status"] == "completed"
    assert load_checkpoint_file(run_copy / "checkpoints" / "last.ckpt")["global_step"] == 12


# -------------------------------------------------------------------------------- 3. a full disk
def test_a_full_disk_during_a_save_is_said_plainly_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """ENOSPC from the operating system itself: the temporary file's descriptor is /dev/full."""
    import tempfile

    io, target = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, target)
    real_mkstemp = tempfile.mkstemp

    def mkstemp_on_a_full_disk(*args, **kwargs):
        fd, name = real_mkstemp(*args, **kwargs)
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)
        os.close(full)
        return fd, name

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_on_a_full_disk)
    with pytest.raises(CheckpointWriteError, match=f"^\\[Errno 28\\] No space left on device while writing {target}"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(100_000)}, target)
    monkeypatch.undo()
    assert load_checkpoint_file(target)["global_step"] == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]


FULL_DISK_TRAINING = """
import os, sys, tempfile
real_mkstemp = tempfile.mkstemp
def mkstemp_on_a_full_disk(*args, **kwargs):  # checkpoint temporaries land on /dev/full: real ENOSPC
    fd, name = real_mkstemp(*args, **kwargs)
    if name.endswith(".tmp") and "/checkpoints/" in name:
        full = os.open("/dev/full", os.O_WRONLY); os.dup2(full, fd); os.close(full)
    return fd, name
tempfile.mkstemp = mkstemp_on_a_full_disk
from transformer_lab.train import main
sys.argv = ["train", *sys.argv[1:]]
main()
"""


def test_a_full_disk_during_training_names_the_file_in_console_summary_and_train_log(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", FULL_DISK_TRAINING, *FAST, "trainer.max_steps=8",
                           "trainer.val_check_interval=100", "callbacks.periodic_checkpoint.every_n_train_steps=4",
                           "logger=csv", f"hydra.run.dir={run_dir}"], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode != 0
    message = f"CheckpointWriteError: [Errno 28] No space left on device while writing {run_dir}/checkpoints/"
    assert message in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert message in lines[-2]  # the error Hydra shows last (before its HYDRA_FULL_ERROR hint), not a chained one
    summary = summary_of(run_dir)
    assert summary["status"] == "failed" and summary["error"].startswith(message)
    assert message in (run_dir / "train.log").read_text()
    assert not list((run_dir / "checkpoints").rglob("*.tmp"))


# ----------------------------------------------------------------------------- 4. empty splits
def _corpus_with_empty(directory: Path, empty_split: str) -> Path:
    from transformer_lab.data.builtin.corpus import BuiltinCorpus

    directory.mkdir()
    corpus = BuiltinCorpus(train_size=300, valid_size=10, test_size=10, seed=5)
    for split in ("train", "valid", "test"):
        sources, targets = ([], []) if split == empty_split else corpus.read(split)
        (directory / f"{split}.en").write_text("".join(line + "\n" for line in sources), encoding="utf-8")
        (directory / f"{split}.de").write_text("".join(line + "\n" for line in targets), encoding="utf-8")
    return directory


@pytest.mark.parametrize("empty_split", ["test", pytest.param("valid", marks=pytest.mark.slow)])
def test_an_empty_evaluation_split_stops_the_run_before_training_naming_its_files(tmp_path, empty_split):
    corpus = _corpus_with_empty(tmp_path / "corpus", empty_split)
    run_dir = tmp_path / "run"
    proc = run_cli("transformer_lab.train", *TINY, "data=parallel_text", f"data.dir={corpus}", "data.src_lang=en",
                   "data.tgt_lang=de", "data.vocab_size=200", "data.num_workers=0", "data.pin_memory=false",
                   "trainer.max_steps=4", "logger=csv", f"hydra.run.dir={run_dir}", check=False)
    assert proc.returncode != 0
    assert f"the {empty_split} split is empty ({corpus / (empty_split + '.en')}, {corpus / (empty_split + '.de')})" in proc.stderr
    if empty_split == "test":
        assert "or train without a test split: test=false" in proc.stderr
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "metrics.jsonl").exists()
    assert summary_of(run_dir)["status"] == "failed"


# ---------------------------------------------------------------------------- 5. value checks
@pytest.mark.parametrize("override, key", [
    ("trainer.max_steps=ten", "trainer.max_steps='ten'"),
    ("trainer.max_steps=0", "trainer.max_steps=0"),
    ("trainer.val_check_interval=0", "trainer.val_check_interval=0"),
    ("trainer.val_check_interval=1.5", "trainer.val_check_interval=1.5"),
    ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0"),
    ("trainer.log_every_n_steps=often", "trainer.log_every_n_steps='often'"),
    ("trainer.precision=31", "trainer.precision=31"),
    ("trainer.max_time=9min", "trainer.max_time='9min'"),
    ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1"),
    ("data.max_tokens=0", "data.max_tokens=0"),
    ("data.max_tokens=big", "data.max_tokens='big'"),
    ("data.vocab_size=3", "data.vocab_size=3"),
    ("data.num_workers=-1", "data.num_workers=-1"),
    ("data.max_length_ratio=0.5", "data.max_length_ratio=0.5"),
    ("data.pin_memory=maybe", "data.pin_memory='maybe'"),
    ("optim.warmup_steps=ten", "optim.warmup_steps='ten'"),
    ("optim.lr_scale=fast", "optim.lr_scale='fast'"),
    ("optim.betas=[0.9]", "optim.betas=[0.9]"),
    ("loss.label_smoothing=high", "loss.label_smoothing='high'"),
    ("decoding.val.beam_size=four", "decoding.val.beam_size='four'"),
    ("decoding.test.max_len_b=1.5", "decoding.test.max_len_b=1.5"),
    ("nonfinite.max_consecutive=many", "nonfinite.max_consecutive='many'"),
    ("seed=abc", "seed='abc'"),
])
def test_every_section_checks_types_and_ranges_naming_the_key(override, key):
    from hydra import compose, initialize_config_dir

    from transformer_lab.config.checks import ConfigError
    from transformer_lab.training.preflight import check_job_config

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[override])
    with pytest.raises(ConfigError, match="^" + key.replace("[", r"\[").replace("]", r"\]").replace(".", r"\."
                                                            ).replace("(", r"\(") + " is not valid: it must be"):
        check_job_config(cfg, multirun=False)


def test_the_default_configs_pass_the_value_checks():
    from hydra import compose, initialize_config_dir

    from transformer_lab.training.preflight import check_job_config

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for overrides in ([], ["debug=tiny"], ["trainer=ddp_cpu"], ["trainer=gpu"], ["experiment=paper/base_en_de"]):
            check_job_config(compose(config_name="train", overrides=overrides), multirun=False)


def test_a_bad_value_stops_a_run_before_anything_with_the_key(tmp_path):
    proc = run_cli("transformer_lab.train", *FAST, "trainer.max_steps=ten", f"hydra.run.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "trainer.max_steps='ten' is not valid: it must be a positive integer" in proc.stderr
    assert "not supported between instances" not in proc.stderr
    assert summary_of(tmp_path)["status"] == "failed"


def test_a_bad_value_in_any_job_of_a_sweep_stops_it_before_the_first_job(tmp_path):
    proc = run_cli("transformer_lab.train", "-m", *FAST, "trainer.max_steps=5,ten", "data.max_tokens=1024,0",
                   f"hydra.sweep.dir={tmp_path}", check=False)
    assert proc.returncode != 0
    assert "3 of 4 sweep jobs have invalid configurations; no job was started" in proc.stderr
    assert "): data.max_tokens=0 is not valid" in proc.stderr  # Hydra orders a job's overrides its own way
    assert "): trainer.max_steps='ten' is not valid" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["multirun.yaml"]


# --------------------------------------------------------------- 6. files that are not checkpoints
def not_checkpoints(directory: Path, real_checkpoint: Path) -> dict[str, Path]:
    files = {"text": directory / "notes.txt", "empty": directory / "empty.ckpt",
             "tensor": directory / "tensor.ckpt", "truncated": directory / "truncated.ckpt"}
    files["text"].write_text("these are not weights\n")
    files["empty"].write_bytes(b"")
    torch.save(torch.ones(3), files["tensor"])
    files["truncated"].write_bytes(real_checkpoint.read_bytes()[:100_000])
    return files


REASONS = {"text": "not a torch file", "empty": "empty: 0 bytes", "tensor": "written by another program",
           "truncated": "truncated: the archive ends after 100,000 bytes"}


def test_load_checkpoint_file_says_what_each_non_checkpoint_is(tmp_path, finished_run):
    from transformer_lab.average_checkpoints import main as average

    for kind, path in not_checkpoints(tmp_path, finished_run / "checkpoints" / "last.ckpt").items():
        for mmap in (False, True):  # resume checks and average_checkpoints map the file
            with pytest.raises(UnreadableCheckpointError) as caught:
                load_checkpoint_file(path, mmap=mmap, required=("state_dict",))
            assert str(caught.value).startswith(f"{path} is not a readable transformer_lab checkpoint ({REASONS[kind]}")
        with pytest.raises(UnreadableCheckpointError, match=f"^{path} is not a readable"):
            average([str(path), "-o", str(tmp_path / "averaged.ckpt")])


def test_translate_refuses_files_that_are_not_checkpoints_in_one_line(tmp_path, finished_run, capsys):
    from transformer_lab.translate import main

    for kind, path in not_checkpoints(tmp_path, finished_run / "checkpoints" / "last.ckpt").items():
        assert main([str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path} is not a readable transformer_lab checkpoint ({REASONS[kind]}"), err
        assert "Traceback" not in err
    proc = run_cli("transformer_lab.translate", str(tmp_path / "notes.txt"), stdin="hello\n", check=False)
    assert proc.returncode == 2 and "is not a readable transformer_lab checkpoint (not a torch file)" in proc.stderr


def test_evaluate_refuses_files_that_are_not_checkpoints(tmp_path, finished_run):
    from hydra import compose, initialize_config_dir

    from transformer_lab.evaluate import evaluate

    files = not_checkpoints(tmp_path, finished_run / "checkpoints" / "last.ckpt")
    for kind, path in files.items():
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(config_name="evaluate", overrides=[f"ckpt={path}"])
        with pytest.raises(UnreadableCheckpointError) as caught:
            evaluate(cfg)
        assert str(caught.value).startswith(f"{path} is not a readable transformer_lab checkpoint ({REASONS[kind]}")
    proc = run_cli("transformer_lab.evaluate", f"ckpt={files['truncated']}", f"hydra.run.dir={tmp_path / 'eval'}",
                   check=False)
    assert proc.returncode != 0
    assert f"{files['truncated']} is not a readable transformer_lab checkpoint (truncated" in proc.stderr
    for torch_text in ("IndexError", "EOFError", "__contains__", "PytorchStreamReader"):
        assert torch_text not in proc.stderr


# ------------------------------------------------------------------------- 8. W&B without network
UNREACHABLE_WANDB = {"WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": "f" * 40, "WANDB_MODE": "online"}


def test_wandb_without_network_stops_in_bounded_time_saying_what_to_do(tmp_path):
    start = time.time()
    proc = run_cli("transformer_lab.train", *FAST, "trainer.max_steps=2", "logger.wandb.mode=online",
                   "logger.wandb.init_timeout=5", f"hydra.run.dir={tmp_path}", env=UNREACHABLE_WANDB, check=False)
    assert proc.returncode != 0 and time.time() - start < 100
    assert "WandbConnectionError: W&B could not reach its server within 5 s" in proc.stderr
    assert "WANDB_MODE=offline" in proc.stderr and "wandb sync" in proc.stderr
    assert "logger.wandb.fallback_offline=true" in proc.stderr
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists()
    assert "W&B could not reach its server" in summary_of(tmp_path)["error"]


@pytest.mark.slow
def test_wandb_without_network_falls_back_to_offline_when_asked(tmp_path):
    proc = run_cli("transformer_lab.train", *FAST, "trainer.max_steps=2", "trainer.val_check_interval=2",
                   "logger.wandb.mode=online", "logger.wandb.init_timeout=5", "logger.wandb.fallback_offline=true",
                   f"hydra.run.dir={tmp_path}", env=UNREACHABLE_WANDB)
    assert "Logging offline instead (logger.wandb.fallback_offline=true)" in proc.stdout + proc.stderr
    assert offline_runs(tmp_path) and summary_of(tmp_path)["status"] == "completed"


# ------------------------------------------------------- 9. a refused resume keeps the run's record
def test_a_refused_resume_leaves_the_recorded_config_as_it_was(run_copy):
    recorded = {name: (run_copy / ".hydra" / name).read_text() for name in ("config.yaml", "overrides.yaml",
                                                                            "hydra.yaml")}
    proc = run_cli("transformer_lab.train", *EIGHT_STEPS, "trainer.max_steps=12", "model.d_model=48",
                   f"hydra.run.dir={run_copy}", check=False)
    assert proc.returncode != 0 and "model.d_model: 32 in the checkpoint, 48 now" in proc.stderr
    for name, text in recorded.items():
        assert (run_copy / ".hydra" / name).read_text() == text, name
    assert "model.d_model=48" in (run_copy / ".hydra" / "overrides.rejected.yaml").read_text()


@pytest.mark.slow
def test_an_accepted_resume_records_its_config(run_copy):
    run_cli("transformer_lab.train", *EIGHT_STEPS, "trainer.max_steps=10", f"hydra.run.dir={run_copy}")
    assert "trainer.max_steps=10" in (run_copy / ".hydra" / "overrides.yaml").read_text()


# -------------------------------------------------------- 3 and 10. failures written to train.log
def test_a_failed_sweep_jobs_error_is_in_its_train_log_and_summary(failing_sweep):
    proc, sweep_dir = failing_sweep  # job 0 raises at step 2
    assert proc.returncode != 0
    message = "InjectedFault: injected fault at step 2 on rank 0"
    assert message in proc.stderr
    log = (sweep_dir / "0" / "train.log").read_text()
    assert "the job failed:" in log and "Traceback" in log and message in log
    assert summary_of(sweep_dir / "0")["error"] == message


def test_the_readme_sends_a_failed_sweep_job_to_where_its_error_is():
    readme = (REPO / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| a job of a sweep failed"))
    assert "train.log" in row and "summary.json" in row
