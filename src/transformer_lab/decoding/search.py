"""Decoding: greedy search and batched beam search with the GNMT length penalty (§6.1) -- the public entry
points (search, greedy_search, beam_search) and the conventions both searches share.

Shapes: B batch, K beam size, S source length, L maximum output length, V vocabulary.

Conventions shared by both searches:
  - output tokens (B, L'): bos stripped, eos kept, then pad_id up to the longest output in the batch;
  - |Y| counts the generated tokens including eos; score = sum log p(y) / ((5 + |Y|) / 6) ** alpha;
  - per-sentence maximum output length = floor(max_len_a * src_len + max_len_b), src_len = non-pad source
    tokens (including the source eos); at that length eos is forced;
  - pad and bos are never generated; eos is not generated before `min_len` tokens (0 = no minimum; the
    benchmark sets min_len = max length to force every output to one length, like `min_new_tokens`);
  - log-probabilities are accumulated in float32 whatever the autocast dtype.
Both run the decoder incrementally (one token per step, DecoderCache preallocated for the longest output),
vectorized over batch x beam; beam search keeps one memory row per sentence (its K beams are adjacent rows).
Both take the same keyword-only settings in the same order (`alpha, max_len_a, max_len_b, min_len, bos_id,
eos_id, cuda_graphs`; beam search adds `beam_size, n_best`). Each path runs the one loop of its search
(greedy.py, beams.py) with its BatchPolicy (batch_policy.py): DynamicBatch here, StaticBatch for cuda_graphs.
A sentence leaves the batch once it is done: later steps decode only the sentences still going (their
memory and cache rows are selected), so a batch costs what its sentences need rather than B times the
longest. Outputs are identical to decoding every row to the end (tests/benchmark/test_benchmark_paths.py).
Call `model.eval()` first; the searches do not change the model's mode. An Ensemble (ensemble.py) of
several models of one vocabulary decodes like one model, on the dynamic path; strategy `sample`
(sampling.py) runs the greedy loop with a sampled choice of each next token.
`cuda_graphs=True` (both searches) decodes over fixed shapes instead (static_search.py): every step is one
replay of a CUDA graph of the decoder step on a GPU (the same step runs eagerly on CPU, where the tests
compare it with this path); sentences stay in the batch once done, and the outputs are the same (token for
token in float32; for bf16 on a GPU see static_search.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from transformer_lab.decoding.beams import beam_loop
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.dynamic_batch import DynamicBatch
from transformer_lab.decoding.ensemble import Ensemble
from transformer_lab.decoding.greedy import greedy_loop
from transformer_lab.decoding.hypotheses import SearchOutput, length_penalty
from transformer_lab.decoding.sampling import sample_search
from transformer_lab.decoding.static_search import (
    static_beam_search,
    static_greedy_search,
)
from transformer_lab.model.transformer import Transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID

__all__ = ["SearchOutput", "beam_search", "greedy_search", "length_penalty", "search"]


def search(model: Transformer | Ensemble, src: Tensor, config: SearchConfig, *, n_best: int = 1) -> SearchOutput:
    """src (B, S) -> the search `config` describes: greedy (strategy greedy, or a beam of 1), beam search or
    sampling (strategy sample, `config.samples` per sentence: sampling.py), over fixed shapes with CUDA graphs
    where `config.cuda_graphs` and the model is on a GPU (on CPU the dynamic search, where finished sentences
    leave the batch, is faster). `model` may be an Ensemble (ensemble.py). n_best > 1 needs beam search."""
    # sampling takes the dynamic path, on a GPU too (the fixed-shape path is not written for it)
    fixed_shapes = config.cuda_graphs and src.device.type == "cuda"
    common = {"alpha": config.alpha, "max_len_a": config.max_len_a, "max_len_b": config.max_len_b,
              "min_len": config.min_len}
    if config.strategy == "sample":
        if n_best > 1:
            raise ValueError(f"n_best={n_best} is for beam search; sampling draws `samples` translations per "
                             f"sentence (now {config.samples}; translate --samples N, evaluate search.samples)")
        return sample_search(model, src, samples=config.samples, temperature=config.temperature,
                             top_k=config.top_k, top_p=config.top_p, seed=config.seed, bos_id=BOS_ID,
                             eos_id=EOS_ID, **common)
    if config.strategy == "greedy" or config.beam_size == 1:
        if n_best > 1:
            raise ValueError(f"n_best={n_best} needs beam search with beam_size >= {n_best}")
        return greedy_search(model, src, cuda_graphs=fixed_shapes, **common)
    return beam_search(model, src, beam_size=config.beam_size, n_best=n_best, cuda_graphs=fixed_shapes, **common)


@torch.no_grad()
def greedy_search(
    model: Transformer | Ensemble,
    src: Tensor,
    *,
    alpha: float = 0.6,
    max_len_a: float = 1.0,
    max_len_b: int = 50,
    min_len: int = 0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    cuda_graphs: bool = False,
) -> SearchOutput:
    """src (B, S) -> the argmax continuation of every sentence (alpha only scales the reported scores)."""
    if cuda_graphs and not isinstance(model, Ensemble):  # the graph captures one Transformer: ensembles run dynamic
        return static_greedy_search(model, src, alpha=alpha, max_len_a=max_len_a, max_len_b=max_len_b,
                                    min_len=min_len, bos_id=bos_id, eos_id=eos_id)
    policy = DynamicBatch(model, src, rows_per_sentence=1, max_len_a=max_len_a, max_len_b=max_len_b,
                          min_len=min_len, bos_id=bos_id, eos_id=eos_id)
    return greedy_loop(policy, alpha=alpha, eos_id=eos_id)


@torch.no_grad()
def beam_search(
    model: Transformer | Ensemble,
    src: Tensor,
    *,
    alpha: float = 0.6,
    max_len_a: float = 1.0,
    max_len_b: int = 50,
    min_len: int = 0,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
    cuda_graphs: bool = False,
    beam_size: int = 4,
    n_best: int = 1,
) -> SearchOutput:
    """src (B, S) -> the best finished hypothesis per sentence (fairseq-style beam search), and with
    n_best = N > 1 also the N best finished hypotheses, best first (N <= beam_size).

    Each step ranks the K*V extensions of the K alive beams by cumulative log-probability and takes the top
    2K. Extensions ending in eos that rank within the top K are finished hypotheses, scored with the length
    penalty; the best K extensions not ending in eos stay alive. A sentence is done once it has K finished
    hypotheses (or reaches its maximum length), and leaves the batch; the search stops when every sentence
    is done.
    deviation: tensor2tensor (the paper's code) keeps searching until no alive beam can still beat the best
    finished one; the rule here (fairseq's) stops a sentence earlier, at K finished hypotheses.
    The N best are, as in fairseq, the best N of the first K hypotheses finished during the search (taken in
    step order, and by rank within a step).
    cuda_graphs: decode over fixed shapes, one CUDA graph replay per step on a GPU (module docstring).
    """
    if beam_size < 1:
        raise ValueError(f"beam_size={beam_size} must be >= 1")
    if not 1 <= n_best <= beam_size:
        raise ValueError(f"n_best={n_best} must be between 1 and beam_size={beam_size}")
    if cuda_graphs and not isinstance(model, Ensemble):  # the graph captures one Transformer: ensembles run dynamic
        return static_beam_search(model, src, alpha=alpha, max_len_a=max_len_a, max_len_b=max_len_b, min_len=min_len,
                                  bos_id=bos_id, eos_id=eos_id, beam_size=beam_size, n_best=n_best)
    policy = DynamicBatch(model, src, rows_per_sentence=beam_size, max_len_a=max_len_a, max_len_b=max_len_b,
                          min_len=min_len, bos_id=bos_id, eos_id=eos_id)
    return beam_loop(policy, beam_size=beam_size, n_best=n_best, alpha=alpha, eos_id=eos_id)
