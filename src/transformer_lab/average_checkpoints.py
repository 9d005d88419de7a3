"""`python -m transformer_lab.average_checkpoints RUN_DIR_OR_CKPTS --last N -o averaged.ckpt`

Averages the weights of the last N periodic checkpoints (§6.1: the base model averages the last 5, big
the last 20). "Last" is by global step stored in each file, never by modification time. The result
keeps the newest checkpoint's hyperparameters, tokenizer and data settings, so `evaluate` and
`translate` take it like any checkpoint; it carries no optimizer state, so it cannot resume training.

Memory: the checkpoints are memory-mapped and added one at a time to a running float64 sum, so the peak
is about the sum (2x the float32 weights) plus one checkpoint's weights, whatever N (20 big-model
checkpoints are about 17 GB together; the figures are in docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transformer_lab.checkpoints import average_state_dicts
from transformer_lab.training.checkpoint_io import AtomicCheckpointIO, load_checkpoint_file


def find_checkpoints(inputs: list[str]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            periodic = path / "checkpoints" / "periodic"
            search_dir = periodic if periodic.is_dir() else path
            paths.extend(sorted(search_dir.glob("*.ckpt")))
        elif path.is_file():
            paths.append(path)
        else:
            raise FileNotFoundError(f"{path}: neither a checkpoint file nor a directory")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", help="a run directory (uses checkpoints/periodic), a folder, or files")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest checkpoints to average")
    parser.add_argument("-o", "--output", required=True, help="where to write the averaged checkpoint")
    args = parser.parse_args(argv)

    paths = find_checkpoints(args.inputs)
    if not paths:
        parser.error(f"no .ckpt files found in {args.inputs}")
    # Memory-mapped: reading a checkpoint's step does not read its tensors.
    steps = {path: load_checkpoint_file(path, mmap=True).get("global_step", 0) for path in paths}
    chosen = sorted(paths, key=lambda path: steps[path])[-args.last :]
    if len(chosen) < args.last:
        print(f"warning: asked for the last {args.last} checkpoints, found only {len(chosen)}", file=sys.stderr)
    # One checkpoint at a time is mapped and added to a running float64 sum (docs/PERFORMANCE.md).
    state_dicts = (load_checkpoint_file(path, mmap=True)["state_dict"] for path in chosen)
    dropped = ("state_dict", "optimizer_states", "lr_schedulers", "loops", "callbacks")
    averaged = {key: value for key, value in load_checkpoint_file(chosen[-1], mmap=True).items() if key not in dropped}
    averaged["state_dict"] = average_state_dicts(state_dicts)
    averaged["averaged_from"] = [f"{p.name}@step{steps[p]}" for p in chosen]
    AtomicCheckpointIO().save_checkpoint(averaged, args.output)
    print(f"averaged {len(chosen)} checkpoints (steps {', '.join(str(steps[p]) for p in chosen)}) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
