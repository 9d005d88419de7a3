"""The Table 3 layout: one line per row (its seeds together), hyperparameters blank where equal to the base
row (as in the paper), our dev perplexity / BLEU / parameters beside the paper's for rows the paper has, and
each row's BLEU difference from the baseline with its 95% interval and p-value."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from transformer_lab.report.paper import ROW_ORDER, TABLE3, PaperRow
from transformer_lab.report.rows import ReportRow
from transformer_lab.report.runs import RunRecord
from transformer_lab.report.significance import ALPHA, PairedComparison

HPARAM_COLUMNS = ["N", "d_model", "d_ff", "h", "d_k", "d_v", "P_drop", "eps_ls", "positional", "norm", "steps"]
METRICS = {  # CSV prefix -> RunRecord attribute
    "dev_bleu": "dev_bleu", "dev_paper_bleu": "dev_paper_bleu", "dev_ppl": "dev_ppl", "test_bleu": "test_bleu",
    "dev_chrf": "dev_chrf",
    "dev_chrf++": "dev_chrf_pp", "best_dev_bleu": "best_dev_bleu",
}
CSV_COLUMNS = ["row", "status", "n_seeds", "n_not_completed", "seeds", "differs_by", *HPARAM_COLUMNS,
               *(f"{name}_{kind}" for name in METRICS for kind in ("mean", "std")), "params_m",
               "delta_vs_baseline", "ci_low", "ci_high", "p_value", "significant",
               "paper_ppl", "paper_bleu", "paper_params_m", "versions_differ", "error", "sources"]


def paper_row(record: RunRecord | ReportRow) -> PaperRow | None:
    """The paper's numbers for a Table 3 row (config `row` in the paper's table, run tagged table3)."""
    run = record.first if isinstance(record, ReportRow) else record
    if run.row in TABLE3 and (not run.tags or "table3" in run.tags):
        return TABLE3[run.row]
    return None


def order_records(records: list[RunRecord]) -> list[RunRecord]:
    """The paper's row order first (base, A1, ..., E1, big), then every other run in job order."""
    rank = {name: i for i, name in enumerate(ROW_ORDER)}
    indexed = list(enumerate(records))
    indexed.sort(key=lambda item: (rank.get(item[1].row, len(rank)), item[0]))
    return [record for _, record in indexed]


def order_rows(rows: list[ReportRow]) -> list[ReportRow]:
    """Rows in the paper's order (base, A1, ..., big), then every other row in job order."""
    rank = {name: i for i, name in enumerate(ROW_ORDER)}
    indexed = sorted(enumerate(rows), key=lambda item: (rank.get(item[1].row, len(rank)), item[0]))
    return [row for _, row in indexed]


def reference_row(rows: list[ReportRow]) -> ReportRow | None:
    """The base row that blank cells refer to: the row named `base`."""
    return next((r for r in rows if r.row == "base"), None)


def versions_text(row: ReportRow) -> str:
    """`torch 2.13.0 (seeds 1, 2) / 2.12.0 (seed 3)` for each provenance field that differs across seeds."""
    parts = []
    for key, by_value in row.version_differences().items():
        values = [f"{value} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))})"
                  for value, seeds in by_value.items()]
        parts.append(f"{key} {' / '.join(values)}")
    return "; ".join(parts)


def csv_rows(rows: list[ReportRow], comparisons: dict[str, PairedComparison | str]) -> list[dict[str, Any]]:
    out = []
    for row in order_rows(rows):
        paper = paper_row(row)
        comparison = comparisons.get(row.label)
        compared = comparison if isinstance(comparison, PairedComparison) else None
        line = {
            "row": row.label, "status": row.status, "n_seeds": row.n_seeds,
            "n_not_completed": len(row.not_completed), "seeds": " ".join(str(r.seed) for r in row.runs),
            "differs_by": " ".join(row.first.differs_by), **{k: row.hparams.get(k) for k in HPARAM_COLUMNS},
        }
        for name, attribute in METRICS.items():
            stat = row.stat(attribute)
            line[f"{name}_mean"], line[f"{name}_std"] = stat.mean, stat.std
        line.update({
            "params_m": row.params / 1e6 if row.params else None,
            "delta_vs_baseline": compared.delta if compared else None,
            "ci_low": compared.ci_low if compared else None, "ci_high": compared.ci_high if compared else None,
            "p_value": compared.p_value if compared else None,
            "significant": compared.significant if compared else None,
            "paper_ppl": paper.ppl if paper else None, "paper_bleu": paper.bleu if paper else None,
            "paper_params_m": paper.params_m if paper else None,
            "versions_differ": versions_text(row),
            "error": "; ".join(f"seed {r.seed}: {r.error}" for r in row.runs if r.error),
            "sources": " ".join(r.source for r in row.runs),
        })
        out.append(line)
    return out


def write_csv(rows: list[ReportRow], comparisons: dict[str, PairedComparison | str], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for line in csv_rows(rows, comparisons):
            writer.writerow({k: "" if v is None else v for k, v in line.items()})


# ------------------------------------------------------------------------------------------- markdown
def fmt_steps(steps: Any) -> str:
    if isinstance(steps, int) and steps >= 1000 and steps % 1000 == 0:
        return f"{steps // 1000}K"
    return "" if steps is None else str(steps)


def fmt_number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def fmt_mean_std(row: ReportRow, attribute: str, digits: int) -> str:
    stat = row.stat(attribute)
    if stat.mean is None:
        return ""
    return fmt_number(stat.mean, digits) + (f" ± {stat.std:.{digits}f}" if stat.std is not None else "")


def fmt_params(params: int | float | None) -> str:
    """x10^6 with one decimal (three significant figures for tiny debug models)."""
    if params is None:
        return ""
    millions = params / 1e6
    return f"{millions:.1f}" if millions >= 1 else f"{millions:.3g}"


def fmt_comparison(comparison: PairedComparison | str | None) -> tuple[str, str]:
    """(delta [low, high], p) cells; `*` marks p < ALPHA."""
    if not isinstance(comparison, PairedComparison):
        return "", ""
    mark = " *" if comparison.significant else ""
    return (f"{comparison.delta:+.2f} [{comparison.ci_low:+.2f}, {comparison.ci_high:+.2f}]{mark}",
            f"{comparison.p_value:.3f}")


def markdown_table(rows: list[ReportRow], comparisons: dict[str, PairedComparison | str]) -> str:
    ordered = order_rows(rows)
    base = reference_row(ordered)
    # like with like: the paper's BLEU (tokenized, compound-split, newstest2013) beside the same computation
    # on our dev output, sacreBLEU next to them; perplexities (per wordpiece of different vocabularies) apart
    header = ["row", "status", "seeds", *HPARAM_COLUMNS, "dev tokenized BLEU", "paper BLEU", "dev BLEU",
              "test BLEU", "dev chrF", "dev chrF++", "best dev BLEU", "params x10^6", "Δ BLEU vs baseline [95% CI]",
              "p", "dev PPL", "paper PPL", "paper params x10^6"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in ordered:
        cells = []
        for key in HPARAM_COLUMNS:
            value = row.hparams.get(key)
            if base is not None and row is not base and value == base.hparams.get(key):
                cells.append("")  # blank = same as base, as in the paper
            else:
                cells.append(fmt_steps(value) if key == "steps" else ("" if value is None else str(value)))
        paper = paper_row(row)
        cells += [
            fmt_mean_std(row, "dev_paper_bleu", 2), fmt_number(paper.bleu, 1) if paper else "",
            fmt_mean_std(row, "dev_bleu", 2), fmt_mean_std(row, "test_bleu", 2),
            fmt_mean_std(row, "dev_chrf", 1), fmt_mean_std(row, "dev_chrf_pp", 1),
            fmt_mean_std(row, "best_dev_bleu", 2), fmt_params(row.params),
            *fmt_comparison(comparisons.get(row.label)),
            fmt_mean_std(row, "dev_ppl", 2), fmt_number(paper.ppl, 2) if paper else "",
            (f"{paper.params_m:g}" if paper.params_m else "") if paper else "",
        ]
        status = row.status_text.replace("|", "/").replace("\n", " ")
        seeds = f"{row.n_seeds}/{len(row.runs)}"
        lines.append("| " + " | ".join([row.label, status, seeds, *cells]) + " |")
    return "\n".join(lines)


def write_markdown(rows: list[ReportRow], comparisons: dict[str, PairedComparison | str], path: Path,
                   header: list[str], figures: list[str]) -> None:
    text = [*header, "", markdown_table(rows, comparisons), ""]
    not_compared: dict[str, list[str]] = {}  # reason -> rows
    for label, why in comparisons.items():
        if isinstance(why, str):
            not_compared.setdefault(why, []).append(label)
    if not_compared:
        text += ["Rows without a significance test: "
                 + "; ".join(f"{', '.join(labels)} ({why})" for why, labels in not_compared.items()), ""]
    differing = [(row.label, versions_text(row)) for row in order_rows(rows) if versions_text(row)]
    if differing:
        text += ["## Versions that differ across a row's runs", ""]
        text += [f"- {label}: {versions}" for label, versions in differing] + [""]
    if figures:
        text += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in figures] + [""]
    path.write_text("\n".join(text), encoding="utf-8")


def significance_note(n_samples: int, seed: int, split: str, baseline: str | None) -> str:
    """The report header's statement of the test."""
    import sacrebleu

    if baseline is None:
        return "No baseline row: no significance test."
    split_name = "dev" if split == "valid" else split
    return (
        f"Δ: each row's {split_name} BLEU minus the baseline row `{baseline}`'s on the same {split_name} "
        f"sentences (the runs' hypothesis files), with its "
        f"95% confidence interval and p-value from sacreBLEU's paired bootstrap resampling (sacreBLEU "
        f"{sacrebleu.__version__}, {n_samples} resamples, seed {seed}; one run per row is exactly "
        f"`sacrebleu --paired-bs`). Several seeds: sentences are resampled and each sentence's BLEU statistics "
        f"pooled over the row's seeds (BLEU of all seeds' hypotheses as one corpus), so Δ is the pooled BLEU's "
        f"difference. `*`: p < {ALPHA} (significantly different). Identical systems get p = 1."
    )
