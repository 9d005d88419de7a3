"""Decoding a trained Transformer (or an ensemble of them): greedy and beam search, dynamic or over fixed shapes
(CUDA graphs), and sampling.

    out = search(model.eval(), src, SearchConfig(beam_size=4, alpha=0.6))   # out.tokens (B, L), out.scores (B,)

    config           SearchConfig: strategy, beam size, length penalty, length limits, cuda_graphs, sampling
    search           search(), greedy_search(), beam_search(): the public entry points, the one place that picks
                     greedy or beam and dynamic or CUDA-graph; the conventions both searches share
    greedy           greedy_loop: the one greedy loop, over a BatchPolicy
    beams            BeamBuffers (alive beams, best and n-best results) and beam_loop: the one beam loop
    batch_policy     BatchPolicy: the hook where the two paths differ (which sentences a step decodes, how its
                     results reach the batch's, when to stop, the next step's rows); limits both set up
    dynamic_batch    DynamicBatch: finished sentences leave the batch (memory, cache and beam rows selected)
    static_search    StaticBatch: fixed shapes, finished sentences stay, masked; DoneWatch; static_greedy_search,
                     static_beam_search
    limits           max_output_lengths, TokenRules: the limits every search applies
    ensemble         Ensemble: models of one vocabulary decoded as one (log of the mean probability)
    sampling         sample_search, Sampler, sampling_distribution: temperature, top-k, top-p, seeded per sentence
    hypotheses       SearchOutput, length_penalty, the ranking of a beam step, n-best bookkeeping (both paths)
    static_decoding  StaticDecoder: one decoder step over fixed shapes, captured as a CUDA graph on a GPU
    static_cache     StaticDecoderCache: fixed-capacity key/value buffers for the static decoder
"""

from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.ensemble import Ensemble
from transformer_lab.decoding.hypotheses import SearchOutput, length_penalty
from transformer_lab.decoding.sampling import sample_search
from transformer_lab.decoding.search import beam_search, greedy_search, search

__all__ = ["Ensemble", "SearchConfig", "SearchOutput", "beam_search", "greedy_search", "length_penalty",
           "sample_search", "search"]
