"""SearchConfig: how to decode (the `decoding.val` / `decoding.test` sections, `evaluate search=...`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SearchConfig:
    """How to decode: the paper's beam 4, alpha 0.6, max length = source length + 50 (§6.1)."""

    strategy: str = "beam"  # beam | greedy
    beam_size: int = 4
    alpha: float = 0.6  # GNMT length penalty exponent
    max_len_a: float = 1.0  # max output length = a * source length + b
    max_len_b: int = 50
    min_len: int = 0  # no output shorter than this many tokens, its eos included (0: no minimum, the paper's search)
    # on a GPU, replay each decoding step as a CUDA graph (decoding/static_search.py): the same tokens in
    # float32, several times faster where launches bound decoding; ignored on CPU, where the plain search
    # (finished sentences leave the batch) is faster
    cuda_graphs: bool = True

    def __post_init__(self) -> None:
        if self.strategy not in ("beam", "greedy"):
            raise ValueError(f"decoding strategy must be 'beam' or 'greedy', got {self.strategy!r}")
        if self.beam_size < 1:
            raise ValueError(f"decoding beam_size must be >= 1, got {self.beam_size}")
        if self.alpha < 0 or self.max_len_a < 0 or self.max_len_b < 0 or self.min_len < 0:
            raise ValueError(f"decoding alpha, max_len_a, max_len_b and min_len must be >= 0, got {self.alpha}, "
                             f"{self.max_len_a}, {self.max_len_b}, {self.min_len}")
