"""Resuming a sweep (issue 26): the same multirun command with the same `hydra.sweep.dir` skips the finished
jobs (files untouched), resumes the interrupted ones, runs the failed ones again, and prints a table saying
which is which."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from training_helpers import FAST, REPO

from transformer_lab.training.records.sweep_status import (
    DONE,
    NEW,
    RERUN,
    RESUMED,
    contiguous_runs,
    format_table,
    plan_job,
)

SWEEP = [*FAST, "trainer.max_steps=8", "trainer.val_check_interval=4", "callbacks.periodic_checkpoint.every_n_train_steps=4",
         "callbacks.resume_checkpoint.every_n_train_steps=4", "seed=1,2"]


def _files(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a job that a re-run must leave alone: summary, metrics, hypotheses, checkpoints."""
    paths = [run_dir / "summary.json", run_dir / "metrics.jsonl", *sorted((run_dir / "translations").glob("*.txt")),
             *sorted((run_dir / "checkpoints").rglob("*.ckpt"))]
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


def _wait_for_validation(run_dir: Path, step: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    metrics, deadline = run_dir / "metrics.jsonl", time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, "the sweep ended before its second job could be killed"
        if metrics.exists() and (run_dir / "checkpoints" / "last.ckpt").exists() and any(
                "val/bleu" in r and r["step"] >= step for r in map(json.loads, metrics.read_text().splitlines())):
            return
        time.sleep(0.1)
    raise AssertionError(f"job did not validate at step {step} in {timeout}s")


def _table_row(output: str, title: str, job: int) -> list[str]:
    table = output[output.index(title):].splitlines()
    (row,) = [line for line in table[2:2 + 4] if line.split()[:1] == [str(job)]]
    return row.split()


@pytest.mark.slow  # two multirun launches of two jobs each (~40 s on 2 cores): pytest -m slow
def test_a_killed_sweep_rerun_with_the_same_command_skips_job_1_and_resumes_job_2(tmp_path):
    sweep_dir = tmp_path / "sweep"
    command = [sys.executable, "-m", "transformer_lab.train", "-m", *SWEEP, f"hydra.sweep.dir={sweep_dir}"]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for_validation(sweep_dir / "1", 4, first)
        first.send_signal(signal.SIGKILL)  # the whole sweep, during its second job
        first.communicate(timeout=60)
    finally:
        first.kill()
    assert json.loads((sweep_dir / "0" / "summary.json").read_text())["status"] == "completed"
    assert json.loads((sweep_dir / "1" / "summary.json").read_text())["status"] == "running"
    job_1_files = _files(sweep_dir / "0")
    assert any(name.startswith("translations/valid_step") for name in job_1_files)

    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    output = again.stdout + again.stderr
    assert _files(sweep_dir / "0") == job_1_files  # bytes and modification times
    assert _table_row(output, "sweep jobs 0-1", 0)[-1] == DONE
    assert _table_row(output, "sweep jobs 0-1", 1)[-1] == RESUMED
    assert _table_row(output, "sweep jobs after this launch", 0)[-2:] == [DONE, "completed"]
    assert _table_row(output, "sweep jobs after this launch", 1)[-2:] == [RESUMED, "completed"]
    assert "#0 :" not in output and re.search(r"#1 : .*seed=2", output)  # Hydra's launch lines: only job 1 started
    assert f"resuming from {sweep_dir / '1' / 'checkpoints' / 'last.ckpt'}" in output
    summary = json.loads((sweep_dir / "1" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 8
    steps = [json.loads(l)["step"] for l in (sweep_dir / "1" / "metrics.jsonl").read_text().splitlines()
             if "val/bleu" in l]
    assert steps == [4, 8]  # the killed attempt's validation at 4, the resumed one's at 8, none twice

    # a third launch: nothing left to do; no job starts (it only composes the configs: ~10 s on an idle CPU)
    third = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "Launching" not in third.stdout + third.stderr
    assert _table_row(third.stdout + third.stderr, "sweep jobs 0-1", 1)[-1] == DONE
    assert _files(sweep_dir / "0") == job_1_files


def _job(tmp_path: Path, name: str, summary: dict | None, last_ckpt: bool = False) -> Path:
    run_dir = tmp_path / name
    (run_dir / "checkpoints").mkdir(parents=True)
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    if last_ckpt:
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")
    return run_dir


def test_each_state_a_job_can_be_left_in_gets_its_action(tmp_path):
    cases = {  # name: (summary, last.ckpt, wants_test, action)
        "never_started": (None, False, True, NEW),
        "completed_and_tested": ({"status": "completed", "global_step": 8, "test/bleu": 1.0}, True, True, DONE),
        "completed_without_test": ({"status": "completed", "global_step": 8}, True, False, DONE),
        "killed_during_test": ({"status": "completed", "global_step": 8}, True, True, RESUMED),
        "killed": ({"status": "running", "global_step": 4}, True, True, RESUMED),
        "preempted": ({"status": "preempted", "global_step": 4}, True, True, RESUMED),
        "interrupted_before_a_checkpoint": ({"status": "interrupted", "global_step": 2}, False, True, RERUN),
        "failed": ({"status": "failed", "global_step": 2, "error": "x"}, True, True, RERUN),
        "diverged": ({"status": "diverged", "global_step": 2}, False, True, RERUN),
        "unreadable_summary": (None, True, True, RESUMED),
    }
    for number, (name, (summary, ckpt, wants_test, action)) in enumerate(cases.items()):
        run_dir = _job(tmp_path, name, summary, ckpt)
        if name == "unreadable_summary":
            (run_dir / "summary.json").write_text("{ not json")
        assert plan_job(number, [f"seed={number}"], run_dir, wants_test).action == action, name


def test_the_table_and_the_launch_blocks():
    assert contiguous_runs([0, 1, 3, 4, 6]) == [[0, 1], [3, 4], [6]] and contiguous_runs([]) == []
    from transformer_lab.training.records.sweep_status import JobPlan

    table = format_table([JobPlan(0, ("debug=tiny", "seed=1"), Path("a"), DONE, "completed at step 8"),
                          JobPlan(1, ("debug=tiny",), Path("b"), NEW, "")], "title:")  # shared overrides left out
    assert table.splitlines() == ["title:",
                                  "job  overrides  found                action",
                                  "0    seed=1     completed at step 8  done",
                                  "1    (none)     -                    new"]
