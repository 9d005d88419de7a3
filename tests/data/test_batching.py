import numpy as np
import pytest

from transformer_lab.data import EvalBatchSampler, TokenBucketBatchSampler


def lengths(n: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    src = rng.integers(2, 60, size=n)
    return src, np.clip(src + rng.integers(-5, 6, size=n), 2, None)


def padded_sizes(batch: list[int], src: np.ndarray, tgt: np.ndarray) -> tuple[int, int]:
    return len(batch) * int(src[batch].max()), len(batch) * int(tgt[batch].max())


def test_batches_never_exceed_max_tokens_padding_included() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=1)
    for batch in sampler:
        assert max(padded_sizes(batch, src, tgt)) <= 300


def test_every_example_exactly_once_per_epoch() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=1)
    for _ in range(2):
        seen = [i for batch in sampler for i in batch]
        assert sorted(seen) == list(range(len(src)))


def test_oversized_example_gets_its_own_batch(caplog) -> None:
    src, tgt = np.array([5, 5, 500, 5]), np.array([5, 5, 5, 5])
    with caplog.at_level("WARNING"):
        batches = list(TokenBucketBatchSampler(src, tgt, max_tokens=100, seed=0))
    assert [2] in batches and sorted(i for b in batches for i in b) == [0, 1, 2, 3]
    assert "1 training examples are longer than max_tokens=100" in caplog.text


def test_two_ranks_equal_counts_disjoint_examples() -> None:
    src, tgt = lengths(1001)
    ranks = [TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for epoch in range(3):
        per_rank = [list(sampler) for sampler in ranks]
        assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0]) == len(ranks[1])
        seen = [set(i for b in batches for i in b) for batches in per_rank]
        assert not seen[0] & seen[1]
        total_batches = len(ranks[0].bounds)
        assert len(per_rank[0]) + len(per_rank[1]) >= total_batches - 1  # at most num_replicas-1 left out


def test_ranks_build_the_same_global_list() -> None:
    src, tgt = lengths()
    a = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=3, num_replicas=2, rank=0)
    b = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=3, num_replicas=2, rank=1)
    assert [x.tolist() for x in a.global_batches(4)] == [x.tolist() for x in b.global_batches(4)]


def test_epochs_differ_same_seed_and_epoch_repeat() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=7)
    epoch0, epoch1 = list(sampler), list(sampler)  # the sampler advances its own epoch
    assert epoch0 != epoch1 and sampler.epoch == 2
    again = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=7)
    assert list(again) == epoch0
    again.set_epoch(1)
    assert list(again) == epoch1
    other_seed = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=8)
    assert list(other_seed) != epoch0


def test_batch_count_is_the_same_every_epoch() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=7)
    assert {len(list(sampler)) for _ in range(4)} == {len(sampler)}


def test_resume_yields_exactly_the_remaining_batches() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=5)
    list(sampler)  # epoch 0 done
    full_epoch1 = list(TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=5).batches(1))
    iterator = iter(sampler)
    consumed = [next(iterator) for _ in range(7)]
    state = sampler.state_dict()
    assert state == {"epoch": 1, "batches_consumed": 7}
    resumed = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=5)
    resumed.load_state_dict(state)
    resumed.set_epoch(1)  # what Lightning does at the start of the epoch: must keep the resume position
    rest = list(resumed)
    assert [b.tolist() for b in full_epoch1] == consumed + rest
    assert len(resumed) == len(full_epoch1)  # __len__ is always the full epoch
    assert resumed.epoch == 2 and list(resumed) == [b.tolist() for b in resumed.batches(2)]


def test_abandoned_pass_still_advances_the_epoch() -> None:
    src, tgt = lengths()
    sampler = TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=5)
    first = next(iter(sampler))  # e.g. limit_train_batches stopped the epoch early
    second_pass = list(sampler)
    assert sampler.epoch == 2 and second_pass[0] != first


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_eval_covers_every_example_exactly_once(replicas: int) -> None:
    src, tgt = lengths(997)
    samplers = [EvalBatchSampler(src, tgt, max_tokens=400, num_replicas=replicas, rank=r) for r in range(replicas)]
    seen = [i for s in samplers for batch in s for i in batch]
    assert sorted(seen) == list(range(997))
    assert all(len(s) >= 1 for s in samplers)
    for s in samplers:
        for batch in s:
            assert max(padded_sizes(batch, src, tgt)) <= 400
    assert [list(s) for s in samplers] == [list(s) for s in samplers]  # deterministic


@pytest.mark.parametrize("replicas", [2, 3])
def test_eval_gives_every_rank_work_when_there_is_one_batch(replicas: int) -> None:
    src, tgt = np.full(3, 4), np.full(3, 4)
    samplers = [EvalBatchSampler(src, tgt, max_tokens=10_000, num_replicas=replicas, rank=r) for r in range(replicas)]
    assert all(len(s) >= 1 for s in samplers)
    assert sorted(i for s in samplers for b in s for i in b) == [0, 1, 2]


def test_fewer_batches_than_ranks_repeats_so_every_rank_gets_one() -> None:
    src, tgt = np.full(4, 10), np.full(4, 10)
    samplers = [TokenBucketBatchSampler(src, tgt, max_tokens=10_000, seed=0, num_replicas=3, rank=r) for r in range(3)]
    assert [len(list(s)) for s in samplers] == [1, 1, 1] == [len(s) for s in samplers]


def test_training_shards_leave_out_fewer_batches_than_ranks() -> None:
    src, tgt = lengths(1000)
    for replicas in (2, 3, 4):
        samplers = [TokenBucketBatchSampler(src, tgt, max_tokens=300, seed=0, num_replicas=replicas, rank=r)
                    for r in range(replicas)]
        used = sum(len(list(s)) for s in samplers)
        assert len(samplers[0].bounds) - replicas < used <= len(samplers[0].bounds)
