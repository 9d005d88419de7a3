"""The report from run directories written by hand: layout, statuses, paper numbers, labels, figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from transformer_lab.describe import CONFIG_DIR
from transformer_lab.report.__main__ import main as report_main
from transformer_lab.report.runs import read_local_runs


def make_job(sweep: Path, num: int, overrides: list[str], summary: dict | None, metrics: list[dict] = ()) -> Path:
    """A Hydra job directory as the training job leaves it: .hydra/{config,overrides}.yaml, summary, metrics."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    OmegaConf.save(cfg, job / ".hydra" / "config.yaml")  # unresolved, like Hydra's own copy
    OmegaConf.save(OmegaConf.create(overrides), job / ".hydra" / "overrides.yaml")
    if summary is not None:
        (job / "summary.json").write_text(json.dumps(summary))
    (job / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return job


def summary(status="completed", step=20, ppl=50.0, bleu=1.5, best=2.0, total=100_000, error=None) -> dict:
    out = {"status": status, "global_step": step, "best_val_bleu": best,
           "last_val": {"val/ppl": ppl, "val/bleu": bleu, "val/loss": 4.0},
           "parameters": {"embeddings": 1, "encoder": 2, "decoder": 3, "total": total}}
    if error:
        out["error"] = error
    return out


CURVE = [{"step": 5, "epoch": 0, "lr": 0.1, "train/loss": 8.0}, {"step": 10, "epoch": 0, "val/bleu": 1.0, "val/ppl": 90.0},
         {"step": 20, "epoch": 0, "val/bleu": 1.5, "val/ppl": 50.0}]


@pytest.fixture
def sweep(tmp_path) -> Path:
    """Three Table 3 rows (tiny-sized configs), created out of the paper's order, plus a job that died early."""
    make_job(tmp_path, 0, ["experiment=table3/C4", "debug=tiny"], summary(ppl=80.0, bleu=0.5, total=60_000), CURVE)
    make_job(tmp_path, 1, ["experiment=table3/base", "debug=tiny"], summary(ppl=40.0, bleu=2.5, total=100_000), CURVE)
    make_job(tmp_path, 2, ["experiment=table3/A1", "debug=tiny"],
             summary(status="failed", step=7, error="InjectedFault: injected fault at step 7"), CURVE[:1])
    make_job(tmp_path, 3, ["experiment=table3/D1", "debug=tiny"], None)
    return tmp_path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def md_rows(path: Path) -> list[list[str]]:
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_report_numbers_equal_the_run_summaries(sweep):
    assert report_main([str(sweep)]) == 0
    rows = {row["row"]: row for row in read_csv(sweep / "report.csv")}
    for job in sorted(p for p in sweep.iterdir() if (p / "summary.json").is_file()):
        summary_ = json.loads((job / "summary.json").read_text())
        row = rows[OmegaConf.load(job / ".hydra" / "config.yaml").row]
        assert row["status"] == summary_["status"]
        assert float(row["params_m"]) * 1e6 == pytest.approx(summary_["parameters"]["total"])
        if summary_["status"] != "completed":  # never averaged in
            assert (row["n_seeds"], row["n_not_completed"], row["dev_bleu_mean"]) == ("0", "1", "")
            continue
        assert row["n_seeds"] == "1" and row["dev_bleu_std"] == ""  # one seed: no standard deviation
        assert float(row["dev_ppl_mean"]) == summary_["last_val"]["val/ppl"]
        assert float(row["dev_bleu_mean"]) == summary_["last_val"]["val/bleu"]
        assert float(row["best_dev_bleu_mean"]) == summary_["best_val_bleu"]


def test_rows_follow_the_papers_order_and_keep_every_job(sweep):
    assert report_main([str(sweep)]) == 0
    table = md_rows(sweep / "report.md")
    assert [r[0] for r in table[1:]] == ["base", "A1", "C4", "D1"]


def test_a_job_without_summary_is_failed_before_training(sweep):
    (record,) = [r for r in read_local_runs(sweep) if r.row == "D1"]
    assert record.status == "failed before training" and record.dev_bleu is None
    assert report_main([str(sweep)]) == 0
    d1 = next(r for r in md_rows(sweep / "report.md") if r[0] == "D1")
    assert d1[1] == "failed before training"


def test_failed_runs_show_their_step_and_error(sweep):
    assert report_main([str(sweep)]) == 0
    a1 = next(r for r in md_rows(sweep / "report.md") if r[0] == "A1")
    assert a1[1].startswith("failed at step 7") and "injected fault" in a1[1]


def test_cells_equal_to_base_are_blank_as_in_the_paper(sweep):
    assert report_main([str(sweep)]) == 0
    header, *rows = md_rows(sweep / "report.md")
    table = {row[0]: dict(zip(header, row)) for row in rows}
    assert table["base"]["N"] == "3" and table["base"]["d_model"] == "32"  # the reference row is complete
    assert {k for k in ("N", "d_model", "d_ff", "h", "d_k", "d_v", "P_drop", "eps_ls") if table["A1"][k]} == \
        {"h", "d_k", "d_v"}
    assert {k for k in ("N", "d_model", "d_ff", "h", "d_k", "d_v") if table["C4"][k]} == {"d_model", "d_k", "d_v"}
    assert table["D1"]["P_drop"] == "0.0"


def test_paper_numbers_stand_beside_ours(sweep):
    assert report_main([str(sweep)]) == 0
    header, *rows = md_rows(sweep / "report.md")
    table = {row[0]: dict(zip(header, row)) for row in rows}
    assert (table["base"]["paper PPL"], table["base"]["paper BLEU"], table["base"]["paper params x10^6"]) == \
        ("4.92", "25.8", "65")
    assert (table["base"]["dev PPL"], table["base"]["dev BLEU"], table["base"]["params x10^6"]) == \
        ("40.00", "2.50", "0.1")
    assert table["A1"]["paper params x10^6"] == ""  # the paper gives none for row A


def test_runs_sharing_a_row_are_told_apart_by_their_overrides(tmp_path):
    for num, step in enumerate((2, 100000)):
        make_job(tmp_path, num, ["experiment=table3/C1", "debug=tiny", f"+callbacks.fault.step={step}"], summary())
    make_job(tmp_path, 2, ["debug=tiny", "model.dropout=0.3"], summary())
    labels = [r.label for r in read_local_runs(tmp_path)]
    assert labels[:2] == ["C1 (+callbacks.fault.step=2)", "C1 (+callbacks.fault.step=100000)"]
    assert labels[2] == "model.dropout=0.3"  # a run whose config names no row: its own overrides


def test_report_writes_three_png_figures(sweep):
    assert report_main([str(sweep)]) == 0
    for name in ("bleu_per_row", "bleu_vs_params", "learning_curves"):
        png = sweep / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in (sweep / "report.md").read_text()


def test_report_refuses_a_path_that_is_neither_a_directory_nor_a_project(tmp_path, capsys):
    with pytest.raises(SystemExit):
        report_main([str(tmp_path / "missing" / "dir")])
    assert "no such directory" in capsys.readouterr().err


class _FakeWandbRun:
    def __init__(self, row, state, bleu, total):
        self.id, self.name, self.group, self.state = f"id-{row}", f"run-{row}", "table3", state
        self.tags = ["table3", row]
        self.config = {"row": row, "tags": self.tags, "model": {"n_layers": 6, "d_model": 512, "d_ff": 2048,
                       "n_heads": 8, "d_k": None, "d_v": None, "dropout": 0.1, "norm": "post",
                       "positional": {"name": "sinusoidal"}}, "loss": {"label_smoothing": 0.1},
                       "trainer": {"max_steps": 100000}, "parameters": {"total": total}}
        self.summary = {"val/bleu": bleu, "val/ppl": 5.0, "trainer/global_step": 100000}

    def scan_history(self):
        return [{"trainer/global_step": 50000, "val/bleu": self.summary["val/bleu"] - 1},
                {"trainer/global_step": 100000, "val/bleu": self.summary["val/bleu"], "train/loss": 2.0}]


def test_wandb_runs_become_the_same_report(monkeypatch, tmp_path):
    import wandb

    class FakeApi:
        def runs(self, path, filters=None, order=None):
            assert path == "me/transformer_lab" and filters == {"group": "table3"}
            return [_FakeWandbRun("A1", "finished", 24.0, 63_000_000), _FakeWandbRun("base", "crashed", 25.0, 63_000_000)]

    monkeypatch.setattr(wandb, "Api", FakeApi)
    assert report_main(["me/transformer_lab", "--group", "table3", "--out", str(tmp_path), "--no-figures"]) == 0
    rows = read_csv(tmp_path / "report.csv")
    assert [(r["row"], r["status"], r["dev_bleu_mean"], r["best_dev_bleu_mean"]) for r in rows] == \
        [("base", "failed", "", ""), ("A1", "completed", "24.0", "24.0")]  # failed runs are never averaged in


def test_wandb_runs_read_the_best_from_the_summary_and_the_last_from_the_history(monkeypatch, tmp_path):
    import wandb

    class DefinedMetricRun(_FakeWandbRun):  # summary: the best (define_metric); history: every evaluation
        def scan_history(self):
            return [{"trainer/global_step": 50000, "val/bleu": 26.0}, {"trainer/global_step": 100000, "val/bleu": 24.0}]

    run = DefinedMetricRun("A1", "finished", 24.0, 63_000_000)
    run.summary.update({"val/bleu": {"max": 26.0}, "val/bleu_best_step": 50000, "val/ppl": {"min": 4.5}})
    run.config.update(seed=2, provenance={"versions": {"torch": "2.13.0"}})

    class FakeApi:
        def runs(self, path, filters=None, order=None):
            return [run]

    monkeypatch.setattr(wandb, "Api", FakeApi)
    from transformer_lab.report.runs import read_wandb_runs

    (record,) = read_wandb_runs("me/transformer_lab")
    assert (record.dev_bleu, record.best_dev_bleu, record.best_dev_bleu_step) == (24.0, 26.0, 50000)
    assert record.seed == 2 and record.provenance["versions"]["torch"] == "2.13.0"


def test_the_paper_bleu_stands_beside_our_tokenized_dev_bleu_with_the_caveats(tmp_path):
    tokenized = summary(ppl=40.0, bleu=2.5)
    tokenized["last_val"]["val/paper_bleu"] = 3.25
    make_job(tmp_path, 0, ["experiment=table3/base", "debug=tiny"], tokenized, CURVE)
    make_job(tmp_path, 1, ["experiment=table3/C4", "debug=tiny"], summary(ppl=80.0, bleu=0.5), CURVE)  # no val/paper_bleu
    assert report_main([str(tmp_path)]) == 0
    header, *rows = md_rows(tmp_path / "report.md")
    assert header.index("paper BLEU") == header.index("dev tokenized BLEU") + 1  # side by side
    assert header.index("dev BLEU") == header.index("paper BLEU") + 1  # sacreBLEU next to them
    table = {row[0]: dict(zip(header, row)) for row in rows}
    assert (table["base"]["dev tokenized BLEU"], table["base"]["paper BLEU"], table["base"]["dev BLEU"]) == \
        ("3.25", "25.8", "2.50")
    assert table["C4"]["dev tokenized BLEU"] == ""
    assert {row["row"]: row["dev_paper_bleu_mean"] for row in read_csv(tmp_path / "report.csv")} == \
        {"base": "3.25", "C4": ""}
    text = (tmp_path / "report.md").read_text()
    assert "Moses tokenizer.perl + ##AT## compound splitting + multi-bleu.perl" in text
    assert "Perplexity is per wordpiece, and the paper's wordpieces" in text
