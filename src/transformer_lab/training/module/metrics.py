"""Corpus-level sacreBLEU and chrF from sufficient statistics summed across batches and DDP ranks.

Corpus BLEU is not the mean of per-batch or per-rank BLEU. Each update extracts sacreBLEU's
own per-sentence statistics (n-gram matches and totals, hypothesis and reference lengths; character and
word n-gram counts for chrF and chrF++), sums them into a torchmetrics state with `dist_reduce_fx="sum"`, and
`compute()` hands the summed statistics back to sacreBLEU, which computes the score once. The result is
therefore exactly `sacrebleu.corpus_bleu` over the union of every rank's sentences.

`paper_style_bleu` is the tokenized BLEU (as in the paper) of `tokenized_bleu.py`, under the name the
module and the records use.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.metrics.base import Metric as SacreMetric
from torchmetrics import Metric


class SacreStatsMetric(Metric):
    """A torchmetrics wrapper summing a sacreBLEU metric's sufficient statistics."""

    full_state_update = False

    def __init__(self, metric: SacreMetric, n_stats: int, **metric_kwargs) -> None:
        super().__init__()
        self.metric = metric
        self._metric_kwargs = metric_kwargs
        # float64 holds integer counts exactly far beyond any test set's size.
        self.add_state("stats", default=torch.zeros(n_stats, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, hypotheses: Sequence[str], references: Sequence[str]) -> None:
        if len(hypotheses) != len(references):
            raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
        if not hypotheses:
            return
        per_sentence = self.metric._extract_corpus_statistics(list(hypotheses), [list(references)])
        summed = torch.tensor(per_sentence, dtype=torch.float64).sum(dim=0)
        self.stats += summed.to(self.stats.device)

    def compute_score(self):
        """The sacreBLEU score object (BLEUScore / CHRFScore) of everything seen so far."""
        stats = [int(round(x)) for x in self.stats.tolist()]
        return self.metric._compute_score_from_stats(stats)

    def compute(self) -> torch.Tensor:
        return torch.tensor(self.compute_score().score, dtype=torch.float64)

    def signature(self) -> str:
        # sacreBLEU fills in the reference count when it first scores; score a throwaway copy for that.
        probe = type(self.metric)(**self._metric_kwargs)
        probe.corpus_score(["a"], [["a"]])
        return str(probe.get_signature())


class CorpusBLEU(SacreStatsMetric):
    """sacreBLEU corpus BLEU with its defaults (13a tokenization, exp smoothing, mixed case)."""

    def __init__(self, tokenize: str = "13a", lowercase: bool = False) -> None:
        bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
        super().__init__(bleu, n_stats=2 + 2 * bleu.max_ngram_order, tokenize=tokenize, lowercase=lowercase)


class CorpusChrF(SacreStatsMetric):
    """sacreBLEU chrF (character 6-grams, beta 2); `word_order=2` gives chrF++ (plus word uni- and bigrams)."""

    def __init__(self, word_order: int = 0) -> None:
        chrf = CHRF(word_order=word_order)
        super().__init__(chrf, n_stats=3 * (chrf.char_order + chrf.word_order), word_order=word_order)


def paper_style_bleu(hypotheses: Sequence[str], references: Sequence[str], tgt_lang: str = "de") -> float:
    """The tokenized BLEU (as in the paper) of `tokenized_bleu.py`: Moses tokenization, `##AT##` compound
    splitting for German, multi-bleu.perl's BLEU. For comparison with the paper's tables only; report
    sacreBLEU as the primary number. `tgt_lang` defaults to German, the language of the paper's Table 3."""
    from transformer_lab.training.module.tokenized_bleu import tokenized_bleu

    return tokenized_bleu(hypotheses, references, tgt_lang).score
