"""`python -m transformer_lab.benchmark.bf16_bleu CKPT`: does bf16 decoding translate like fp32?

Decodes a split of the checkpoint's own corpus with beam search twice, in fp32 and under bf16 autocast, in
the same process, and reports both sacreBLEU scores, their difference (the issue's bar: within 0.3) and
how many hypotheses are identical, plus the decoding time of each.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from transformer_lab.data.batching.encoding import length_sorted_batches


def translate(model, tokenizer, batches, search, precision: str) -> tuple[list[str], float]:
    from transformer_lab.decoding import beam_search

    out: dict[int, str] = {}
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        for chunk, src in batches:
            tokens = beam_search(model, src, beam_size=search.beam_size, alpha=search.alpha,
                                 max_len_a=search.max_len_a, max_len_b=search.max_len_b).tokens.tolist()
            out.update({i: tokenizer.decode(t) for i, t in zip(chunk, tokens)})
    return [out[i] for i in range(len(out))], time.perf_counter() - start


def run(checkpoint: str, split: str, sentences: int, limit: int | None) -> dict[str, Any]:
    import sacrebleu

    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.loading import module_from_checkpoint

    module, ckpt = module_from_checkpoint(checkpoint)
    if module.data_config is None:
        raise SystemExit(f"{checkpoint} carries no data settings; it was not written by transformer_lab.train")
    datamodule = TranslationDataModule(**module.data_config)
    datamodule.prepare_data()
    tokenizer = module.tokenizer
    sources, references = datamodule.split_texts(split)
    if limit:
        sources, references = sources[:limit], references[:limit]
    batches = length_sorted_batches(tokenizer, sources, sentences)
    search = module.decoding_config.test
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "split": split, "sentences": len(sources),
                              "beam": search.beam_size, "global_step": ckpt.get("global_step")}
    hyps = {}
    for precision in ("fp32", "bf16"):
        hyps[precision], seconds = translate(module.model.eval(), tokenizer, batches, search, precision)
        result[precision] = {"bleu": sacrebleu.corpus_bleu(hyps[precision], [references]).score, "seconds": seconds}
    result["bleu_difference"] = result["bf16"]["bleu"] - result["fp32"]["bleu"]
    result["identical_hypotheses"] = sum(a == b for a, b in zip(hyps["fp32"], hyps["bf16"])) / len(sources)
    result["within_0.3"] = abs(result["bleu_difference"]) <= 0.3
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m transformer_lab.benchmark.bf16_bleu", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--split", default="test", choices=["valid", "test"])
    p.add_argument("--sentences", type=int, default=64, help="sentences per decoding batch")
    p.add_argument("--limit", type=int, help="only the first N sentences of the split")
    p.add_argument("--threads", type=int)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args.checkpoint, args.split, args.sentences, args.limit)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
