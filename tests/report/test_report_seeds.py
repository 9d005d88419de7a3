"""Rows over seeds, significance marks, versions and `--to-wandb`, from run directories written by hand."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
from test_report_tables import make_job, md_rows, read_csv, summary
from test_significance import BAD, GOOD, REFS
from training_helpers import offline_runs, read_wandb_offline_run, run_cli

from transformer_lab.report.__main__ import main as report_main

PROVENANCE = {"versions": {"torch": "2.13.0", "lightning": "2.6.6", "hydra-core": "1.3.8", "sacrebleu": "2.6.0",
                           "transformer_lab": "0.1.0"}, "git": {"commit": "abc", "dirty": False},
              "device": "cpu", "precision": "32-true"}


def make_seeded_job(sweep: Path, num: int, row: str, seed: int, hypotheses: list[str] | None, bleu: float,
                    status: str = "completed", provenance: dict = PROVENANCE) -> Path:
    """A job of `-m experiment=table3/ROW seed=...` with its last dev hypotheses and the references."""
    run_summary = {**summary(status=status, bleu=bleu, ppl=10.0 + bleu), "provenance": provenance}
    job = make_job(sweep, num, [f"experiment=table3/{row}", "debug=tiny", f"seed={seed}"], run_summary)
    if hypotheses is not None:
        (job / "translations").mkdir()
        (job / "translations" / "valid_step0000020.hyp.txt").write_text("".join(h + "\n" for h in hypotheses))
        (job / "translations" / "valid.ref.txt").write_text("".join(r + "\n" for r in REFS))
    return job


@pytest.fixture
def sweep(tmp_path) -> Path:
    """base: the poor system (3 seeds); A1: the clearly better one (2 seeds + a diverged seed);
    B1: hypotheses identical to base's (3 seeds, one with another torch version)."""
    num = 0
    for seed, bleu in zip((1, 2, 3), (10.0, 11.0, 13.0)):
        make_seeded_job(tmp_path, num, "base", seed, BAD, bleu)
        num += 1
    for seed, bleu in zip((1, 2), (30.0, 32.0)):
        make_seeded_job(tmp_path, num, "A1", seed, GOOD, bleu)
        num += 1
    make_seeded_job(tmp_path, num, "A1", 3, None, 99.0, status="diverged")
    num += 1
    for seed, bleu in zip((1, 2, 3), (10.0, 11.0, 13.0)):
        other = {**PROVENANCE, "versions": {**PROVENANCE["versions"], "torch": "2.12.0"}}
        make_seeded_job(tmp_path, num, "B1", seed, BAD, bleu, provenance=other if seed == 3 else PROVENANCE)
        num += 1
    return tmp_path


def rows_by_name(sweep: Path) -> dict[str, dict]:
    return {row["row"]: row for row in read_csv(sweep / "report.csv")}


def test_runs_differing_only_by_seed_are_one_row_with_mean_and_sd_of_the_completed_seeds(sweep):
    assert report_main([str(sweep), "--no-figures"]) == 0
    table = rows_by_name(sweep)
    assert list(table) == ["base", "A1", "B1"]
    a1 = table["A1"]
    assert (a1["n_seeds"], a1["n_not_completed"], a1["seeds"]) == ("2", "1", "1 2 3")
    assert a1["status"] == "2 completed, 1 diverged"
    assert float(a1["dev_bleu_mean"]) == statistics.fmean([30.0, 32.0])  # the diverged 99 is never averaged in
    assert float(a1["dev_bleu_std"]) == statistics.stdev([30.0, 32.0])
    assert float(table["base"]["dev_ppl_mean"]) == statistics.fmean([20.0, 21.0, 23.0])
    assert float(table["base"]["dev_bleu_std"]) == statistics.stdev([10.0, 11.0, 13.0])


def test_a_clearly_better_row_is_marked_significant_and_an_identical_one_is_not(sweep):
    assert report_main([str(sweep), "--no-figures"]) == 0
    table = rows_by_name(sweep)
    better, same = table["A1"], table["B1"]
    assert better["significant"] == "True" and float(better["p_value"]) < 0.05
    assert 0 < float(better["ci_low"]) < float(better["delta_vs_baseline"]) < float(better["ci_high"])
    assert same["significant"] == "False" and float(same["p_value"]) == 1.0
    assert float(same["delta_vs_baseline"]) == float(same["ci_low"]) == float(same["ci_high"]) == 0.0
    header, *rows = md_rows(sweep / "report.md")
    cells = {row[0]: dict(zip(header, row)) for row in rows}
    assert cells["A1"]["Δ BLEU vs baseline [95% CI]"].endswith(" *")
    assert "*" not in cells["B1"]["Δ BLEU vs baseline [95% CI]"] and cells["B1"]["p"] == "1.000"
    text = (sweep / "report.md").read_text()
    assert "1000 resamples, seed 12345" in text and "baseline row `base`" in text


def test_the_baseline_option_picks_the_row_compared_against(sweep):
    assert report_main([str(sweep), "--no-figures", "--baseline", "A1", "--bootstrap-samples", "200"]) == 0
    table = rows_by_name(sweep)
    assert table["A1"]["p_value"] == "" and float(table["base"]["delta_vs_baseline"]) < 0
    assert "200 resamples" in (sweep / "report.md").read_text()


def test_an_unknown_baseline_row_is_refused_with_the_rows_there_are(sweep, capsys):
    with pytest.raises(SystemExit):
        report_main([str(sweep), "--no-figures", "--baseline", "C9"])
    assert "--baseline C9: no such row; the rows are: base, A1, B1" in capsys.readouterr().err


def test_versions_that_differ_across_a_rows_seeds_are_shown(sweep):
    assert report_main([str(sweep), "--no-figures"]) == 0
    table = rows_by_name(sweep)
    assert table["B1"]["versions_differ"] == "torch 2.13.0 (seeds 1, 2) / 2.12.0 (seed 3)"
    assert table["base"]["versions_differ"] == ""
    assert "- B1: torch 2.13.0 (seeds 1, 2) / 2.12.0 (seed 3)" in (sweep / "report.md").read_text()


def test_figures_draw_error_bars_over_seeds(sweep):
    from transformer_lab.report.figures import seed_band

    assert seed_band([{10: 1.0, 20: 2.0}, {10: 3.0, 20: 6.0, 30: 1.0}]) == \
        ([10, 20], [2.0, 4.0], [statistics.stdev([1.0, 3.0]), statistics.stdev([2.0, 6.0])])
    assert report_main([str(sweep)]) == 0
    for name in ("bleu_per_row", "bleu_vs_params", "learning_curves"):
        assert (sweep / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_to_wandb_logs_the_table_and_figures_in_one_run_of_the_sweeps_group(sweep):
    # a process of its own: the offline run file is complete once the process (and W&B's service) ended
    run_cli("transformer_lab.report", str(sweep), "--to-wandb", env={"WANDB_MODE": "offline"})
    (run_dir,) = offline_runs(sweep)
    run = read_wandb_offline_run(run_dir)
    assert run["group"] == "table3" and run["exit_code"] == 0
    media = {key.removesuffix("/_type"): value for record in run["history"] for key, value in record.items()
             if key.endswith("/_type")}
    assert media == {"report/table": "table-file", "report/bleu_per_row": "image-file",
                     "report/bleu_vs_params": "image-file", "report/learning_curves": "image-file"}
    (table_file,) = list(run_dir.rglob("*.table.json"))
    table = json.loads(table_file.read_text())
    with open(sweep / "report.csv", newline="", encoding="utf-8") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [row[0] for row in table["data"]] == [row["row"] for row in csv_rows]
    assert table["columns"][:3] == ["row", "status", "n_seeds"]
