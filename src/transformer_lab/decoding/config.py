"""SearchConfig: how to decode (the `decoding.val` / `decoding.test` sections, `evaluate search=...`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchConfig:
    """How to decode: the paper's beam 4, alpha 0.6, max length = source length + 50 (§6.1)."""

    strategy: str = "beam"  # beam | greedy | sample (sampling.py: for back-translation, Edunov et al. 2018)
    beam_size: int = 4
    alpha: float = 0.6  # GNMT length penalty exponent
    max_len_a: float = 1.0  # max output length = a * source length + b
    max_len_b: int = 50
    min_len: int = 0  # no output shorter than this many tokens, its eos included (0: no minimum, the paper's search)
    # on a GPU, replay each decoding step as a CUDA graph (decoding/static_search.py): the same tokens in
    # float32, several times faster where launches bound decoding; ignored on CPU, where the plain search
    # (finished sentences leave the batch) is faster
    cuda_graphs: bool = True
    # strategy sample only: each next token drawn from softmax(log p / temperature), cut to the top_k most
    # probable tokens (0: no cut) and then to the smallest set holding top_p of the probability (1: no cut);
    # `samples` draws per sentence; `seed` fixes the draws (sampling.py: the same whatever the batch)
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0
    samples: int = 1

    def __post_init__(self) -> None:
        if self.strategy not in ("beam", "greedy", "sample"):
            raise ValueError(f"decoding strategy must be 'beam', 'greedy' or 'sample', got {self.strategy!r}")
        if not self.temperature > 0:  # also refuses NaN
            raise ValueError(f"decoding temperature must be > 0 (1: the model's distribution), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"decoding top_p must be in (0, 1] (1: no nucleus cut), got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"decoding top_k must be >= 0 (0: no top-k cut), got {self.top_k}")
        if self.samples < 1:
            raise ValueError(f"decoding samples must be >= 1, got {self.samples}")
        if self.strategy != "sample":
            changed = [f"{name}={getattr(self, name)}" for name, default in SAMPLING_DEFAULTS.items()
                       if getattr(self, name) != default]
            if changed:
                raise ValueError(f"decoding {', '.join(changed)} only apply to strategy 'sample', not "
                                 f"{self.strategy!r}; set the strategy to sample (translate --sampling) or drop them")
        if self.beam_size < 1:
            raise ValueError(f"decoding beam_size must be >= 1, got {self.beam_size}")
        if self.alpha < 0 or self.max_len_a < 0 or self.max_len_b < 0 or self.min_len < 0:
            raise ValueError(f"decoding alpha, max_len_a, max_len_b and min_len must be >= 0, got {self.alpha}, "
                             f"{self.max_len_a}, {self.max_len_b}, {self.min_len}")


# the sampling settings that only strategy sample may change (seed is harmless elsewhere)
SAMPLING_DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "samples": 1}
