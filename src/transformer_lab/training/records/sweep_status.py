"""What a sweep re-launched in an existing sweep directory does with each job, read from the job's own run
directory before anything starts: `done` (completed, skipped: its files stay untouched), `resumed` (an
interrupted or preempted attempt: `ckpt_path=auto` continues from its last.ckpt), `rerun` (a failed or
diverged job: runs again, from its last.ckpt when it has one), `new`; and the table the sweeper prints.

No Lightning, torch or Hydra import: the sweeper plugin reads this before launching any job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_lab.checkpointing.layout import RunLayout

DONE, RESUMED, RERUN, NEW = "done", "resumed", "rerun", "new"
INTERRUPTED_STATUSES = ("running", "interrupted", "preempted")  # "running": killed without a chance to say so


@dataclass(frozen=True)
class JobPlan:
    """One job of a sweep: its number, overrides, run directory, what was found there and what happens."""

    number: int
    overrides: tuple[str, ...]
    run_dir: Path
    action: str            # done | resumed | rerun | new
    found: str             # the status summary.json had ("" when there was none), with its step
    outcome: str = ""      # the status summary.json has after this launch (filled by `with_outcome`)

    def with_outcome(self) -> JobPlan:
        summary = read_job_summary(self.run_dir)
        return JobPlan(self.number, self.overrides, self.run_dir, self.action, self.found,
                       str(summary.get("status", "not started")))


def read_job_summary(run_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads(RunLayout(run_dir).summary.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def is_finished(summary: dict[str, Any], wants_test: bool) -> bool:
    """Completed, and tested when the job tests (a kill during the test leaves fit's `completed` behind)."""
    tested = any(key.startswith("test/") for key in summary)
    return summary.get("status") == "completed" and (tested or not wants_test)


def plan_job(number: int, overrides: list[str] | tuple[str, ...], run_dir: Path, wants_test: bool) -> JobPlan:
    """What a launch does with the job whose run directory is `run_dir`."""
    summary = read_job_summary(run_dir)
    status = summary.get("status")
    found = "" if status is None else f"{status} at step {summary.get('global_step', '?')}"
    if status is None:
        action = RESUMED if RunLayout(run_dir).last_checkpoint.is_file() else NEW
    elif is_finished(summary, wants_test):
        action = DONE
    elif status in INTERRUPTED_STATUSES or status == "completed":  # completed but untested: the test is resumed
        action = RESUMED if RunLayout(run_dir).last_checkpoint.is_file() else RERUN
    else:  # failed, diverged
        action = RERUN
    return JobPlan(number, tuple(overrides), run_dir, action, found)


def format_table(plans: list[JobPlan], title: str) -> str:
    """A plain-text table: job, the overrides that set it apart from the other jobs, what was found, the
    action (and the outcome, once known)."""
    with_outcome = any(plan.outcome for plan in plans)
    shared = set.intersection(*(set(p.overrides) for p in plans)) if len(plans) > 1 else set()
    header = ["job", "overrides", "found", "action"] + (["now"] if with_outcome else [])
    rows = [[str(p.number), " ".join(o for o in p.overrides if o not in shared) or "(none)", p.found or "-", p.action]
            + ([p.outcome] if with_outcome else []) for p in plans]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def contiguous_runs(numbers: list[int]) -> list[list[int]]:
    """[0, 1, 3, 4, 6] -> [[0, 1], [3, 4], [6]]: the jobs one launcher call starts with their own numbers."""
    runs: list[list[int]] = []
    for number in numbers:
        if runs and runs[-1][-1] == number - 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return runs
