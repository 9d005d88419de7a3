"""Real tiny sweeps on CPU, end to end: multirun -> run directories + W&B offline runs -> report."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from training_helpers import offline_runs, read_wandb_offline_run, run_cli

from transformer_lab.report.__main__ import main as report_main

# debug=tiny, shortened further: 4 updates, dev evaluations at steps 2 and 4, no test pass, no attention plots
QUICK = ["debug=tiny", "data.max_tokens=512", "trainer.max_steps=4", "trainer.val_check_interval=2",
         "trainer.log_every_n_steps=1", "test=false", "callbacks.attention_maps.n_sentences=0",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
FAULT = "+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep"


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
    assert sorted(tuple(run["tags"]) for run in wandb_runs) == [("table3", r, "seed=1234") for r in rows]
    assert sorted((run["config"]["row"], run["config"]["seed"]) for run in wandb_runs) == [(r, 1234) for r in rows]
    assert all(run["exit_code"] == 0 for run in wandb_runs)

    assert report_main([str(tmp_path)]) == 0
    table = report_rows(tmp_path)
    assert sorted(table) == rows
    for job in jobs:
        summary = json.loads((job / "summary.json").read_text())
        row = table[_tags(job)[1]]  # tags: [table3, ROW]
        assert row["status"] == summary["status"] == "completed"
        assert float(row["dev_bleu_mean"]) == summary["last_val"]["val/bleu"]
        assert float(row["dev_ppl_mean"]) == summary["last_val"]["val/ppl"]
        assert float(row["best_dev_bleu_mean"]) == summary["best_val_bleu"]
        assert float(row["params_m"]) * 1e6 == pytest.approx(summary["parameters"]["total"])
        assert summary["global_step"] == 4
    # the rows keep their differences at debug size: A1 has one head, C1 fewer layers, E1 learned positions
    assert (table["A1"]["h"], table["C1"]["N"], table["E1"]["positional"]) == ("1", "1", "learned")
    assert len({table[r]["params_m"] for r in rows}) == 3
    md = (tmp_path / "report.md").read_text()
    assert sum(line.startswith(("| A1 ", "| C1 ", "| E1 ")) for line in md.splitlines()) == 3
    for name in ("bleu_per_row", "bleu_vs_params", "learning_curves"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def _tags(job: Path) -> list[str]:
    from omegaconf import OmegaConf

    return list(OmegaConf.load(job / ".hydra" / "config.yaml").tags)


def test_a_job_that_raises_does_not_stop_the_sweep_and_the_report_shows_it(failing_sweep, tmp_path):
    proc, sweep = failing_sweep  # tests/conftest.py: table3/C1, job 0 raises at step 2, job 1 runs its 4 steps
    sweep = Path(shutil.copytree(sweep, tmp_path / "sweep"))  # the report writes into the sweep directory
    assert proc.returncode != 0  # Hydra's basic launcher runs every job, then reports the failure
    failed, completed = (json.loads((job / "summary.json").read_text()) for job in job_dirs(sweep))
    assert failed["status"] == "failed" and "injected fault at step 2" in failed["error"]
    assert completed["status"] == "completed" and completed["global_step"] == 4

    assert report_main([str(sweep)]) == 0
    table = report_rows(sweep)
    assert table["C1 (+callbacks.fault.step=2)"]["status"] == "failed"
    assert table["C1 (+callbacks.fault.step=1000)"]["status"] == "completed"
    md = (sweep / "report.md").read_text()
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


# ------------------------------------------------------------------------------ seeds and significance
SEEDS = (1, 2)


def _summary(job: Path) -> dict:
    return json.loads((job / "summary.json").read_text())


def _last_hypotheses(job: Path) -> list[str]:
    last = max(r["step"] for r in map(json.loads, (job / "metrics.jsonl").read_text().splitlines()) if "val/bleu" in r)
    return (job / "translations" / f"valid_step{last:07d}.hyp.txt").read_text(encoding="utf-8").splitlines()


# CI: 2 updates and one short greedy validation per job (BLEU near 0, but every number and file is real);
# slow: long enough for the rows' BLEU to differ.
SEEDED_FAST = ["trainer.max_steps=2", "trainer.val_check_interval=2", "decoding.val.max_len_a=0",
               "decoding.val.max_len_b=5"]
SEEDED_SLOW = ["trainer.max_steps=60", "trainer.val_check_interval=30", "optim.lr_scale=3.0"]


@pytest.fixture(scope="module", params=[pytest.param(SEEDED_FAST, id="fast"),
                                        pytest.param(SEEDED_SLOW, id="trained", marks=pytest.mark.slow)])
def seeded_sweep(request, tmp_path_factory) -> Path:
    """2 rows x 2 seeds in one multirun, plus a third job (another row) that fails before training."""
    sweep = tmp_path_factory.mktemp("seeded_sweep")
    run_cli("transformer_lab.train", "-m", "experiment=table3/C1,table3/C4", "seed=" + ",".join(map(str, SEEDS)),
            *[o for o in QUICK if not o.startswith(("trainer.max_steps", "trainer.val_check_interval"))],
            *request.param, "logger=none", "callbacks.periodic_checkpoint.every_n_train_steps=100",
            f"hydra.sweep.dir={sweep}", timeout=900)
    run_cli("transformer_lab.train", "experiment=table3/E1", "debug=tiny", "logger=none", "data=parallel_text",
            f"data.dir={sweep / 'no_such_corpus'}", f"hydra.run.dir={sweep / 'failed_job'}", timeout=900, check=False)
    return sweep


def test_seeded_sweep_report_has_one_row_per_configuration_with_the_seeds_statistics(seeded_sweep):
    import statistics

    assert report_main([str(seeded_sweep), "--no-figures", "--baseline", "C1"]) == 0
    table = report_rows(seeded_sweep)
    assert sorted(table) == ["C1", "C4", "E1"]  # 2 rows, plus the failed job
    assert table["E1"]["status"] == "failed" and table["E1"]["n_seeds"] == "0"
    assert "Corpus directory not found" in table["E1"]["error"] and table["E1"]["dev_bleu_mean"] == ""
    for row, jobs in (("C1", job_dirs(seeded_sweep)[:2]), ("C4", job_dirs(seeded_sweep)[2:])):
        summaries = [_summary(job) for job in jobs]
        assert [s["status"] for s in summaries] == ["completed"] * 2
        assert (table[row]["status"], table[row]["n_seeds"], table[row]["seeds"]) == ("completed", "2", "1 2")
        for column, values in (("dev_bleu", [s["last_val"]["val/bleu"] for s in summaries]),
                               ("dev_ppl", [s["last_val"]["val/ppl"] for s in summaries]),
                               ("dev_chrf++", [s["last_val"]["val/chrf++"] for s in summaries])):
            assert float(table[row][f"{column}_mean"]) == pytest.approx(statistics.fmean(values), rel=1e-12)
            assert float(table[row][f"{column}_std"]) == pytest.approx(statistics.stdev(values), rel=1e-12, abs=1e-12)
        assert table[row]["test_bleu_mean"] == ""  # test=false: no test BLEU to average
        assert float(table[row]["params_m"]) * 1e6 == pytest.approx(summaries[0]["parameters"]["total"])
    assert table["C1"]["delta_vs_baseline"] == "" and table["C4"]["p_value"] != ""


def test_seeded_sweep_p_value_is_sacrebleus_paired_bootstrap_on_the_hypothesis_files(seeded_sweep, tmp_path,
                                                                                      monkeypatch):
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    from transformer_lab.report.significance import paired_bootstrap

    jobs = job_dirs(seeded_sweep)
    references = (jobs[0] / "translations" / "valid.ref.txt").read_text(encoding="utf-8").splitlines()
    # Two seeds per row: the pooled-statistics test on exactly these files
    assert report_main([str(seeded_sweep), "--no-figures", "--baseline", "C1", "--bootstrap-seed", "3"]) == 0
    expected = paired_bootstrap([_last_hypotheses(j) for j in jobs[:2]], [_last_hypotheses(j) for j in jobs[2:]],
                                references, n_samples=1000, seed=3)
    row = report_rows(seeded_sweep)["C4"]
    assert (float(row["p_value"]), float(row["delta_vs_baseline"])) == (expected.p_value, expected.delta)
    # One seed per row (the seed-1 jobs alone): sacreBLEU's own PairedTest on the same files
    for job in (jobs[0], jobs[2]):
        shutil.copytree(job, tmp_path / job.name, ignore=shutil.ignore_patterns("checkpoints"))
    assert report_main([str(tmp_path), "--no-figures", "--baseline", "C1", "--bootstrap-seed", "3"]) == 0
    monkeypatch.setenv("SACREBLEU_SEED", "3")
    _, scores = PairedTest([("C1", _last_hypotheses(jobs[0])), ("C4", _last_hypotheses(jobs[2]))],
                           {"BLEU": BLEU()}, [references], test_type="bs", n_samples=1000)()
    row = report_rows(tmp_path)["C4"]
    assert float(row["p_value"]) == scores["BLEU"][1].p_value
    assert float(row["delta_vs_baseline"]) == pytest.approx(scores["BLEU"][1].score - scores["BLEU"][0].score)
