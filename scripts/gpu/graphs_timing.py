"""Where the time of a forced-length beam-4 search goes, with and without CUDA graphs (base shape):
python scripts/gpu/graphs_timing.py [--sentences 256] [--length 30] [--json out.json]

Per precision: the first cuda_graphs=True search (it captures), then the median of 5 searches of each path,
and a StaticDecoder step alone (graph replay) over the same shapes. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

from transformer_lab.benchmark.measure import timed
from transformer_lab.benchmark.workloads import Shape, autocast, make_batch
from transformer_lab.decoding import beam_search
from transformer_lab.decoding.static_decoding import release_static_decoders, static_decoder
from transformer_lab.decoding.static_search import static_beam_search
from transformer_lab.model import build_transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID


def seconds(fn, repeats: int = 5) -> float:
    """Median seconds of `repeats` calls, GPU work included."""
    return statistics.median(timed(fn, torch.device("cuda")) for _ in range(repeats))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sentences", type=int, default=256)
    p.add_argument("--length", type=int, default=30)
    p.add_argument("--json")
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    device = torch.device("cuda")
    torch.manual_seed(0)
    shape = Shape()
    model = build_transformer(shape.model_config()).to(device).eval()
    src = make_batch(args.sentences, 30, 2, shape.vocab, device, seed=1).src
    L, K, B = args.length, 4, args.sentences
    out = {}
    for precision in ("fp32", "bf16"):
        def search(graphs: bool) -> torch.Tensor:
            return beam_search(model, src, beam_size=K, max_len_a=0.0, max_len_b=L, min_len=L, cuda_graphs=graphs)

        with torch.no_grad(), autocast(device, precision):
            release_static_decoders(model)
            first = seconds(lambda: search(True), repeats=1)
            graphs = seconds(lambda: search(True))
            eager = seconds(lambda: search(False))
            graphed = search(True).tokens
            same = graphed.equal(search(False).tokens)  # float32: expected; bf16: near-ties may differ
            eager_static = static_beam_search(model, src, alpha=0.6, max_len_a=0.0, max_len_b=L, min_len=L,
                                              bos_id=BOS_ID, eos_id=EOS_ID, beam_size=K, n_best=1, capture=False)
            replay_is_exact = graphed.equal(eager_static.tokens)  # must hold in every precision
            decoder = static_decoder(model, sentences=B, rows_per_sentence=K, src_len=src.size(1), max_len=L,
                                     device=device, capture=True)
            tokens = torch.full((B * K, 1), 5, device=device)
            rows = torch.arange(B * K, device=device).flip(0)

            memory, src_mask = model.encode(src)

            def steps() -> None:
                decoder.start(memory, src_mask)
                for _ in range(L):
                    decoder.step(tokens, rows)

            replay = seconds(steps) / L
        r = {"first_search_s": first, "graphs_search_s": graphs, "eager_search_s": eager,
             "graphs_tok_per_s": B * L / graphs, "eager_tok_per_s": B * L / eager, "speedup": eager / graphs,
             "replay_step_ms": replay * 1e3, "graphs_search_per_step_ms": graphs / L * 1e3,
             "same_tokens_as_dynamic_search": bool(same), "graph_tokens_equal_eager_static": bool(replay_is_exact)}
        out[precision] = r
        print(precision, json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
