"""`python -m transformer_lab.import_model HF_DIR -o OUT.ckpt` (console script tlab-import): a Hugging Face
MarianMT directory (an OPUS-MT model, or our own export) as a checkpoint that `translate`, `evaluate`,
`export` and `init_from=` take (`export/import_hf.py`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tlab-import",
        description="Import a Hugging Face MarianMT model directory (config.json, weights, and source.spm + "
        "target.spm + vocab.json as OPUS-MT ships them, or the tokenizer.json of our export) as a transformer_lab "
        "checkpoint. Settings the lab cannot represent exactly are refused by name before anything is written.",
    )
    parser.add_argument("hf_dir", help="the MarianMT model directory")
    parser.add_argument("-o", "--output", required=True, help="the checkpoint to write (must not exist)")
    args = parser.parse_args(argv)

    from transformer_lab.export.import_hf import import_marian

    try:
        out = import_marian(args.hf_dir, args.output)
    except (ValueError, OSError, ImportError) as error:
        print(f"tlab-import: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
