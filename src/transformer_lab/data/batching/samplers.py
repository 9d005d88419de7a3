"""Token-bucket batch samplers: batches are counted in tokens, padding included.

Training (`TokenBucketBatchSampler`): examples sorted by (source length, target length) with random
tie-breaking, cut greedily into batches whose padded size `batch_size * max_len` stays within
`max_tokens` on both sides, then the batch order is shuffled from (seed, epoch). The batch *boundaries*
depend only on the sorted length sequence, which is the same for every tie-breaking, so the number of
batches is the same in every epoch while the examples sharing a batch still change between epochs.
Under DDP every rank builds the same global list and takes every `num_replicas`-th batch. So that all
ranks get the same count (ranks with different counts hang collectives, Lightning #20404), the last
`len % num_replicas` batches of the shuffled list are left out of that epoch: fewer than num_replicas
batches, at random positions that change every epoch, so no example is skipped systematically and the
ranks stay disjoint. (Only when there are fewer batches than ranks are batches repeated instead.)

Evaluation (`EvalBatchSampler`): longest first (out-of-memory shows at the first batch), every example in
exactly one batch on exactly one rank; no padding by repetition, which would bias corpus BLEU.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

log = logging.getLogger(__name__)


def batch_bounds(src_lengths: np.ndarray, tgt_lengths: np.ndarray, max_tokens: int) -> list[tuple[int, int]]:
    """Greedy [start, end) cuts of a length-sorted sequence so that every batch's padded size,
    (end - start) * max(length), is <= max_tokens on both sides. An example longer than max_tokens
    gets a batch of its own."""
    bounds: list[tuple[int, int]] = []
    start, max_src, max_tgt = 0, 0, 0
    src = src_lengths.tolist()
    tgt = tgt_lengths.tolist()
    for i in range(len(src)):
        new_src, new_tgt = max(max_src, src[i]), max(max_tgt, tgt[i])
        size = i - start + 1
        if size > 1 and (new_src * size > max_tokens or new_tgt * size > max_tokens):
            bounds.append((start, i))
            start, new_src, new_tgt = i, src[i], tgt[i]
        max_src, max_tgt = new_src, new_tgt
    if start < len(src):
        bounds.append((start, len(src)))
    return bounds


def _warn_oversized(src_lengths: np.ndarray, tgt_lengths: np.ndarray, max_tokens: int, what: str) -> None:
    oversized = int(((src_lengths > max_tokens) | (tgt_lengths > max_tokens)).sum())
    if oversized:
        log.warning("%d %s examples are longer than max_tokens=%d; each gets a batch of its own",
                    oversized, what, max_tokens)


class TokenBucketBatchSampler(Sampler[list[int]]):
    """Training batches of example indices; reshuffles itself every epoch and can resume mid-epoch.

    `__len__` is the number of batches this rank gets per epoch (the same in every epoch).
    The epoch advances after each full pass (or when a new pass starts before the previous one
    finished), and `set_epoch` can set it explicitly.
    """

    def __init__(self, lengths_src: np.ndarray, lengths_tgt: np.ndarray, max_tokens: int, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0, shuffle: bool = True) -> None:
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.src_lengths = np.asarray(lengths_src, dtype=np.int64)
        self.tgt_lengths = np.asarray(lengths_tgt, dtype=np.int64)
        self.max_tokens, self.seed, self.shuffle = max_tokens, seed, shuffle
        self.num_replicas, self.rank = num_replicas, rank
        _warn_oversized(self.src_lengths, self.tgt_lengths, max_tokens, "training")
        sorted_order = np.lexsort((self.tgt_lengths, self.src_lengths))
        self.bounds = batch_bounds(self.src_lengths[sorted_order], self.tgt_lengths[sorted_order], max_tokens)
        self.epoch = 0
        self._start = 0  # batches of `epoch` to skip on the next pass (resume)
        self._in_progress = False
        self._active_epoch = 0
        self._yielded = 0
        self._cached: tuple[int, list[np.ndarray]] | None = None

    def __len__(self) -> int:
        if not self.bounds:
            return 0
        return max(1, len(self.bounds) // self.num_replicas)

    def global_batches(self, epoch: int) -> list[np.ndarray]:
        """Every rank's batches of `epoch`, before sharding (identical on all ranks)."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle:
            order = np.lexsort((rng.random(len(self.src_lengths)), self.tgt_lengths, self.src_lengths))
        else:
            order = np.lexsort((self.tgt_lengths, self.src_lengths))
        batches = [order[start:end] for start, end in self.bounds]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def batches(self, epoch: int) -> list[np.ndarray]:
        """This rank's batches of `epoch`, in order."""
        if self._cached is None or self._cached[0] != epoch:
            batches = self.global_batches(epoch)
            total = len(self) * self.num_replicas
            kept = [batches[i % len(batches)] for i in range(total)] if batches else []  # drop (or repeat)
            self._cached = (epoch, kept[self.rank :: self.num_replicas])
        return self._cached[1]

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self._start = 0  # a pending resume position belongs to another epoch
        self.epoch = epoch
        self._in_progress = False

    def __iter__(self) -> Iterator[list[int]]:
        if self._in_progress:  # the previous pass was abandoned part-way: that epoch is over
            self.epoch, self._start = self._active_epoch + 1, 0
        epoch, start = self.epoch, self._start
        self._start, self._in_progress, self._active_epoch, self._yielded = 0, True, epoch, start
        for batch in self.batches(epoch)[start:]:
            self._yielded += 1
            yield batch.tolist()
        self._in_progress = False
        self.epoch = epoch + 1

    def state_dict(self) -> dict[str, int]:
        """{"epoch", "batches_consumed"}: where the next pass starts (counts batches yielded so far;
        with prefetching that is ahead of what training consumed, see TranslationDataModule.state_dict)."""
        if self._in_progress:
            return {"epoch": self._active_epoch, "batches_consumed": self._yielded}
        return {"epoch": self.epoch, "batches_consumed": self._start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """The next pass yields the remaining batches of state["epoch"], from state["batches_consumed"]."""
        epoch, consumed = int(state["epoch"]), int(state["batches_consumed"])
        if consumed >= len(self):
            epoch, consumed = epoch + 1, 0
        self.epoch, self._start, self._in_progress = epoch, consumed, False
        self._active_epoch = epoch

    @property
    def active_epoch(self) -> int:
        """The epoch of the pass running now (or of the last one started)."""
        return self._active_epoch


class EvalBatchSampler(Sampler[list[int]]):
    """Validation/test batches: length-sorted (longest first), each example exactly once across ranks.

    Batch i of the global list goes to rank i % num_replicas. If there are fewer batches than ranks
    (and at least as many examples), the largest batches are split so that every rank has work.
    """

    def __init__(self, lengths_src: np.ndarray, lengths_tgt: np.ndarray, max_tokens: int,
                 num_replicas: int = 1, rank: int = 0) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside 0..{num_replicas - 1}")
        src = np.asarray(lengths_src, dtype=np.int64)
        tgt = np.asarray(lengths_tgt, dtype=np.int64)
        _warn_oversized(src, tgt, max_tokens, "evaluation")
        order = np.lexsort((np.arange(len(src)), -tgt, -src))  # longest first, ties by position
        batches = [order[s:e] for s, e in batch_bounds(src[order], tgt[order], max_tokens)]
        while len(batches) < num_replicas and len(batches) < len(src):
            largest = max(range(len(batches)), key=lambda i: len(batches[i]))
            half = len(batches[largest]) // 2
            batches[largest : largest + 1] = [batches[largest][:half], batches[largest][half:]]
        self._batches = batches[rank::num_replicas]

    def __len__(self) -> int:
        return len(self._batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches:
            yield batch.tolist()
