"""SIGTERM while the test split is decoded after training (issue 25): the run exits as preempted, says it
stopped in the test, keeps its checkpoints, and the same command relaunched tests again without training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from training_helpers import EIGHT_STEPS, run_cli

from transformer_lab.training.runtime.cluster import PREEMPTED_EXIT_CODE

TESTED = [a for a in EIGHT_STEPS if a != "test=false"]
WITH_TEST = [*TESTED, "logger=none", "data.eval_max_tokens=256"]  # several test batches
SIGTERM_AT_TEST_BATCH_1 = ["+callbacks.fault._target_=transformer_lab.training.callbacks.faults.SignalDuringTest",
                           "+callbacks.fault.batch=1"]


def checkpoint_files(run_dir: Path) -> dict[str, int]:
    return {str(p.relative_to(run_dir)): p.stat().st_mtime_ns for p in (run_dir / "checkpoints").rglob("*.ckpt")}


@pytest.mark.slow
def test_sigterm_during_the_test_is_a_preemption_and_the_relaunch_only_tests(tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("transformer_lab.train", *WITH_TEST, *SIGTERM_AT_TEST_BATCH_1, f"hydra.run.dir={run_dir}",
                   check=False)
    assert proc.returncode == PREEMPTED_EXIT_CODE, proc.stderr[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "preempted" and summary["stopped_in"] == "test" and summary["global_step"] == 8
    assert not any(key.startswith("test/") for key in summary)
    saved = checkpoint_files(run_dir)
    assert "checkpoints/last.ckpt" in saved and any(name.startswith("checkpoints/best-") for name in saved)

    proc = run_cli("transformer_lab.train", *WITH_TEST, f"hydra.run.dir={run_dir}")  # the same command
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 8 and "stopped_in" not in summary
    assert summary["test/n_sentences"] == 800 and "test/bleu" in summary
    assert checkpoint_files(run_dir) == saved  # not trained again: no checkpoint rewritten
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 8


@pytest.mark.slow
def test_a_best_checkpoint_the_last_state_names_but_that_is_gone_is_replaced_by_the_best_on_disk(finished_run, tmp_path):
    run_dir = Path(shutil.copytree(finished_run, tmp_path / "run"))
    (best,) = run_dir.glob("checkpoints/best-*.ckpt")
    # last.ckpt as a run saved it before its final validation: naming the best checkpoint that one replaced
    last = run_dir / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(last, weights_only=True)
    gone = run_dir / "checkpoints" / "best-step0000004-bleu0.00.ckpt"
    for key, state in checkpoint["callbacks"].items():
        if key.startswith("ModelCheckpoint") and state.get("monitor"):
            state.update(best_model_path=str(gone), dirpath=str(run_dir / "checkpoints"), best_k_models={})
    torch.save(checkpoint, last)
    proc = run_cli("transformer_lab.train", *TESTED, f"hydra.run.dir={run_dir}")
    assert f"the best checkpoint recorded, {gone}, is gone; testing {best}" in proc.stdout + proc.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test/n_sentences"] == 800
