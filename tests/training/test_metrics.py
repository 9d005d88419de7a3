import pytest
import sacrebleu

from transformer_lab.training.module.metrics import CorpusBLEU, CorpusChrF, paper_style_bleu

HYPS = [
    "the cat sat on the mat",
    "a dog-like animal ran",
    "hello",
    "completely different words here",
    "Der schnelle braune Fuchs springt.",
]
REFS = [
    "the cat sat on a mat",
    "a dog-like animal ran away",
    "hello world",
    "nothing in common at all",
    "Der schnelle braune Fuchs sprang.",
]


def test_bleu_summed_over_batches_equals_sacrebleu_corpus_bleu():
    metric = CorpusBLEU()
    metric.update(HYPS[:2], REFS[:2])
    metric.update(HYPS[2:], REFS[2:])
    assert metric.compute().item() == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)


def test_bleu_is_not_the_mean_of_per_batch_bleu():
    # The guard against averaging: per-batch BLEU means differ from corpus BLEU on this data.
    per_batch = [sacrebleu.corpus_bleu(HYPS[:2], [REFS[:2]]).score, sacrebleu.corpus_bleu(HYPS[2:], [REFS[2:]]).score]
    assert sum(per_batch) / 2 != pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=0.1)


def test_rank_states_summed_equal_corpus_bleu():
    # What DDP's sum-reduction does: add the states of two "ranks" holding disjoint sentences.
    rank0, rank1 = CorpusBLEU(), CorpusBLEU()
    rank0.update(HYPS[0::2], REFS[0::2])
    rank1.update(HYPS[1::2], REFS[1::2])
    merged = CorpusBLEU()
    merged.stats = rank0.stats + rank1.stats
    assert merged.compute().item() == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score, abs=1e-9)


def test_chrf_equals_sacrebleu():
    metric = CorpusChrF()
    metric.update(HYPS[:3], REFS[:3])
    metric.update(HYPS[3:], REFS[3:])
    assert metric.compute().item() == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score, abs=1e-9)


def test_chrf_plus_plus_equals_sacrebleu_chrf_word_order_2():
    metric = CorpusChrF(word_order=2)
    metric.update(HYPS[:2], REFS[:2])
    metric.update(HYPS[2:], REFS[2:])
    expected = sacrebleu.metrics.CHRF(word_order=2).corpus_score(HYPS, [REFS]).score
    assert metric.compute().item() == pytest.approx(expected, abs=1e-9)
    assert expected != pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)  # word n-grams do count


def test_signature_names_tokenizer_and_version():
    signature = CorpusBLEU().signature()
    assert "tok:13a" in signature and "version:" in signature


def test_paper_style_bleu_is_higher_on_hyphenated_mismatch():
    hyps, refs = ["the state-of-the-art model"], ["the state-of-the-art system"]
    assert paper_style_bleu(hyps, refs) > sacrebleu.corpus_bleu(hyps, [refs]).score
