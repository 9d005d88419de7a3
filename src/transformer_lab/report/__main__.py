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

from transformer_lab.report.document import ReportError, write_report
from transformer_lab.report.runs import read_local_runs, read_wandb_runs
from transformer_lab.report.significance import DEFAULT_SAMPLES, DEFAULT_SEED


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
