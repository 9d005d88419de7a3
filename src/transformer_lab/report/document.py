"""A sweep's report: runs -> rows -> significance against the baseline row -> report.md, report.csv and
figures (and a W&B run with `to_wandb`). `python -m transformer_lab.report` is its command line."""

from __future__ import annotations

from pathlib import Path

from transformer_lab.report.rows import ReportRow, group_rows
from transformer_lab.report.runs import RunRecord
from transformer_lab.report.significance import DEFAULT_SAMPLES, DEFAULT_SEED, compare_to_baseline


class ReportError(ValueError):
    """A report that cannot be written as asked (an unknown baseline row, ...)."""


def choose_baseline(rows: list[ReportRow], name: str | None) -> ReportRow | None:
    from transformer_lab.report.tables import order_rows

    if name is None:
        ordered = order_rows(rows)
        return next((r for r in ordered if r.label == "base"), ordered[0] if len(ordered) > 1 else None)
    for row in rows:
        if row.label == name:
            return row
    raise ReportError(f"--baseline {name}: no such row; the rows are: {', '.join(r.label for r in rows)}")


def write_report(records: list[RunRecord], out_dir: Path, source: str, figures: bool = True,
                 baseline: str | None = None, split: str = "valid", n_samples: int = DEFAULT_SAMPLES,
                 seed: int = DEFAULT_SEED, to_wandb: bool = False) -> dict[str, Path | str]:
    """Writes report.md, report.csv (and the figures) into `out_dir`; returns the paths by name (plus
    `wandb`: the W&B run's directory or URL, with to_wandb)."""
    from transformer_lab.report.figures import write_figures
    from transformer_lab.report.tables import CSV_COLUMNS, csv_rows, significance_note, write_csv, write_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = group_rows(records)
    base = choose_baseline(rows, baseline)
    comparisons = compare_to_baseline(rows, base, split, n_samples, seed) if base is not None else {}
    paths: dict[str, Path | str] = {"csv": out_dir / "report.csv", "markdown": out_dir / "report.md"}
    pngs = write_figures(rows, out_dir) if figures and records else []
    n_ok = sum(r.status == "completed" for r in records)
    groups = sorted({r.group for r in records if r.group})
    header = [
        f"# Sweep report: {source}",
        "",
        f"{len(records)} runs ({n_ok} completed) in {len(rows)} rows"
        f"{'; W&B group ' + ', '.join(groups) if groups else ''}. "
        "Layout of the paper's Table 3: hyperparameter cells are blank where equal to the `base` row. Runs that "
        "differ only by their seed are one row: `seeds` is completed/all, and the numbers are the mean ± sample "
        "standard deviation over the completed seeds (failed or diverged seeds are never averaged in). Every dev "
        "number is the last evaluation on the dev set (the paper: newstest2013, beam search, no checkpoint "
        "averaging). Like with like: `paper BLEU` (Table 3 of Vaswani et al., 2017) is tokenized BLEU, Moses "
        "tokenizer.perl + ##AT## compound splitting + multi-bleu.perl, so it stands beside `dev tokenized BLEU`, "
        "the same computation on our dev output (`val/paper_bleu`; empty for runs that did not log it); `dev "
        "BLEU`, chrF and chrF++ are sacreBLEU's (13a), the numbers to publish, and run below the tokenized BLEU "
        "(they do not split hyphenated compounds into three tokens). Perplexity is per wordpiece, and the paper's "
        "wordpieces (a ~37k shared vocabulary) are not ours: `dev PPL` and `paper PPL` compare only runs with the "
        "same vocabulary. best dev BLEU is each run's best sacreBLEU evaluation; params count each shared matrix "
        "once. Paper columns for rows the paper has.",
        "",
        significance_note(n_samples, seed, split, base.label if base is not None else None),
    ]
    write_csv(rows, comparisons, paths["csv"])
    write_markdown(rows, comparisons, paths["markdown"], header, [str(p) for p in pngs])
    paths.update({p.stem: p for p in pngs})
    if to_wandb:
        from transformer_lab.report.wandb_upload import log_report, wandb_destination

        paths["wandb"] = log_report(csv_rows(rows, comparisons), CSV_COLUMNS, pngs,
                                    wandb_destination(records, source), out_dir, header)
    return paths
