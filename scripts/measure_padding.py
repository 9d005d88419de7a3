"""How many real (non-padding) tokens a token-bucket batch of `max_tokens` holds, per side.

`data.max_tokens` bounds each batch's *padded* size (batch size x longest sentence) on both sides; the
real tokens per batch are fewer, by the padding inside the batch and by the room left when the next
sentence would not fit. This runs the training sampler's own batching (`batch_bounds`, on the same
length-sorted order) over a length distribution and prints, for each max_tokens, the real tokens per
batch and per update (x devices x accumulation) on each side.

  python scripts/measure_padding.py                       # synthetic WMT14-like lengths (4.5M pairs)
  python scripts/measure_padding.py --builtin             # the built-in corpus (data=toy), after BPE
  python scripts/measure_padding.py --max-tokens 3072 4096 --batches-per-update 8

The synthetic distribution (`wmt_like_lengths`) is a stand-in, not WMT itself: source subwords log-normal
(median 22, sigma 0.65, mean ~27, the order of WMT14 EN-DE with a ~37k joint BPE), target/source ratio
log-normal (median 1.05, sigma 0.2), then the training filters (max_length 250, max_length_ratio 2.5).
With a prepared WMT14 cache, `--builtin` is replaced by `--data wmt14_en_de` to measure the real thing.
"""

from __future__ import annotations

import argparse

import numpy as np

from transformer_lab.data.batching.samplers import batch_bounds


def wmt_like_lengths(n_pairs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) lengths in subwords, eos/bos included, after the training filters."""
    rng = np.random.default_rng(seed)
    src = np.maximum(1, np.round(rng.lognormal(np.log(22.0), 0.65, n_pairs))).astype(np.int64)
    tgt = np.maximum(1, np.round(src * rng.lognormal(np.log(1.05), 0.2, n_pairs))).astype(np.int64)
    keep = (src <= 250) & (tgt <= 250) & (np.maximum(src, tgt) <= 2.5 * np.minimum(src, tgt))
    return src[keep] + 1, tgt[keep] + 1


def corpus_lengths(data: str) -> tuple[np.ndarray, np.ndarray]:
    """The training split's lengths as the datamodule sees them (prepares the data if needed)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from transformer_lab.train import CONFIG_DIR

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"data={data}"])
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    dataset = datamodule.dataset("train")
    return dataset.src_lengths, dataset.tgt_lengths


def batch_statistics(src: np.ndarray, tgt: np.ndarray, max_tokens: int) -> dict[str, float]:
    """Means over the batches the sampler cuts: real tokens per side, padded size per side, batch size."""
    order = np.lexsort((tgt, src))  # the sampler's order (its random tie-break does not move the cuts)
    src, tgt = src[order], tgt[order]
    bounds = batch_bounds(src, tgt, max_tokens)
    starts = np.array([b[0] for b in bounds])
    sizes = np.array([b[1] - b[0] for b in bounds])
    real_src, real_tgt = np.add.reduceat(src, starts), np.add.reduceat(tgt, starts)
    padded_src, padded_tgt = sizes * np.maximum.reduceat(src, starts), sizes * np.maximum.reduceat(tgt, starts)
    return {
        "batches": len(bounds),
        "sentences": float(sizes.mean()),
        "real_src": float(real_src.mean()),
        "real_tgt": float(real_tgt.mean()),
        "padding_src": 1.0 - real_src.sum() / padded_src.sum(),
        "padding_tgt": 1.0 - real_tgt.sum() / padded_tgt.sum(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--builtin", action="store_true", help="the built-in corpus (data=toy)")
    source.add_argument("--data", help="a data config of conf/data/, e.g. wmt14_en_de (prepared)")
    parser.add_argument("--pairs", type=int, default=4_500_000, help="synthetic pairs (WMT14 EN-DE: 4.5M)")
    parser.add_argument("--max-tokens", type=int, nargs="+", default=[2048, 3072, 3584, 4096, 8192])
    parser.add_argument("--batches-per-update", type=int, default=8, help="devices x accumulate_grad_batches")
    args = parser.parse_args()
    data = "toy" if args.builtin else args.data
    src, tgt = corpus_lengths(data) if data else wmt_like_lengths(args.pairs)
    print(f"{'synthetic WMT-like' if not data else data}: {len(src):,} pairs, mean length src {src.mean():.1f} "
          f"tgt {tgt.mean():.1f} (eos/bos included)")
    print(f"{'max_tokens':>10} {'sent/batch':>10} {'pad src':>8} {'pad tgt':>8} {'real src':>9} {'real tgt':>9} "
          f"{'per update (x' + str(args.batches_per_update) + ') src / tgt':>30}")
    for max_tokens in args.max_tokens:
        s = batch_statistics(src, tgt, max_tokens)
        n = args.batches_per_update
        print(f"{max_tokens:>10} {s['sentences']:>10.1f} {s['padding_src']:>8.1%} {s['padding_tgt']:>8.1%} "
              f"{s['real_src']:>9.0f} {s['real_tgt']:>9.0f} {s['real_src'] * n:>17,.0f} / {s['real_tgt'] * n:,.0f}")


if __name__ == "__main__":
    main()
