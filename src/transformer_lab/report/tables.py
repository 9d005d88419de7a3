"""The Table 3 layout: one line per run, hyperparameters blank where equal to the base row (as in the
paper), our dev perplexity / BLEU / parameters beside the paper's for rows the paper has."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from transformer_lab.report.paper import ROW_ORDER, TABLE3, PaperRow
from transformer_lab.report.runs import RunRecord

HPARAM_COLUMNS = ["N", "d_model", "d_ff", "h", "d_k", "d_v", "P_drop", "eps_ls", "positional", "norm", "steps"]
CSV_COLUMNS = ["row", "status", "error", *HPARAM_COLUMNS, "global_step", "dev_ppl", "dev_bleu", "best_dev_bleu",
               "test_bleu", "params", "paper_ppl", "paper_bleu", "paper_params", "source"]


def paper_row(record: RunRecord) -> PaperRow | None:
    """The paper's numbers for a Table 3 row (config `row` in the paper's table, run tagged table3)."""
    if record.row in TABLE3 and (not record.tags or "table3" in record.tags):
        return TABLE3[record.row]
    return None


def order_records(records: list[RunRecord]) -> list[RunRecord]:
    """The paper's row order first (base, A1, ..., E1, big), then every other run in job order."""
    rank = {name: i for i, name in enumerate(ROW_ORDER)}
    indexed = list(enumerate(records))
    indexed.sort(key=lambda item: (rank.get(item[1].row, len(rank)), item[0]))
    return [record for _, record in indexed]


def reference_record(records: list[RunRecord]) -> RunRecord | None:
    """The base row that blank cells refer to: the first run whose row is `base`."""
    return next((r for r in records if r.row == "base"), None)


def csv_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    rows = []
    for record in order_records(records):
        paper = paper_row(record)
        rows.append({
            "row": record.label, "status": record.status, "error": record.error or "",
            **{k: record.hparams.get(k) for k in HPARAM_COLUMNS},
            "global_step": record.global_step, "dev_ppl": record.dev_ppl, "dev_bleu": record.dev_bleu,
            "best_dev_bleu": record.best_dev_bleu, "test_bleu": record.test_bleu, "params": record.params,
            "paper_ppl": paper.ppl if paper else None, "paper_bleu": paper.bleu if paper else None,
            "paper_params": int(paper.params_m * 1e6) if paper and paper.params_m else None,
            "source": record.source,
        })
    return rows


def write_csv(records: list[RunRecord], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in csv_rows(records):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


# ------------------------------------------------------------------------------------------- markdown
def fmt_steps(steps: Any) -> str:
    if isinstance(steps, int) and steps >= 1000 and steps % 1000 == 0:
        return f"{steps // 1000}K"
    return "" if steps is None else str(steps)


def fmt_number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def fmt_params(params: int | float | None) -> str:
    """x10^6 with one decimal (three significant figures for tiny debug models)."""
    if params is None:
        return ""
    millions = params / 1e6
    return f"{millions:.1f}" if millions >= 1 else f"{millions:.3g}"


def markdown_table(records: list[RunRecord]) -> str:
    ordered = order_records(records)
    base = reference_record(ordered)
    header = ["row", "status", *HPARAM_COLUMNS, "dev PPL", "dev BLEU", "best dev BLEU", "params x10^6",
              "paper PPL", "paper BLEU", "paper params x10^6"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in ordered:
        cells = []
        for key in HPARAM_COLUMNS:
            value = record.hparams.get(key)
            if base is not None and record is not base and value == base.hparams.get(key):
                cells.append("")  # blank = same as base, as in the paper
            else:
                cells.append(fmt_steps(value) if key == "steps" else ("" if value is None else str(value)))
        paper = paper_row(record)
        cells += [
            fmt_number(record.dev_ppl, 2), fmt_number(record.dev_bleu, 2), fmt_number(record.best_dev_bleu, 2),
            fmt_params(record.params),
            fmt_number(paper.ppl, 2) if paper else "", fmt_number(paper.bleu, 1) if paper else "",
            (f"{paper.params_m:g}" if paper.params_m else "") if paper else "",
        ]
        status = record.status_text.replace("|", "/").replace("\n", " ")
        lines.append("| " + " | ".join([record.label, status, *cells]) + " |")
    return "\n".join(lines)


def write_markdown(records: list[RunRecord], path: Path, source: str, figures: list[str]) -> None:
    n_ok = sum(r.status == "completed" for r in records)
    groups = sorted({r.group for r in records if r.group})
    text = [
        f"# Sweep report: {source}",
        "",
        f"{len(records)} runs ({n_ok} completed){'; W&B group ' + ', '.join(groups) if groups else ''}. "
        "Layout of the paper's Table 3: hyperparameter cells are blank where equal to the `base` row; "
        "dev PPL and dev BLEU are the last evaluation on the dev set (the paper: newstest2013, beam search, "
        "no checkpoint averaging); best dev BLEU is the best evaluation of the run; params count each shared "
        "matrix once. Paper columns: Table 3 of Vaswani et al. (2017), for rows it has.",
        "",
        markdown_table(records),
        "",
    ]
    if figures:
        text += ["## Figures", ""] + [f"![{Path(f).stem}]({Path(f).name})" for f in figures] + [""]
    path.write_text("\n".join(text), encoding="utf-8")
