"""The paired bootstrap against sacreBLEU's own test and an independent pooled-corpus computation."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sacrebleu
from sacrebleu.metrics import BLEU
from sacrebleu.significance import PairedTest

from transformer_lab.report.significance import paired_bootstrap

WORDS = "the a old young man woman dog cat sees finds likes house garden book small big red green quickly".split()


def references(n: int = 120, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 12))) + " ." for _ in range(n)]


def corrupt(sentences: list[str], rate: float, seed: int) -> list[str]:
    """Each word replaced by a random one with probability `rate`."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) if rng.random() < rate else w for w in s.split()) for s in sentences]


REFS = references()
GOOD = corrupt(REFS, 0.1, seed=1)
BAD = corrupt(REFS, 0.5, seed=2)


def sacrebleu_paired_bs(baseline, system, refs, n_samples, seed, monkeypatch):
    monkeypatch.setenv("SACREBLEU_SEED", str(seed))
    _, scores = PairedTest([("baseline", baseline), ("system", system)], {"BLEU": BLEU()}, [refs],
                           test_type="bs", n_samples=n_samples)()
    return scores["BLEU"][1]


@pytest.mark.parametrize("system", [GOOD, corrupt(REFS, 0.45, seed=3)], ids=["clearly-better", "close"])
def test_one_seed_equals_sacrebleus_paired_bootstrap(system, monkeypatch):
    ours = paired_bootstrap([BAD], [system], REFS, n_samples=1000, seed=777)
    theirs = sacrebleu_paired_bs(BAD, system, REFS, 1000, 777, monkeypatch)
    assert ours.p_value == theirs.p_value
    assert ours.system_bleu == theirs.score
    assert ours.baseline_bleu == sacrebleu.corpus_bleu(BAD, [REFS]).score
    assert (ours.n_samples, ours.seed, ours.n_sentences) == (1000, 777, len(REFS))


def test_several_seeds_pool_statistics_like_one_concatenated_corpus():
    """Independent computation: for every resample, sacreBLEU's corpus BLEU of the seeds' resampled
    hypotheses concatenated (references repeated), then sacreBLEU's p-value formula and the percentiles."""
    baseline_runs = [corrupt(REFS, 0.3, seed=s) for s in (10, 11)]
    system_runs = [corrupt(REFS, 0.25, seed=s) for s in (20, 21, 22)]
    n_samples, seed = 80, 5
    ours = paired_bootstrap(baseline_runs, system_runs, REFS, n_samples=n_samples, seed=seed)

    def pooled_bleu(runs, idx):
        hyps = [run[i] for run in runs for i in idx]
        return sacrebleu.corpus_bleu(hyps, [[REFS[i] for _ in runs for i in idx]]).score

    everything = range(len(REFS))
    delta = pooled_bleu(system_runs, everything) - pooled_bleu(baseline_runs, everything)
    indices = np.random.default_rng(seed).choice(len(REFS), size=(n_samples, len(REFS)), replace=True)
    diffs = np.array([pooled_bleu(system_runs, idx) - pooled_bleu(baseline_runs, idx) for idx in indices])
    absolute = np.abs(diffs)
    p_value = (np.sum(absolute - absolute.mean() > abs(delta)) + 1) / (n_samples + 1)
    assert ours.delta == pytest.approx(delta, abs=1e-9)
    assert ours.p_value == pytest.approx(p_value)
    assert ours.ci_low == pytest.approx(np.sort(diffs)[n_samples // 40], abs=1e-4)  # float32 resample sums
    assert ours.ci_high == pytest.approx(np.sort(diffs)[n_samples - n_samples // 40 - 1], abs=1e-4)


def test_a_clearly_better_system_is_significant():
    result = paired_bootstrap([BAD], [GOOD], REFS)
    assert result.delta > 20 and result.significant and result.p_value < 0.01
    assert 0 < result.ci_low < result.delta < result.ci_high


def test_identical_systems_are_not_significant():
    result = paired_bootstrap([GOOD, BAD], [list(GOOD), list(BAD)], REFS)
    assert result.delta == 0 and result.p_value == 1.0 and not result.significant
    assert result.ci_low == result.ci_high == 0


def test_hypotheses_not_aligned_with_references_are_refused():
    with pytest.raises(ValueError, match="119 hypotheses for 120 references"):
        paired_bootstrap([GOOD], [BAD[:-1]], REFS)
