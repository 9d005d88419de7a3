"""Real tiny sweeps on CPU, end to end: multirun -> run directories + W&B offline runs -> report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from training_helpers import offline_runs, read_wandb_offline_run, run_cli

from transformer_lab.report.__main__ import main as report_main

# debug=tiny, shortened further: 4 updates, dev evaluations at steps 2 and 4, no test pass, no attention plots
QUICK = ["debug=tiny", "data.max_tokens=512", "trainer.max_steps=4", "trainer.val_check_interval=2",
         "trainer.log_every_n_steps=1", "test=false", "callbacks.attention_maps.n_sentences=0",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
FAULT = "+callbacks.fault._target_=transformer_lab.training.faults.RaiseAtStep"


def job_dirs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def report_rows(sweep: Path) -> dict[str, dict]:
    with open(sweep / "report.csv", newline="", encoding="utf-8") as handle:
        return {row["row"]: row for row in csv.DictReader(handle)}


def test_three_row_sweep_gives_three_runs_one_wandb_group_and_a_matching_report(tmp_path):
    rows = ["A1", "C1", "E1"]
    run_cli("transformer_lab.train", "-m", "experiment=" + ",".join(f"table3/{r}" for r in rows), *QUICK,
            f"hydra.sweep.dir={tmp_path}", timeout=900)
    jobs = job_dirs(tmp_path)
    assert len(jobs) == 3
    wandb_runs = [read_wandb_offline_run(d) for job in jobs for d in offline_runs(job)]
    assert len(wandb_runs) == 3 and len({run["id"] for run in wandb_runs}) == 3
    assert {run["group"] for run in wandb_runs} == {"table3"}
    assert sorted(tuple(run["tags"]) for run in wandb_runs) == [("table3", r) for r in rows]
    assert all(run["exit_code"] == 0 for run in wandb_runs)

    assert report_main([str(tmp_path)]) == 0
    table = report_rows(tmp_path)
    assert sorted(table) == rows
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        row = table[_tags(job)[1]]  # tags: [table3, ROW]
        assert row["status"] == summary["status"] == "completed"
        assert float(row["dev_bleu"]) == summary["last_val"]["val/bleu"]
        assert float(row["dev_ppl"]) == summary["last_val"]["val/ppl"]
        assert float(row["best_dev_bleu"]) == summary["best_val_bleu"]
        assert int(row["params"]) == summary["parameters"]["total"]
        assert int(row["global_step"]) == summary["global_step"] == 4
    # the rows keep their differences at debug size: A1 has one head, C1 fewer layers, E1 learned positions
    assert (table["A1"]["h"], table["C1"]["N"], table["E1"]["positional"]) == ("1", "1", "learned")
    assert len({table[r]["params"] for r in rows}) == 3
    md = (tmp_path / "report.md").read_text()
    assert sum(line.startswith(("| A1 ", "| C1 ", "| E1 ")) for line in md.splitlines()) == 3
    for name in ("bleu_per_row", "bleu_vs_params", "learning_curves"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def _tags(job: Path) -> list[str]:
    from omegaconf import OmegaConf

    return list(OmegaConf.load(job / ".hydra" / "config.yaml").tags)


def test_a_job_that_raises_does_not_stop_the_sweep_and_the_report_shows_it(tmp_path):
    proc = run_cli("transformer_lab.train", "-m", "experiment=table3/C1", *QUICK, FAULT,
                   "+callbacks.fault.step=2,100000", f"hydra.sweep.dir={tmp_path}", timeout=900, check=False)
    assert proc.returncode != 0  # Hydra's basic launcher runs every job, then reports the failure
    failed, completed = (json.loads((job / "summary.json").read_text()) for job in job_dirs(tmp_path))
    assert failed["status"] == "failed" and "injected fault at step 2" in failed["error"]
    assert completed["status"] == "completed" and completed["global_step"] == 4

    assert report_main([str(tmp_path)]) == 0
    table = report_rows(tmp_path)
    assert table["C1 (+callbacks.fault.step=2)"]["status"] == "failed"
    assert table["C1 (+callbacks.fault.step=100000)"]["status"] == "completed"
    md = (tmp_path / "report.md").read_text()
    assert "| C1 (+callbacks.fault.step=2) | failed at step 2 (InjectedFault: injected fault at step 2" in md


@pytest.mark.slow
def test_optuna_search_goes_on_after_a_failed_trial(tmp_path):
    # With the TPE sampler seeded by seed=1234, the first of three trials draws fault step 2 and fails.
    proc = run_cli("transformer_lab.train", "hparams_search=optuna", *QUICK, "hydra.sweeper.n_trials=3", FAULT,
                   "+callbacks.fault.step=choice(2,100000)", f"hydra.sweep.dir={tmp_path}", timeout=900)
    statuses = [json.loads((job / "summary.json").read_text())["status"] for job in job_dirs(tmp_path)]
    assert len(statuses) == 3 and "failed" in statuses and "completed" in statuses, statuses
    assert "Best value" in proc.stdout + proc.stderr
    assert (tmp_path / "optimization_results.yaml").is_file()
