"""`python -m transformer_lab.translate CKPT [CKPT ...] [--input FILE]`: translate lines (stdin or a file) to
stdout with batched beam search. Output line i is the translation of input line i (empty stays empty).
Several checkpoints of one vocabulary decode as an ensemble (the log of their mean probability at each step,
`decoding/ensemble.py`); `--sampling` draws translations instead (`--temperature`, `--top-k`, `--top-p`,
`--seed`, `--samples N` per line: `decoding/sampling.py`), e.g. for back-translation.

Lines are split on "\\n" only, the same way for stdin and files (a CRLF ending loses its "\\r"; a lone
"\\r", U+2028 or other separator inside a line is whitespace of that line, not a line break). A line the
model cannot take (e.g. longer than a learned position table) gets an empty output line and a warning on
stderr naming its line number, and so does a line of more than --max-source-tokens tokens (1024: a
multi-megabyte line would otherwise search for hours); the other lines are translated. An output line never
holds a line break. A last line without its "\\n" (EOF inside a line) is translated like the others.

Interactive (fairseq-interactive style) when stdin is a terminal, or with --interactive / --buffer-size N:
each line (each N lines) is translated and written as soon as it arrives, instead of reading to the end.
--nbest N writes N rows per input line: line number, rank, score, text (tab-separated, best first);
--samples N (with --sampling) writes N rows per input line the same way, in the order drawn;
--scores writes "score<TAB>text" per line. Scores are length-normalized log-probabilities (GNMT penalty);
-inf marks a line that was not translated (empty or skipped) or a missing hypothesis.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import torch

from transformer_lab.inference.translation import Hypothesis, LineTranslator


def read_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of a UTF-8 byte stream as they arrive, split on b"\\n" only; a trailing "\\r" (CRLF) and a
    leading byte-order mark are dropped. Bytes that are not UTF-8 become U+FFFD."""
    first = True
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace")
        if first and line.startswith("\ufeff"):
            line = line[1:]
        first = False
        yield line[:-2] if line.endswith("\r\n") else line[:-1] if line.endswith("\n") else line


def chunked(lines: Iterable[str], size: int | None) -> Iterator[list[str]]:
    """Lists of `size` consecutive lines (the last may be shorter); size None: one list of all lines."""
    if size is None:
        yield list(lines)
        return
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def format_results(results: list[list[Hypothesis]], *, first_line_number: int, n_best: int, scores: bool) -> str:
    """Output text: one line per input line, or with n_best > 1 n_best rows per input line."""
    out = []
    for number, hyps in enumerate(results, start=first_line_number):
        if n_best > 1:
            for rank in range(1, n_best + 1):
                hyp = hyps[rank - 1] if rank <= len(hyps) else Hypothesis(float("-inf"), "")
                out.append(f"{number}\t{rank}\t{hyp.score:.4f}\t{hyp.text}\n")
        elif scores:
            hyp = hyps[0] if hyps else Hypothesis(float("-inf"), "")
            out.append(f"{hyp.score:.4f}\t{hyp.text}\n")
        else:
            out.append((hyps[0].text if hyps else "") + "\n")
    return "".join(out)


def flag_names(message: str) -> str:
    """A SearchConfig error as translate spells the settings: `decoding top_p must ...` -> `--top-p must ...`."""
    for key in ("temperature", "top_k", "top_p", "samples", "beam_size", "min_len", "max_len_a", "max_len_b"):
        message = message.replace(f"decoding {key} ", f"--{key.replace('_', '-')} ")
    return message


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", metavar="checkpoint",
                        help="a .ckpt written by transformer_lab.train or average_checkpoints; several (of one "
                             "vocabulary): their ensemble")
    parser.add_argument("--input", "-i", default="-", help="file of source sentences, one per line (default: stdin)")
    parser.add_argument("--beam-size", type=int, default=4)
    parser.add_argument("--alpha", type=float, default=0.6, help="length penalty exponent")
    parser.add_argument("--max-len-a", type=float, default=1.0)
    parser.add_argument("--max-len-b", type=int, default=50)
    parser.add_argument("--min-len", type=int, default=0, help="no output shorter than this many tokens, its end-of-sentence token included")
    parser.add_argument("--greedy", action="store_true", help="greedy search instead of beam search")
    parser.add_argument("--sampling", action="store_true",
                        help="sample each next token instead of searching (for back-translation)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="with --sampling: sample from softmax(log p / T) (1: the model's distribution)")
    parser.add_argument("--top-k", type=int, default=0,
                        help="with --sampling: only the K most probable tokens (0: all)")
    parser.add_argument("--top-p", type=float, default=1.0,
                        help="with --sampling: only the most probable tokens holding P of the probability (1: all)")
    parser.add_argument("--seed", type=int, default=0,
                        help="with --sampling: the samples of a line depend only on it, the seed and its sample number")
    parser.add_argument("--samples", type=int, default=1, metavar="N",
                        help="with --sampling: N samples per line, written like --nbest N (in the order drawn)")
    parser.add_argument("--nbest", type=int, default=1, metavar="N",
                        help="write the N best hypotheses per line: line number, rank, score, text (N <= beam size)")
    parser.add_argument("--scores", action="store_true", help="write 'score<TAB>text' for each line")
    parser.add_argument("--interactive", action="store_true",
                        help="translate and write each line as it arrives (the default when stdin is a terminal)")
    parser.add_argument("--buffer-size", type=int, default=None, metavar="N",
                        help="translate and write every N lines as they arrive (implies --interactive)")
    parser.add_argument("--max-tokens", type=int, default=4096, help="source tokens per batch, padding included")
    parser.add_argument("--max-source-tokens", type=int, default=1024, metavar="N",
                        help="a line of more than N tokens (eos included) gets an empty output line and a warning "
                             "instead of a search whose cost grows with the square of its length")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16", "int8"), default="fp32",
                        help="bf16: autocast matrix products to bfloat16 (scores still summed in float32); int8 "
                             "(CPU only): int8 weights, activations quantized at each call")
    parser.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false",
                        help="on a GPU, decode without CUDA graphs (they replay each search step in one launch; "
                             "each new batch shape costs one capture, under a second)")
    return parser


def main(argv: list[str] | None = None) -> int:
    from transformer_lab.checkpointing.errors import CheckpointError
    from transformer_lab.decoding.config import SearchConfig
    from transformer_lab.inference.loading import ensemble_of, modules_from_checkpoints

    parser = build_parser()
    args = parser.parse_args(argv)
    greedy = args.greedy or args.beam_size == 1
    if args.nbest < 1:
        parser.error(f"--nbest {args.nbest} must be >= 1 (1: the best hypothesis only)")
    if args.sampling and args.greedy:
        parser.error("--sampling and --greedy are two strategies; give one")
    if args.nbest > 1 and args.sampling:
        parser.error(f"--nbest {args.nbest} is for beam search; with --sampling give --samples {args.nbest}")
    if args.samples != 1 and not args.sampling:
        parser.error(f"--samples {args.samples} needs --sampling (beam search gives --nbest N instead)")
    if args.nbest > 1 and (greedy or args.nbest > args.beam_size):
        parser.error(f"--nbest {args.nbest} needs beam search with --beam-size >= {args.nbest} "
                     f"(now {'--greedy' if args.greedy else f'--beam-size {args.beam_size}'})")
    if args.buffer_size is not None and args.buffer_size < 1:
        parser.error(f"--buffer-size {args.buffer_size} must be >= 1")
    if args.max_tokens < 1:
        parser.error(f"--max-tokens {args.max_tokens} must be >= 1")
    if args.max_source_tokens < 2:
        parser.error(f"--max-source-tokens {args.max_source_tokens} must be >= 2 (a token and the eos)")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here; use --device cpu")
    if args.precision == "int8" and torch.device(args.device).type != "cpu":
        parser.error(f"--precision int8 runs on the CPU only (--device is {args.device}); add --device cpu, or use "
                     "--precision fp32 or bf16 on a GPU")
    try:
        strategy = "sample" if args.sampling else "greedy" if args.greedy else "beam"
        search = SearchConfig(strategy=strategy, beam_size=args.beam_size,
                              alpha=args.alpha, max_len_a=args.max_len_a, max_len_b=args.max_len_b,
                              min_len=args.min_len, cuda_graphs=args.cuda_graphs, temperature=args.temperature,
                              top_k=args.top_k, top_p=args.top_p, seed=args.seed, samples=args.samples)
    except ValueError as error:  # named as the flags are: --top-p, not top_p
        parser.error(flag_names(str(error)))
    try:
        stream = sys.stdin.buffer if args.input == "-" else open(args.input, "rb")  # noqa: SIM115
        modules, _ = modules_from_checkpoints(args.checkpoints)
    except (CheckpointError, OSError) as error:  # says which file and why; a traceback would add nothing
        print(f"error: {error}", file=sys.stderr)
        return 2
    interactive = args.interactive or args.buffer_size is not None or (args.input == "-" and sys.stdin.isatty())
    if args.input == "-" and sys.stdin.isatty():
        print("Type a sentence and press Enter (Ctrl-D to end).", file=sys.stderr)
    translator = LineTranslator(modules[0], search, n_best=args.nbest, max_tokens=args.max_tokens, device=args.device,
                                precision=args.precision, max_source_tokens=args.max_source_tokens,
                                ensemble=ensemble_of(modules))
    n_rows = args.samples if args.sampling else args.nbest
    next_line = 1
    with stream:
        for chunk in chunked(read_lines(stream), (args.buffer_size or 1) if interactive else None):
            if not chunk:
                break
            results = translator.translate(chunk, next_line)
            output = format_results(results, first_line_number=next_line, n_best=n_rows, scores=args.scores)
            sys.stdout.write(output)
            sys.stdout.flush()
            next_line += len(chunk)
    if next_line == 1:
        where = "stdin" if args.input == "-" else args.input
        print(f"error: the input ({where}) is empty: there is nothing to translate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
