"""Early stopping (`early_stopping.patience=N`, issue 26): a run whose dev BLEU stays flat stops long before
max_steps, says so in summary.json and the W&B summary, still tests its best checkpoint; a run killed
mid-patience resumes with its counter; bad settings are refused naming the key.

The reference for where a run must stop is the rule itself replayed over the run's own metrics.jsonl
(`_expected_stop`), independent of Lightning's callback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from training_helpers import FAST, REPO, offline_runs, read_wandb_offline_run, run_cli

from transformer_lab.config.checks import ConfigError
from transformer_lab.training.preflight import check_job_config

CONF = str(REPO / "conf")
# lr 1e-9 of the paper's: the weights barely move, so the greedy dev translations (and their BLEU) stay the same
FLAT = [*FAST, "optim.lr_scale=1e-9", "trainer.max_steps=40", "trainer.val_check_interval=2",
        "callbacks.periodic_checkpoint.every_n_train_steps=1000", "callbacks.resume_checkpoint.every_n_train_steps=2"]
SIGNAL = "+callbacks.signal._target_=transformer_lab.training.callbacks.faults.SignalsAtStep"


def _val_records(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "val/bleu" in r]


def _expected_stop(records: list[dict], patience: int, min_delta: float = 0.0) -> int | None:
    """The step at which `patience` validations in a row failed to beat the best dev BLEU by > min_delta."""
    best, wait = None, 0
    for record in records:
        if best is None or record["val/bleu"] - min_delta > best:
            best, wait = record["val/bleu"], 0
        else:
            wait += 1
            if wait >= patience:
                return record["step"]
    return None


def _early_stopping_state(checkpoint: Path) -> dict:
    callbacks = torch.load(checkpoint, weights_only=True)["callbacks"]
    (state,) = [v for k, v in callbacks.items() if k.startswith("StepEarlyStopping")]
    return state


def test_a_flat_run_stops_after_patience_validations_says_so_and_still_tests(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("transformer_lab.train", *FLAT, "early_stopping.patience=2", "test=true", f"hydra.run.dir={run_dir}")
    records = _val_records(run_dir)
    stop = _expected_stop(records, patience=2)
    assert stop is not None and stop <= 10  # flat: best at the first validation, stop two later (step 6 of 40)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["stopped_early"] is True and summary["stopped_early_step"] == stop == summary["global_step"]
    assert records[-1]["step"] == stop  # no validation after the stop
    assert "test/bleu" in summary  # the test split ran, on the best checkpoint
    assert (run_dir / "translations" / "test.hyp.txt").is_file()
    (wandb_dir,) = offline_runs(run_dir)
    wandb_summary = read_wandb_offline_run(wandb_dir)["summary"]
    assert wandb_summary["stopped_early"] is True and wandb_summary["stopped_early_step"] == stop


def test_without_patience_nothing_stops_early_and_summary_has_no_flag(finished_run):
    summary = json.loads((finished_run / "summary.json").read_text())
    assert "stopped_early" not in summary and summary["global_step"] == 8


def test_a_run_preempted_mid_patience_resumes_with_its_counter(tmp_path):
    run_dir = tmp_path / "run"
    # min_delta 0.01: only a real gain counts (the first validation after a resume scores part of the dev set
    # on this tree, see the report: its BLEU moves by ~0.003 and must not reset the counter by itself)
    command = [sys.executable, "-m", "transformer_lab.train", *FLAT, "early_stopping.patience=3",
               "early_stopping.min_delta=0.01", f"hydra.run.dir={run_dir}"]
    # SIGTERM at step 7, after the validations at 2, 4 and 6: last.ckpt is saved on the signal, with the counter
    preempted = subprocess.run([*command, SIGNAL, "+callbacks.signal.step=7", "+callbacks.signal.signals=[SIGTERM]"],
                               cwd=REPO, capture_output=True, text=True, timeout=300)
    assert preempted.returncode == 143, preempted.stderr[-3000:]
    before = _val_records(run_dir)
    assert [r["step"] for r in before] == [2, 4, 6] and _expected_stop(before, patience=3, min_delta=0.01) is None
    saved = _early_stopping_state(run_dir / "checkpoints" / "last.ckpt")
    assert saved["wait_count"] == 2 and _expected_stop(before, patience=2, min_delta=0.01) == 6  # two without gain

    relaunch = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert relaunch.returncode == 0, relaunch.stderr[-3000:]
    records = _val_records(run_dir)
    stop = _expected_stop(records, patience=3, min_delta=0.01)
    summary = json.loads((run_dir / "summary.json").read_text())
    # the uninterrupted run's stop; with the counter reset at the resume it would stop at 14 (8: new best, 10, 12, 14)
    assert [r["step"] for r in records] == [2, 4, 6, 8] and stop == 8
    assert summary["stopped_early"] is True and summary["stopped_early_step"] == 8 == summary["global_step"]
    assert _early_stopping_state(run_dir / "checkpoints" / "last.ckpt")["wait_count"] == 3


def _train_config(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=["debug=tiny", *overrides])


@pytest.mark.parametrize("override, message", [
    ("early_stopping.patience=0", r"early_stopping\.patience=0 is not valid: it must be null or an integer >= 1"),
    ("early_stopping.patience=two", r"early_stopping\.patience='two' is not valid"),
    ("early_stopping.patience=2.5", r"early_stopping\.patience=2\.5 is not valid"),
    ("early_stopping.metric=val/loss", r"early_stopping\.metric='val/loss' is not valid: it must be one of val/bleu"),
    ("early_stopping.metric=bleu", r"early_stopping\.metric='bleu' is not valid"),
    ("early_stopping.min_delta=-1", r"early_stopping\.min_delta=-1 is not valid: it must be a number >= 0"),
    ("early_stopping.min_delta=small", r"early_stopping\.min_delta='small' is not valid"),
])
def test_bad_early_stopping_settings_are_refused_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        check_job_config(_train_config(override), multirun=False)


def test_good_early_stopping_settings_pass():
    for overrides in ([], ["early_stopping.patience=5", "early_stopping.metric=val/ppl", "early_stopping.min_delta=0.1"]):
        check_job_config(_train_config(*overrides), multirun=False)


def test_a_sweep_with_a_bad_patience_in_one_job_starts_no_job(tmp_path):
    proc = run_cli("transformer_lab.train", "-m", *FAST, "early_stopping.patience=2,0", f"hydra.sweep.dir={tmp_path}",
                   check=False)
    assert proc.returncode != 0
    assert "1 of 2 sweep jobs have invalid configurations; no job was started" in proc.stderr
    assert "): early_stopping.patience=0 is not valid: it must be null or an integer >= 1" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["multirun.yaml"]


def test_the_direction_follows_the_metric_and_the_resuming_commands_patience_wins():
    from transformer_lab.training.callbacks.early_stopping import StepEarlyStopping, early_stopping_callback

    assert early_stopping_callback({"patience": None, "metric": "val/bleu"}) is None
    assert StepEarlyStopping("val/bleu", patience=2).mode == "max" and StepEarlyStopping("val/ppl").mode == "min"
    saved = StepEarlyStopping("val/bleu", patience=2)
    saved.wait_count, saved.best_score, saved.stopped_step = 2, torch.tensor(5.0), 40
    resumed = StepEarlyStopping("val/bleu", patience=6)
    resumed.load_state_dict(saved.state_dict())
    assert resumed.patience == 6 and resumed.wait_count == 2 and float(resumed.best_score) == 5.0
    assert resumed.stopped_step is None
