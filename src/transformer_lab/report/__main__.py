"""`python -m transformer_lab.report PATH_OR_ENTITY/PROJECT [--group G] [--out DIR] [--no-figures]`

Reads the runs of a sweep and writes `report.md`, `report.csv` and PNG figures (dev BLEU per row, BLEU
against parameters, learning curves) into the sweep directory (or --out):
  - PATH: a Hydra sweep directory (`outputs/train/table3/multirun_.../`; every job directory below it
    with a `.hydra/config.yaml` is one run) or a single run directory;
  - ENTITY/PROJECT: runs from the W&B API (online, logged in), optionally one `--group`; written to
    --out (default `report_<entity>_<project>[_<group>]`).
Failed, diverged and unfinished runs are rows with their status; a job directory without summary.json is
"failed before training".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transformer_lab.report.runs import RunRecord, read_local_runs, read_wandb_runs


def write_report(records: list[RunRecord], out_dir: Path, source: str, figures: bool = True) -> dict[str, Path]:
    """Writes report.md, report.csv (and the figures) into `out_dir`; returns the paths by name."""
    from transformer_lab.report.figures import write_figures
    from transformer_lab.report.tables import write_csv, write_markdown

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out_dir / "report.csv", "markdown": out_dir / "report.md"}
    pngs = write_figures(records, out_dir) if figures and records else []
    write_csv(records, paths["csv"])
    write_markdown(records, paths["markdown"], source, [str(p) for p in pngs])
    paths.update({p.stem: p for p in pngs})
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transformer_lab.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="sweep or run directory, or a W&B entity/project")
    parser.add_argument("--group", help="W&B only: the runs of this group")
    parser.add_argument("--out", help="where to write (default: the sweep directory)")
    parser.add_argument("--no-figures", action="store_true", help="tables only")
    args = parser.parse_args(argv)

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
    paths = write_report(records, out_dir, args.source, figures=not args.no_figures)
    failed = [r for r in records if r.status != "completed"]
    print(f"{len(records)} runs ({len(failed)} not completed) -> {paths['markdown']}, {paths['csv']}")
    for name, p in paths.items():
        if name not in ("csv", "markdown"):
            print(f"  figure: {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
