"""Prepare a real WMT corpus (the only command in the project that downloads anything).

    python -m transformer_lab.prepare wmt14_en_de [--out data/wmt14_en_de] [--raw DIR] [--no-download]
    python -m transformer_lab.prepare wmt14_en_de --mirror URL   # same paths under URL instead of statmt.org
    python -m transformer_lab.prepare wmt14_en_fr [--source hf]  # the Hub's wmt/wmt14 (needs `datasets`)

Every archive is checked against its published size and checksum before use; RAW/manifest.json records
what was verified, so an interrupted or repeated run resumes and redoes only what is not.

Writes OUT/{train,valid,test}.{en,de|fr} and prints the data config to train on it. See
`transformer_lab.data.wmt.prepare` for the sources used.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from transformer_lab.data.errors import DataError
from transformer_lab.data.wmt.download import STATMT
from transformer_lab.data.wmt.prepare import (
    HF_DATASET,
    TASKS,
    fetch,
    get_task,
    write_layout,
    write_layout_from_hf,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transformer_lab.prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--out", type=Path, help="output directory (default: data/TASK)")
    parser.add_argument("--raw", type=Path, help="where archives are downloaded/extracted (default: OUT/raw)")
    parser.add_argument("--source", choices=("statmt", "hf"), default="statmt",
                        help=f"statmt: official WMT archives (default); hf: the {HF_DATASET} dataset on the HF Hub")
    parser.add_argument("--mirror", metavar="URL", default=STATMT,
                        help=f"base URL serving the same paths as {STATMT} (e.g. URL/wmt13/"
                             f"training-parallel-europarl-v7.tgz); checked against the same checksums")
    parser.add_argument("--no-download", action="store_true",
                        help="only parse files already extracted into --raw (no network)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = (args.out or Path("data") / args.task).expanduser()
    raw = (args.raw or out / "raw").expanduser()
    task = get_task(args.task)
    try:
        if args.source == "hf":
            counts = write_layout_from_hf(args.task, out)
        else:
            if not args.no_download:
                fetch(task, raw, base_url=args.mirror)
            counts = write_layout(task, raw, out)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {out}: " + ", ".join(f"{split} {n} pairs" for split, n in counts.items()))
    print("Train on it with:")
    if out.name == args.task:
        print(f"  data={args.task} paths.data_dir={out.resolve().parent}")
    print(f"  data=parallel_text data.dir={out.resolve()} data.src_lang={task.src} data.tgt_lang={task.tgt}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
