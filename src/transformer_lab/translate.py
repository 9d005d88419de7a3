"""`python -m transformer_lab.translate CKPT [--input FILE]`: translate lines (stdin or a file) to stdout
with batched beam search. Output line i is the translation of input line i (empty stays empty)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

import numpy as np
import torch

from transformer_lab.data.batching import EvalBatchSampler
from transformer_lab.special_tokens import EOS_ID, PAD_ID


def translate_lines(module, lines: Iterable[str], search, max_tokens: int = 4096, device: str = "cpu") -> list[str]:
    tokenizer = module.get_tokenizer()
    lines = [" ".join(line.split()) for line in lines]
    encoded = [tokenizer.encode(line) + [EOS_ID] if line else [] for line in lines]
    outputs = [""] * len(lines)
    todo = [i for i, ids in enumerate(encoded) if ids]
    module.to(device).eval()
    lengths = np.array([len(encoded[i]) for i in todo])
    # The evaluation sampler: length-sorted, padded batches of at most max_tokens (a long line alone).
    for batch in EvalBatchSampler(lengths, lengths, max_tokens):
        indices = [todo[j] for j in batch]
        width = max(len(encoded[i]) for i in indices)
        src = torch.full((len(indices), width), PAD_ID, dtype=torch.long)
        for row, i in enumerate(indices):
            src[row, : len(encoded[i])] = torch.tensor(encoded[i])
        for i, hypothesis in zip(indices, module.translate_ids(src.to(device), search)):
            outputs[i] = hypothesis
    return outputs


def main(argv: list[str] | None = None) -> int:
    from transformer_lab.checkpoints import module_from_checkpoint
    from transformer_lab.training.checkpoint_io import CheckpointError
    from transformer_lab.training.config import SearchConfig

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", help="a .ckpt written by transformer_lab.train or average_checkpoints")
    parser.add_argument("--input", "-i", default="-", help="file of source sentences, one per line (default: stdin)")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.6, help="length penalty exponent")
    parser.add_argument("--max-len-a", type=float, default=1.0)
    parser.add_argument("--max-len-b", type=int, default=50)
    parser.add_argument("--greedy", action="store_true", help="greedy search instead of beam search")
    parser.add_argument("--max-tokens", type=int, default=4096, help="source tokens per batch, padding included")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)

    try:
        module, _ = module_from_checkpoint(args.checkpoint)
    except CheckpointError as error:  # says which file and why; a traceback would add nothing
        print(f"error: {error}", file=sys.stderr)
        return 2
    search = SearchConfig(strategy="greedy" if args.greedy else "beam", beam_size=args.beam_size, alpha=args.alpha,
                          max_len_a=args.max_len_a, max_len_b=args.max_len_b)
    if args.input == "-":
        lines = sys.stdin.read().split("\n")
    else:
        with open(args.input, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for hypothesis in translate_lines(module, lines, search, args.max_tokens, args.device):
        sys.stdout.write(hypothesis + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
