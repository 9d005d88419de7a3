"""Greedy and beam search: beam 1 = greedy, a wide beam = exhaustive search, batching, length limits."""

import inspect
import itertools

import pytest
import torch

from model_helpers import source_batch, tiny_model
from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.model import Transformer, build_transformer
from transformer_lab.decoding.search import length_penalty
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID


def peaky_model(seed: int, vocab_size: int = 6) -> Transformer:
    """Random tiny model with a sharpened output distribution, so searches have real choices to make."""
    torch.manual_seed(seed)
    model = build_transformer(
        dict(vocab_size=vocab_size, n_layers=1, d_model=16, d_ff=32, n_heads=2, dropout=0.0, weight_sharing="none")
    ).eval()
    with torch.no_grad():
        model.generator.weight.mul_(4.0)
    return model


def exhaustive_best(model: Transformer, src_row: torch.Tensor, max_len: int, alpha: float) -> tuple[float, list[int]]:
    """The best hypothesis w + [eos], |w| < max_len, over the words (unk included; never pad/bos)."""
    return exhaustive_ranking(model, src_row, max_len, alpha)[0]


def exhaustive_ranking(
    model: Transformer, src_row: torch.Tensor, max_len: int, alpha: float
) -> list[tuple[float, list[int]]]:
    """Score every hypothesis w + [eos], |w| < max_len, over the words (unk included; never pad/bos); best first."""
    words = [w for w in range(model.generator.out_features) if w not in (PAD_ID, BOS_ID, EOS_ID)]
    hyps = [list(w) + [EOS_ID] for n in range(max_len) for w in itertools.product(words, repeat=n)]
    tgt_in = torch.full((len(hyps), max_len), PAD_ID)
    for i, y in enumerate(hyps):
        tgt_in[i, : len(y)] = torch.tensor([BOS_ID] + y[:-1])
    with torch.no_grad():
        logp = model(src_row.expand(len(hyps), -1), tgt_in).float().log_softmax(-1)  # (N, L, V)
    scores = []
    for i, y in enumerate(hyps):
        total = logp[i, torch.arange(len(y)), torch.tensor(y)].sum()
        scores.append(float(total / length_penalty(len(y), alpha)))
    return sorted(zip(scores, hyps), key=lambda pair: -pair[0])


def strip(row: torch.Tensor) -> list[int]:
    return [t for t in row.tolist() if t != PAD_ID]


@pytest.mark.parametrize("norm,scheme", [("post", "sinusoidal"), ("pre", "rope"), ("post", "alibi")])
def test_beam_size_one_equals_greedy(norm, scheme):
    model = tiny_model(norm, scheme)
    with torch.no_grad():
        model.generator.weight.mul_(3.0)  # tied: also sharpens the embeddings; fine for this property
    src = source_batch([6, 2, 4, 5], seed=7)
    greedy = greedy_search(model, src, max_len_b=8)
    beam = beam_search(model, src, beam_size=1, max_len_b=8)
    assert [strip(r) for r in beam.tokens] == [strip(r) for r in greedy.tokens]
    torch.testing.assert_close(beam.scores, greedy.scores)


def test_beam_size_one_equals_greedy_when_eos_is_often_runner_up():
    """Tiny vocabulary: eos is often the second-best token, where a beam of 1 must not stop (as greedy)."""
    src = torch.tensor([[4, 5, EOS_ID, PAD_ID, PAD_ID], [5, 3, 4, 4, EOS_ID], [3, EOS_ID, PAD_ID, PAD_ID, PAD_ID]])
    for seed in range(8):
        model = peaky_model(seed)
        greedy = greedy_search(model, src, max_len_b=3)
        beam = beam_search(model, src, beam_size=1, max_len_b=3)
        assert [strip(r) for r in beam.tokens] == [strip(r) for r in greedy.tokens]
        torch.testing.assert_close(beam.scores, greedy.scores)


def test_wide_beam_finds_exhaustive_best():
    alpha, nontrivial = 0.6, 0
    src = torch.tensor([[4, 5, EOS_ID, PAD_ID], [5, 3, 4, EOS_ID]])  # max output lengths 3 and 4 (a=1, b=0)
    for seed in range(6):
        model = peaky_model(seed)
        beam = beam_search(model, src, beam_size=40, alpha=alpha, max_len_a=1.0, max_len_b=0)  # 40 = all hyps
        greedy = greedy_search(model, src, alpha=alpha, max_len_a=1.0, max_len_b=0)
        for b, max_len in enumerate([3, 4]):
            score, hyp = exhaustive_best(model, src[b], max_len, alpha)
            assert strip(beam.tokens[b]) == hyp
            assert beam.scores[b].item() == pytest.approx(score, abs=1e-4)
            nontrivial += strip(greedy.tokens[b]) != hyp
    assert nontrivial > 0  # some cases where greedy is not optimal, so the test can tell beam from greedy


@pytest.mark.parametrize("n_best", [2, 5])
def test_wide_beam_n_best_equals_exhaustive_n_best(n_best):
    alpha = 0.6
    src = torch.tensor([[4, 5, EOS_ID, PAD_ID], [5, 3, 4, EOS_ID]])  # max output lengths 3 and 4 (a=1, b=0)
    for seed in range(6):
        model = peaky_model(seed)
        out = beam_search(model, src, beam_size=40, alpha=alpha, max_len_a=1.0, max_len_b=0, n_best=n_best)
        assert out.nbest_tokens.shape[:2] == (2, n_best) and out.nbest_scores.shape == (2, n_best)
        for b, max_len in enumerate([3, 4]):
            ranking = exhaustive_ranking(model, src[b], max_len, alpha)[:n_best]
            assert [strip(row) for row in out.nbest_tokens[b]] == [hyp for _, hyp in ranking]
            assert out.nbest_scores[b].tolist() == pytest.approx([score for score, _ in ranking], abs=1e-4)
            assert strip(out.tokens[b]) == ranking[0][1]  # the 1-best is rank 0


def test_n_best_keeps_the_first_k_finished_and_leaves_the_1_best_unchanged():
    """A narrow beam: the N best are distinct, descending, rescore to their scores, and rank 0 is the 1-best."""
    model = tiny_model("post", "sinusoidal")
    with torch.no_grad():
        model.generator.weight.mul_(3.0)
    src = source_batch([6, 2, 4, 5], seed=7)
    one = beam_search(model, src, beam_size=4, max_len_b=8)
    four = beam_search(model, src, beam_size=4, max_len_b=8, n_best=4)
    assert one.nbest_tokens is None and one.nbest_scores is None
    torch.testing.assert_close(four.scores, one.scores)
    assert [strip(r) for r in four.tokens] == [strip(r) for r in one.tokens]
    for b in range(src.size(0)):
        hyps = [strip(row) for row in four.nbest_tokens[b]]
        scores = four.nbest_scores[b].tolist()
        assert hyps[0] == strip(one.tokens[b]) and scores[0] == pytest.approx(one.scores[b].item())
        assert len({tuple(h) for h in hyps}) == 4 and scores == sorted(scores, reverse=True)
        for hyp, score in zip(hyps, scores):  # forced decoding gives the same length-normalized score
            tgt_in = torch.tensor([[BOS_ID] + hyp[:-1]])
            with torch.no_grad():
                logp = model(src[b : b + 1], tgt_in).float().log_softmax(-1)[0]
            total = logp[torch.arange(len(hyp)), torch.tensor(hyp)].sum()
            assert float(total / length_penalty(len(hyp), 0.6)) == pytest.approx(score, abs=1e-4)


def test_n_best_larger_than_beam_is_refused():
    with pytest.raises(ValueError, match="n_best=5 must be between 1 and beam_size=4"):
        beam_search(tiny_model(), source_batch([3]), beam_size=4, n_best=5)


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_cross_attention_keys_values_computed_once_per_source_batch(search):
    model = tiny_model("post", "sinusoidal")
    calls = []
    for layer in model.decoder.layers:
        layer.cross_attn.kv.register_forward_hook(lambda module, args, out: calls.append(module))
    out = search(model, source_batch([5, 3]), max_len_b=6)
    assert out.tokens.size(1) > 1  # several decoding steps ran ...
    assert len(calls) == len(model.decoder.layers)  # ... but each layer projected the memory once


def test_beam_search_is_batch_independent():
    model = tiny_model("post", "learned")
    with torch.no_grad():
        model.generator.weight.mul_(3.0)
    src = source_batch([7, 2, 5], seed=3)
    batched = beam_search(model, src, beam_size=3, max_len_b=6)
    for b in range(src.size(0)):
        alone = beam_search(model, src[b : b + 1, : int((src[b] != PAD_ID).sum())], beam_size=3, max_len_b=6)
        assert strip(batched.tokens[b]) == strip(alone.tokens[0])
        torch.testing.assert_close(batched.scores[b], alone.scores[0])


@pytest.mark.parametrize("search", [greedy_search, beam_search])
def test_output_respects_per_sentence_max_length_and_format(search):
    model = tiny_model("post", "sinusoidal")
    # make eos very unlikely everywhere, so that only the length limit stops a hypothesis
    model.generator.register_forward_hook(lambda module, args, out: out.index_fill(-1, torch.tensor([EOS_ID]), -30.0))
    src = source_batch([1, 4], seed=0)  # non-pad lengths 2 and 5
    out = search(model, src, max_len_a=1.0, max_len_b=1)
    assert out.tokens.dtype == torch.long and out.scores.dtype == torch.float32
    hyps = [strip(r) for r in out.tokens]
    assert [len(h) for h in hyps] == [3, 6]
    assert all(h[-1] == EOS_ID and EOS_ID not in h[:-1] and BOS_ID not in h for h in hyps)


def test_both_searches_take_the_same_keyword_only_settings_in_the_same_order():
    greedy = list(inspect.signature(greedy_search).parameters.values())
    beam = list(inspect.signature(beam_search).parameters.values())
    assert [p.name for p in greedy[:2]] == [p.name for p in beam[:2]] == ["model", "src"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in greedy[2:] + beam[2:])  # no swappable positions
    shared = [(p.name, p.default) for p in greedy[2:]]
    assert [(p.name, p.default) for p in beam[2 : 2 + len(shared)]] == shared
    assert [p.name for p in beam[2 + len(shared) :]] == ["beam_size", "n_best"]
