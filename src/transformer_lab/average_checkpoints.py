"""`python -m transformer_lab.average_checkpoints RUN_DIR_OR_CKPTS --last N -o averaged.ckpt`

Averages the weights of the last N periodic checkpoints (§6.1: the base model averages the last 5, big
the last 20). "Last" is by global step stored in each file, never by modification time. The result
keeps the newest checkpoint's hyperparameters, tokenizer and data settings, so `evaluate` and
`translate` take it like any checkpoint; it carries no optimizer state, so it cannot resume training.

Memory: the checkpoints are memory-mapped and added one at a time to a running float64 sum, so the peak
is about the sum (2x the float32 weights) plus one checkpoint's weights, whatever N (20 big-model
checkpoints are about 17 GB together; the figures are in docs/PERFORMANCE.md).
The work is done by `transformer_lab.checkpointing.averaging`; this module is its command line. Checkpoints
of different model settings or parameter shapes are refused before anything is written, and the output is
written to a temporary file renamed into place: no partial average is ever left under its final name.
"""

from __future__ import annotations

import argparse
import sys

from transformer_lab.checkpointing.averaging import average_last_checkpoints, find_checkpoints
from transformer_lab.checkpointing.writing import AtomicCheckpointIO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="a run directory (uses checkpoints/periodic), a folder, or files")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest checkpoints to average")
    parser.add_argument("-o", "--output", required=True, help="where to write the averaged checkpoint")
    args = parser.parse_args(argv)

    paths = find_checkpoints(args.inputs)
    if not paths:
        parser.error(f"no .ckpt files found in {args.inputs}")
    averaged = average_last_checkpoints(paths, args.last)
    if len(averaged.steps) < args.last:
        print(f"warning: asked for the last {args.last} checkpoints, found only {len(averaged.steps)}", file=sys.stderr)
    AtomicCheckpointIO().save_checkpoint(averaged.checkpoint, args.output)
    print(f"averaged {len(averaged.steps)} checkpoints (steps {', '.join(map(str, averaged.steps))}) -> {args.output}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    """main() as a command: a refused input (another architecture, not a checkpoint, a failed write) is one
    line on stderr and exit status 2, not a traceback; main() itself raises them (for callers and tests)."""
    from transformer_lab.checkpointing.errors import CheckpointError

    try:
        return main(argv)
    except (CheckpointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
