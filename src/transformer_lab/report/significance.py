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
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU

from transformer_lab.report.rows import ReportRow

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


# ------------------------------------------------------------------------------------ rows of a sweep
def hypotheses_file(run_dir: Path, split: str) -> Path | None:
    """The hypotheses of the run's last evaluation on `split`: the last `valid_step*.hyp.txt` (the dev
    numbers of the report are the last evaluation), or `test.hyp.txt`."""
    translations = Path(run_dir) / "translations"
    if split == "test":
        path = translations / "test.hyp.txt"
        return path if path.is_file() else None
    files = sorted(translations.glob("valid_step*.hyp.txt"))  # zero-padded steps: name order is step order
    return files[-1] if files else None


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")[:-1]  # one line per sentence, each ending in \n


def compare_to_baseline(rows: list[ReportRow], baseline: ReportRow, split: str = "valid",
                        n_samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED
                        ) -> dict[str, PairedComparison | str]:
    """For every row but the baseline: its paired comparison with the baseline over the completed seeds'
    hypothesis files, or the reason there is none (no completed seed, missing files, other references)."""
    def load(row: ReportRow) -> tuple[list[list[str]], list[str]] | str:
        if not row.completed:
            return "no completed seed"
        runs, references = [], None
        for run in row.completed:
            run_dir = Path(run.source)
            if not run_dir.is_dir():
                return "the test reads hypothesis files from local run directories (report SWEEP_DIR)"
            hypotheses = hypotheses_file(run_dir, split)
            reference_file = run_dir / "translations" / f"{split}.ref.txt"
            if hypotheses is None or not reference_file.is_file():
                return f"no {split} hypotheses/references in {run_dir}/translations"
            refs = read_lines(reference_file)
            if references is not None and refs != references:
                return f"seeds were scored on different {split} references"
            runs.append(read_lines(hypotheses))
            references = refs
        return runs, references

    results: dict[str, PairedComparison | str] = {}
    loaded_baseline = load(baseline)
    for row in rows:
        if row is baseline:
            continue
        loaded = load(row)
        if isinstance(loaded_baseline, str):
            results[row.label] = f"baseline {baseline.label}: {loaded_baseline}"
        elif isinstance(loaded, str):
            results[row.label] = loaded
        elif loaded[1] != loaded_baseline[1]:
            results[row.label] = f"scored on other {split} references than the baseline"
        else:
            results[row.label] = paired_bootstrap(loaded_baseline[0], loaded[0], loaded[1], n_samples, seed)
    return results
