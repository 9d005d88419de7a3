"""One job per run directory (issue 25): a second launch into a directory another process holds refuses at once
with one line, writing nothing there; a lock left by a killed process does not block."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from training_helpers import EIGHT_STEPS, REPO, run_cli

from transformer_lab.training.runtime.run_lock import RUN_DIRECTORY_BUSY_EXIT_CODE, RunDirectoryBusy, run_directory_lock

HOLD_WITH_OUR_LOCK = """
import sys, time
from transformer_lab.training.runtime.run_lock import run_directory_lock
with run_directory_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""
HOLD_WITHOUT_PID = """
import fcntl, os, sys, time
fd = os.open(os.path.join(sys.argv[1], ".lock"), os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(120)
"""


def hold(run_dir: Path, script: str) -> subprocess.Popen:
    """Another process holding the run directory's lock, once it says so."""
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), str(run_dir)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_a_second_launch_into_a_held_run_directory_refuses_naming_it_and_writes_nothing(tmp_path):
    run_dir = tmp_path / "run"
    holder = hold(run_dir, HOLD_WITH_OUR_LOCK)
    try:
        before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
        proc = run_cli("transformer_lab.train", *EIGHT_STEPS, f"hydra.run.dir={run_dir}", check=False, timeout=120)
        assert proc.returncode == RUN_DIRECTORY_BUSY_EXIT_CODE, proc.stderr[-3000:]
        assert f"run directory {run_dir} is in use by process {holder.pid}" in proc.stderr
        assert "Traceback" not in proc.stderr and "Error executing job" not in proc.stderr + proc.stdout
        # nothing new (no train.log, summary.json, .hydra/ or checkpoints), and the lock file untouched
        assert {p: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before
        assert (run_dir / ".lock").read_text().strip() == str(holder.pid)
    finally:
        stop(holder)


def test_a_holder_that_recorded_no_pid_is_still_refused(tmp_path, capsys):
    run_dir = tmp_path / "multirun" / "0"  # a sweep's job directory: the same lock
    holder = hold(run_dir, HOLD_WITHOUT_PID)
    try:
        with pytest.raises(RunDirectoryBusy) as refused, run_directory_lock(run_dir):
            pass
        assert refused.value.code == RUN_DIRECTORY_BUSY_EXIT_CODE
        assert "in use by another process (its pid is not recorded yet)" in capsys.readouterr().err
    finally:
        stop(holder)


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    holder = hold(run_dir, HOLD_WITH_OUR_LOCK)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert (run_dir / ".lock").read_text().strip() == str(holder.pid)  # the file stays; the kernel freed the flock
    with run_directory_lock(run_dir):
        assert (run_dir / ".lock").read_text().strip() == str(os.getpid())


def test_the_lock_is_released_when_the_job_ends(tmp_path):
    with run_directory_lock(tmp_path):
        pass
    with run_directory_lock(tmp_path):  # the same process again, as the next job of a multirun would
        pass
