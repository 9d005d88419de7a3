"""A uniform random sample of a stream whose length is not known in advance (for BPE training)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def reservoir_sample(items: Iterable[T], size: int, seed: int) -> list[T]:
    """`size` items drawn uniformly without replacement from `items`, in one pass holding only `size`
    items (Algorithm R, Vitter 1985). Fewer items than `size`: all of them, in order. Same seed, same
    stream -> same sample."""
    if size < 1:
        raise ValueError(f"sample size must be positive, got {size}")
    rng = random.Random(seed)
    sample: list[T] = []
    for index, item in enumerate(items):
        if index < size:
            sample.append(item)
        else:
            slot = rng.randrange(index + 1)  # item `index` enters with probability size / (index + 1)
            if slot < size:
                sample[slot] = item
    return sample
