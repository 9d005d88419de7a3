"""Validation cadence counts optimizer updates whatever the gradient accumulation."""

from __future__ import annotations

import json

from training_helpers import TINY, run_cli

from transformer_lab.describe import compose_train_config, describe
from transformer_lab.training.cadence import val_check_interval_in_batches


def test_an_int_interval_in_updates_becomes_lightnings_batches():
    assert val_check_interval_in_batches({"val_check_interval": 3, "accumulate_grad_batches": 2}) == 6
    assert val_check_interval_in_batches({"val_check_interval": 5000, "accumulate_grad_batches": 1}) == 5000
    assert val_check_interval_in_batches({"val_check_interval": 0.5, "accumulate_grad_batches": 4}) == 0.5


def test_describe_prints_the_cadence_of_the_paper_config():
    desc = describe(compose_train_config(["experiment=paper/base_en_de", "model.vocab_size=37000"]))
    training = desc["training"]
    assert training["accumulate_grad_batches"] == 8
    assert training["val_check_interval_updates"] == 5000  # the paper configs no longer scale it by hand
    assert training["val_check_interval_batches"] == 40000
    assert training["checkpoint_every_n_updates"] == 1500


def test_with_accumulation_2_validation_and_checkpoints_come_every_n_updates(tmp_path):
    run_cli("transformer_lab.train", *TINY, "logger=none", "test=false", "trainer.accumulate_grad_batches=2",
            "trainer.max_steps=6", "trainer.val_check_interval=2", "trainer.log_every_n_steps=1",
            "callbacks.periodic_checkpoint.every_n_train_steps=3", f"hydra.run.dir={tmp_path}")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "val/bleu" in r] == [2, 4, 6]
    assert max(r["step"] for r in records) == 6  # 6 updates = 12 batches
    periodic = sorted(p.name for p in (tmp_path / "checkpoints" / "periodic").glob("*.ckpt"))
    assert periodic == ["step0000003.ckpt", "step0000006.ckpt"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 6
