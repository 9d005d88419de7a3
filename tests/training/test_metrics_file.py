"""metrics.jsonl: one record per logged update, under gradient accumulation and across a resume."""

from __future__ import annotations

import json
from pathlib import Path

from training_helpers import TINY, run_cli

FAST = [*TINY, "test=false", "callbacks.attention_maps.n_sentences=0", "trainer.log_every_n_steps=1"]


def records(run_dir: Path) -> tuple[list[int], list[int]]:
    """Steps of the training records and of the validation records, in file order."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if "train/loss" in r], [r["step"] for r in rows if "val/bleu" in r]


def test_one_record_per_update_under_gradient_accumulation(tmp_path):
    run_cli("transformer_lab.train", *FAST, "trainer.max_steps=4", "trainer.val_check_interval=4",
            "trainer.accumulate_grad_batches=3", f"hydra.run.dir={tmp_path}")
    assert records(tmp_path) == ([1, 2, 3, 4], [4])


def test_a_resumed_run_does_not_repeat_the_records_of_the_steps_it_runs_again(tmp_path):
    common = [*FAST, "trainer.max_steps=6", "trainer.val_check_interval=3",
              "callbacks.resume_checkpoint.every_n_train_steps=3", f"hydra.run.dir={tmp_path}"]
    crash = run_cli("transformer_lab.train", *common, "+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep",
                    "+callbacks.fault.step=5", check=False)
    assert crash.returncode != 0
    assert records(tmp_path) == ([1, 2, 3, 4, 5], [3])  # last.ckpt is at step 3: steps 4 and 5 run again
    run_cli("transformer_lab.train", *common)
    assert records(tmp_path) == ([1, 2, 3, 4, 5, 6], [3, 6])
