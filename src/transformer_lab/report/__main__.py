"""`python -m transformer_lab.report PATH_OR_ENTITY/PROJECT [--group G] [--out DIR] [--baseline ROW]
[--split valid|test] [--bootstrap-samples N] [--bootstrap-seed S] [--no-figures] [--to-wandb]`

Reads the runs of a sweep and writes `report.md`, `report.csv` and PNG figures (dev BLEU per row, BLEU
against parameters, learning curves) into the sweep directory (or --out):
  - PATH: a Hydra sweep directory (`outputs/train/table3/multirun_.../`; every job directory below it
    with a `.hydra/config.yaml` is one run) or a single run directory;
  - ENTITY/PROJECT: runs from the W&B API (online, logged in), optionally one `--group`; written to
    --out (default `report_<entity>_<project>[_<group>]`).
Runs that differ only by their seed are one row: mean and standard deviation over the completed seeds;
failed, diverged and unfinished seeds are counted apart. Each row is compared with the baseline row (`base`
if there is one, else the first row; --baseline ROW) by sacreBLEU's paired bootstrap on the runs'
hypothesis files (local runs only). A job directory without summary.json is "failed before training".
--to-wandb logs the table and the figures to one W&B run in the sweep's group.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transformer_lab.report.rows import ReportRow, group_rows
from transformer_lab.report.runs import RunRecord, read_local_runs, read_wandb_runs
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
        "standard deviation over the completed seeds (failed or diverged seeds are never averaged in). dev PPL, "
        "BLEU, chrF and chrF++ (sacreBLEU) are the last evaluation on the dev set (the paper: newstest2013, beam "
        "search, no checkpoint averaging); best dev BLEU is each run's best evaluation; params count each shared "
        "matrix once. Paper columns: Table 3 of Vaswani et al. (2017), for rows it has.",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transformer_lab.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="sweep or run directory, or a W&B entity/project")
    parser.add_argument("--group", help="W&B only: the runs of this group")
    parser.add_argument("--out", help="where to write (default: the sweep directory)")
    parser.add_argument("--baseline", help="the row every other row is compared with (default: base, else the first)")
    parser.add_argument("--split", choices=("valid", "test"), default="valid",
                        help="the hypotheses the significance test pairs: last dev evaluation (default) or test")
    parser.add_argument("--bootstrap-samples", type=int, default=DEFAULT_SAMPLES,
                        help=f"paired bootstrap resamples (default {DEFAULT_SAMPLES}, sacreBLEU's)")
    parser.add_argument("--bootstrap-seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of the resampling (default {DEFAULT_SEED}, sacreBLEU's)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    parser.add_argument("--to-wandb", action="store_true",
                        help="also log the table and figures to one W&B run in the sweep's group")
    args = parser.parse_args(argv)
    if args.bootstrap_samples < 40:
        parser.error(f"--bootstrap-samples {args.bootstrap_samples}: at least 40 are needed for a 95% interval")

    path = Path(args.source)
    if path.exists():
        records = read_local_runs(path)
        out_dir = Path(args.out) if args.out else path
        if not records:
            parser.error(f"{path}: no run directories (directories holding .hydra/config.yaml) found")
    elif args.source.count("/") == 1 and not args.source.startswith((".", "/")):
        records = read_wandb_runs(args.source, group=args.group)
        default = "report_" + args.source.replace("/", "_") + (f"_{args.group}" if args.group else "")
        out_dir = Path(args.out or default)
        if not records:
            parser.error(f"W&B project {args.source}{' group ' + args.group if args.group else ''}: no runs")
    else:
        parser.error(f"{args.source}: no such directory, and not a W&B entity/project")
    try:
        paths = write_report(records, out_dir, args.source, figures=not args.no_figures, baseline=args.baseline,
                             split=args.split, n_samples=args.bootstrap_samples, seed=args.bootstrap_seed,
                             to_wandb=args.to_wandb)
    except ReportError as error:
        parser.error(str(error))
    failed = [r for r in records if r.status != "completed"]
    print(f"{len(records)} runs ({len(failed)} not completed) -> {paths['markdown']}, {paths['csv']}")
    for name, p in paths.items():
        if name not in ("csv", "markdown", "wandb"):
            print(f"  figure: {p}")
    if "wandb" in paths:
        print(f"  W&B run: {paths['wandb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
