"""`python -m transformer_lab.export CKPT --to hf|ct2 OUT_DIR [--quantization Q]` (console script tlab-export)."""

from __future__ import annotations

import argparse
import sys

from transformer_lab.export.compatibility import EXPORTABLE
from transformer_lab.export.ct2 import QUANTIZATIONS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tlab-export",
        description="Export a transformer_lab checkpoint as a Hugging Face MarianMT directory (--to hf) or a "
        f"CTranslate2 model (--to ct2). {EXPORTABLE[0].upper()}{EXPORTABLE[1:]}.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by transformer_lab.train or average_checkpoints")
    parser.add_argument("--to", choices=("hf", "ct2"), required=True, dest="target", help="export format")
    parser.add_argument("out_dir", help="output directory (must not exist, or be empty)")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default=None,
                        help="CTranslate2 weight type (--to ct2 only; default float32)")
    args = parser.parse_args(argv)
    if args.quantization and args.target != "ct2":
        parser.error("--quantization applies to --to ct2 only")

    from transformer_lab.export.ct2 import export_ct2
    from transformer_lab.export.hf import export_hf
    from transformer_lab.inference.loading import module_from_checkpoint

    try:
        module, _ = module_from_checkpoint(args.checkpoint)
        if args.target == "hf":
            out = export_hf(module, args.out_dir)
        else:
            out = export_ct2(module, args.out_dir, args.quantization)
    except (ValueError, OSError, ImportError) as error:
        print(f"tlab-export: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
