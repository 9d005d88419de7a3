"""Is a row's BLEU really different from the baseline's? sacreBLEU's paired bootstrap over dev sentences.

One run per row: exactly sacreBLEU's paired bootstrap test (`sacrebleu.significance.PairedTest` with
`test_type="bs"`, as `sacrebleu --paired-bs` runs it): the same resampled sentence indices (NumPy's
`default_rng(seed).choice(n, (n_samples, n))`), the same float32 statistics, the same p-value. Several seeds
per row: each sentence's BLEU statistics (n-gram matches and totals, lengths) are pooled over the row's
seeds (summed: the seed average times the number of seeds, kept in integers so that sacreBLEU's integer
lengths stay exact), and the test resamples sentences and pairs these pooled statistics; with one seed this
is the same computation. The BLEU of pooled statistics is exactly sacreBLEU's corpus BLEU of the row's
seeds' hypotheses concatenated into one corpus (references repeated); the delta is that of the pooled
seeds, which need not equal the difference of the mean BLEUs.

The 95% confidence interval of the delta comes from the same resamples: the 2.5th and 97.5th percentiles of
the paired differences (sacreBLEU's own index convention for its per-system interval).

deviation: for two systems with identical statistics every resampled difference is 0, and sacreBLEU's
formula ((c + 1) / (n + 1) with c counting |d*| - mean|d*| > |d|) returns 1 / (n + 1), "significant"; we
report p = 1 there (no difference at all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sacrebleu.metrics import BLEU

DEFAULT_SAMPLES = 1000  # sacreBLEU's default for --paired-bs
DEFAULT_SEED = 12345  # sacreBLEU's default (SACREBLEU_SEED)
ALPHA = 0.05  # rows with p < ALPHA are marked significant


@dataclass(frozen=True)
class PairedComparison:
    baseline_bleu: float  # BLEU of the baseline's (seed-pooled) statistics
    system_bleu: float
    delta: float  # system - baseline
    ci_low: float  # 95% interval of the delta over the resamples
    ci_high: float
    p_value: float
    n_sentences: int
    n_samples: int
    seed: int

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def seed_pooled_statistics(metric: BLEU, runs: Sequence[Sequence[str]], references: Sequence[str]) -> np.ndarray:
    """Per-sentence sufficient statistics (n, n_stats), summed over runs (each a list of n hypotheses)."""
    if not runs:
        raise ValueError("no hypotheses to compare")
    per_run = []
    for hypotheses in runs:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
        per_run.append(np.array(metric._extract_corpus_statistics(list(hypotheses), [list(references)]),
                                dtype=np.float64))
    return np.sum(per_run, axis=0)


def paired_bootstrap(baseline_runs: Sequence[Sequence[str]], system_runs: Sequence[Sequence[str]],
                     references: Sequence[str], n_samples: int = DEFAULT_SAMPLES,
                     seed: int = DEFAULT_SEED) -> PairedComparison:
    """The system's BLEU minus the baseline's, its 95% interval and sacreBLEU's paired-bootstrap p-value.

    `baseline_runs` and `system_runs`: one list of hypotheses per seed, in the references' order.
    """
    if n_samples < 40:
        raise ValueError(f"n_samples must be at least 40 for a 95% interval, got {n_samples}")
    metric = BLEU()
    baseline = seed_pooled_statistics(metric, baseline_runs, references)
    system = seed_pooled_statistics(metric, system_runs, references)
    n = len(references)
    baseline_bleu = metric._compute_score_from_stats(baseline.sum(0).tolist()).score
    system_bleu = metric._compute_score_from_stats(system.sum(0).tolist()).score
    delta = system_bleu - baseline_bleu

    # As sacreBLEU's _paired_bs_test: one index matrix, float32 statistics, scores recomputed per resample.
    rng = np.random.default_rng(seed)
    indices = rng.choice(n, size=(n_samples, n), replace=True)
    baseline32, system32 = baseline.astype("float32"), system.astype("float32")
    scores_baseline = np.array([metric._compute_score_from_stats(baseline32[i].sum(0)).score for i in indices])
    scores_system = np.array([metric._compute_score_from_stats(system32[i].sum(0)).score for i in indices])
    differences = scores_system - scores_baseline
    if np.array_equal(baseline, system):
        p_value = 1.0  # deviation (module docstring): identical systems
    else:
        absolute = np.abs(differences)
        p_value = (np.sum(absolute - absolute.mean() > abs(delta)).item() + 1) / (n_samples + 1)
    ordered = np.sort(differences)
    lower = n_samples // 40  # 2.5% from each side, as sacreBLEU's estimate_ci
    return PairedComparison(
        baseline_bleu=baseline_bleu, system_bleu=system_bleu, delta=delta,
        ci_low=float(ordered[lower]), ci_high=float(ordered[n_samples - lower - 1]),
        p_value=float(p_value), n_sentences=n, n_samples=n_samples, seed=seed,
    )
