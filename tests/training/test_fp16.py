"""`trainer.precision=16-mixed` (issue 26): float16 autocast with a loss scaler, what pre-Ampere GPUs such as
the paper's P100s need. Lightning 2.6 runs it on CUDA only: on CPU it replaces it with bf16-mixed (with a
warning), so here the test checks that the run says which precision it really trained in. The GradScaler
path itself needs a GPU (README, "fp16")."""

from __future__ import annotations

import json
import math

from training_helpers import FAST, run_cli


def test_16_mixed_on_cpu_trains_in_bf16_and_the_run_records_bf16(tmp_path):
    proc = run_cli("transformer_lab.train", *FAST, "trainer.precision=16-mixed", "trainer.max_steps=4",
                   "trainer.val_check_interval=4", "trainer.log_every_n_steps=1", "logger=none",
                   f"hydra.run.dir={tmp_path}")
    assert "AMP with fp16 is not supported on CPU. Using `precision='bf16-mixed'` instead" in proc.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 4
    assert summary["provenance"]["precision"] == "bf16-mixed"  # what it trained in, not what was asked
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["train/loss"] for r in records if "train/loss" in r]
    assert len(losses) == 4 and all(math.isfinite(loss) for loss in losses)
    assert not any(r.get("train/skipped_updates") for r in records)  # no update counted as non-finite
