"""The static-shape decoding path (`cuda_graphs=True`): the same outputs as the dynamic searches.

On CPU the fixed-shape step runs eagerly; it is compared with the existing search on every variant
(token-identical, scores within 1e-5) and with the plain one-sentence-at-a-time reference of
test_search_batch_shrinking.py. On CUDA (skipped elsewhere) the graph-replayed step is compared with the
eager static step and the existing search, and a second batch of one shape must replay the same graph.
"""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from model_helpers import SCHEMES, source_batch, tiny_model, variant_params
from test_search import strip
from test_search import peaky_model
from test_search_batch_shrinking import CASES, VOCAB, plain_beam, plain_greedy
from test_search_batch_shrinking import source_batch as small_vocab_batch
from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.model.positional import RotaryPositional
from transformer_lab.decoding.limits import max_output_lengths
from transformer_lab.decoding.static_cache import static_cache_bytes
from transformer_lab.decoding.static_decoding import (
    BUCKET,
    MAX_DECODERS_PER_MODEL,
    MAX_MEMORY_FRACTION,
    TIER,
    default_memory_budget,
    release_static_decoders,
    static_decoder,
    step_extents,
)
from transformer_lab.decoding.static_search import static_beam_search, static_greedy_search
from transformer_lab.special_tokens import PAD_ID

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SETTINGS = dict(alpha=0.6, max_len_a=1.0, max_len_b=6)


def sharpened(norm: str, scheme: str):
    """A tiny model of the variant whose outputs end at different lengths (seed 3: for every variant)."""
    model = tiny_model(norm, scheme, seed=3)
    with torch.no_grad():
        model.generator.weight.mul_(3.0)
    return model


def assert_same(static, dynamic) -> None:
    assert static.tokens.tolist() == dynamic.tokens.tolist()  # same tokens, same padding and width
    torch.testing.assert_close(static.scores, dynamic.scores, rtol=0, atol=1e-5)
    if dynamic.nbest_tokens is not None:
        assert static.nbest_tokens.tolist() == dynamic.nbest_tokens.tolist()
        torch.testing.assert_close(static.nbest_scores, dynamic.nbest_scores, rtol=0, atol=1e-5)


@variant_params
@pytest.mark.parametrize("beam", [1, 4])
def test_static_beam_search_equals_beam_search(norm, scheme, beam):
    model, src = sharpened(norm, scheme), source_batch([6, 2, 4, 5, 1], seed=3)  # padded sources
    dynamic = beam_search(model, src, beam_size=beam, n_best=beam, **SETTINGS)
    static = beam_search(model, src, beam_size=beam, n_best=beam, cuda_graphs=True, **SETTINGS)
    assert_same(static, dynamic)
    assert len({len(strip(row)) for row in dynamic.tokens}) > 1  # sentences ended at different steps


@variant_params
def test_static_beam_search_under_bf16_autocast_equals_beam_search_on_cpu(norm, scheme):
    """bf16 keys/values, casts and cache dtype: on CPU both paths attend with the same float32 arithmetic,
    so they agree exactly (on a GPU the attention kernels differ, see static_search.py)."""
    model, src = sharpened(norm, scheme), source_batch([6, 2, 4, 5, 1], seed=3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dynamic = beam_search(model, src, beam_size=4, n_best=2, **SETTINGS)
        static = beam_search(model, src, beam_size=4, n_best=2, cuda_graphs=True, **SETTINGS)
    assert_same(static, dynamic)


def test_bf16_weight_copies_follow_the_model_between_batches():
    """Under autocast the step reads bf16 copies of the decoder's matrix weights, refreshed per batch: a
    model trained (changed) between two searches must be decoded with its new weights."""
    model, src = sharpened("post", "sinusoidal"), source_batch([6, 2, 4], seed=2)
    release_static_decoders(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        before = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
        with torch.no_grad():
            for layer in model.decoder.layers:
                layer.feed_forward.w2.weight.mul_(-2.0)
        after = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
        dynamic = beam_search(model, src, beam_size=3, **SETTINGS)
        decoder = static_decoder(model, sentences=3, rows_per_sentence=3, src_len=src.size(1), max_len=13,
                                 device=src.device, capture=False)  # the one both searches used
    assert release_static_decoders(model) == 1
    assert len(decoder.cast_weights) == 6 * len(model.decoder.layers) * 2 + 1  # 6 linears (weight, bias) + generator
    assert_same(after, dynamic)
    assert after.tokens.tolist() != before.tokens.tolist()  # the change mattered


@pytest.mark.parametrize("scheme", ["sinusoidal", "rope", "alibi"])
def test_long_outputs_cross_the_step_extent_tiers(scheme):
    """Outputs longer than TIER: steps past the first extent use graphs over more slots, and the beam
    reorder at a tier's first step copies slots the previous step did not work on."""
    model, src = sharpened("pre", scheme), source_batch([6, 2, 4], seed=6)
    settings = dict(alpha=0.6, max_len_a=1.0, max_len_b=2 * TIER + 4, min_len=2 * TIER + 2)  # capacity 48
    for search, extra in ((beam_search, dict(beam_size=3, n_best=2)), (greedy_search, {})):
        dynamic = search(model, src, **settings, **extra)
        assert dynamic.tokens.size(1) > 2 * TIER + 1  # steps in all three extents, 16, 32 and 48
        assert_same(search(model, src, cuda_graphs=True, **settings, **extra), dynamic)


@variant_params
def test_static_greedy_search_equals_greedy_search(norm, scheme):
    model, src = sharpened(norm, scheme), source_batch([6, 2, 4, 5, 1], seed=4)
    for min_len in (0, 3):
        dynamic = greedy_search(model, src, min_len=min_len, **SETTINGS)
        assert_same(greedy_search(model, src, min_len=min_len, cuda_graphs=True, **SETTINGS), dynamic)


@pytest.mark.parametrize("seed,lengths", CASES)
def test_static_beam_search_equals_plain_reference(seed, lengths):
    """Against the independent reference (one sentence, no cache, Python loops), n-best and min_len included."""
    model, src = peaky_model(seed, vocab_size=VOCAB), small_vocab_batch(lengths, seed=seed)
    for beam, min_len in ((3, 0), (2, 3)):
        max_lens = max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=3).tolist()
        out = beam_search(model, src, beam_size=beam, n_best=beam, max_len_a=1.0, max_len_b=3, min_len=min_len,
                          cuda_graphs=True)
        for b in range(len(lengths)):
            tokens, score, first_k = plain_beam(model, src[b, : lengths[b] + 1], beam, 0.6, max_lens[b], min_len)
            assert strip(out.tokens[b]) == tokens
            assert out.scores[b].item() == pytest.approx(score, abs=1e-5)
            ranked = sorted(first_k, key=lambda f: -f[1])
            assert [strip(row) for row in out.nbest_tokens[b]] == [hyp for hyp, _ in ranked[:beam]]


@pytest.mark.parametrize("seed,lengths", CASES)
def test_static_greedy_search_equals_plain_reference(seed, lengths):
    model, src = peaky_model(seed, vocab_size=VOCAB), small_vocab_batch(lengths, seed=seed)
    max_lens = max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=2).tolist()
    out = greedy_search(model, src, max_len_a=1.0, max_len_b=2, min_len=2, cuda_graphs=True)
    for b in range(len(lengths)):
        tokens, score = plain_greedy(model, src[b, : lengths[b] + 1], max_lens[b], 2, 0.6)
        assert strip(out.tokens[b]) == tokens
        assert out.scores[b].item() == pytest.approx(score, abs=1e-5)
    assert out.tokens.size(1) == max(len(strip(row)) for row in out.tokens)  # no all-pad column at the end


@pytest.mark.parametrize("seed", [5, 7, 20])
def test_done_sentences_stay_frozen_while_others_decode(seed):
    """Short and long sources, alpha 1: a done sentence's beams keep decoding (fixed shapes) and would find
    longer, better-normalized hypotheses; none of them may count."""
    model, src = peaky_model(seed, vocab_size=VOCAB), small_vocab_batch([1, 7, 2, 9], seed=seed)
    settings = dict(beam_size=3, n_best=3, alpha=1.0, max_len_a=1.0, max_len_b=6)
    assert_same(beam_search(model, src, cuda_graphs=True, **settings), beam_search(model, src, **settings))


def test_a_reused_decoder_masks_the_longer_sources_of_an_earlier_batch():
    model = sharpened("post", "sinusoidal")
    long, short = source_batch([6, 6, 6], seed=1), source_batch([2, 4, 3], seed=2)  # widths 7 and 5: one bucket
    beam_search(model, long, beam_size=2, cuda_graphs=True, **SETTINGS)
    assert_same(beam_search(model, short, beam_size=2, cuda_graphs=True, **SETTINGS),
                beam_search(model, short, beam_size=2, **SETTINGS))


def test_a_decoder_made_under_inference_mode_serves_no_grad_and_back():
    model, src = sharpened("post", "sinusoidal"), source_batch([6, 2, 4], seed=1)
    release_static_decoders(model)
    with torch.inference_mode():  # what Lightning's test loop runs under
        first = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
    again = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
    with torch.inference_mode():
        third = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
    assert_same(first, again)
    assert_same(third, again)
    assert release_static_decoders(model) == 1


def test_unwritten_cache_slots_are_never_read():
    """Stale keys/values (here huge ones) past the current position must not change anything."""
    model, src = sharpened("post", "alibi"), source_batch([6, 2, 4], seed=5)
    clean = beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS)
    decoder = static_decoder(model, sentences=3, rows_per_sentence=3, src_len=src.size(1),
                             max_len=int(max_output_lengths(src, pad_id=PAD_ID, max_len_a=1.0, max_len_b=6).max()),
                             device=src.device, capture=False)
    for cache in decoder.cache.layers:
        for k, v in cache.sets:
            k.fill_(1e4)
            v.fill_(-1e4)
        cache.cross_k.fill_(1e4)  # the source slots past the batch's length, too
    assert_same(beam_search(model, src, beam_size=3, cuda_graphs=True, **SETTINGS), clean)


def test_a_step_before_any_batch_stays_finite():
    """Capture warms up on a fresh decoder, before any batch is loaded: no NaN may get into its buffers."""
    model = tiny_model()
    release_static_decoders(model)
    decoder = static_decoder(model, sentences=2, rows_per_sentence=3, src_len=4, max_len=5,
                             device=torch.device("cpu"), capture=False)
    assert torch.isfinite(decoder.step(torch.full((6, 1), 5))).all()
    assert all(torch.isfinite(t).all() for cache in decoder.cache.layers for pair in cache.sets for t in pair)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tensor_offsets_give_the_int_offset_results(scheme):
    model = tiny_model("post", scheme)
    positional, x = model.decoder.positional, torch.randn(2, 3, 16)
    q, k = torch.randn(2, 4, 3, 4), torch.randn(2, 4, 3, 4)
    for offset in (0, 5):
        at = torch.tensor(offset)
        torch.testing.assert_close(positional.add_to_embeddings(x, at), positional.add_to_embeddings(x, offset),
                                   rtol=0, atol=0)
        for a, b in zip(positional.rotate_qk(q, k, at), positional.rotate_qk(q, k, offset)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        biases = [positional.attention_bias(3, 9, o, x.device) for o in (at, offset)]
        if biases[1] is not None:
            torch.testing.assert_close(biases[0], biases[1], rtol=0, atol=0)
    assert positional.table_length == (None if scheme in ("none", "alibi") else 64)


def test_rope_tensor_offset_reads_the_table_the_int_offset_extends():
    rope = RotaryPositional(4, max_len=8)
    q = torch.randn(1, 1, 1, 4)
    torch.testing.assert_close(rope.rotate_qk(q, q, torch.tensor(7))[0], rope.rotate_qk(q, q, 7)[0], rtol=0, atol=0)


@pytest.mark.parametrize("scheme", ["sinusoidal", "learned", "rope"])
def test_output_longer_than_the_position_table_is_refused_with_the_fix(scheme):
    model = tiny_model("post", scheme, positional={"name": scheme, "max_len": 8})
    with pytest.raises(ValueError, match=r"needs 12 target positions .* has 8 \(model.positional.max_len\)"):
        beam_search(model, source_batch([3]), max_len_a=1.0, max_len_b=8, cuda_graphs=True)


def test_training_mode_is_refused():
    model = tiny_model().train()
    with pytest.raises(ValueError, match=r"needs model.eval\(\)"):
        greedy_search(model, source_batch([3]), cuda_graphs=True)


def test_step_extents_double_from_the_tier_up_to_the_capacity():
    assert step_extents(8) == [8] and step_extents(TIER) == [TIER]
    assert step_extents(48) == [16, 32, 48] and step_extents(64) == [16, 32, 64]
    assert step_extents(96) == [16, 32, 64, 96]


def test_decoders_are_reused_per_bucketed_shape_and_bounded():
    model = tiny_model()
    release_static_decoders(model)

    def get(sentences: int, src_len: int, max_len: int):
        return static_decoder(model, sentences=sentences, rows_per_sentence=2, src_len=src_len, max_len=max_len,
                              device=torch.device("cpu"), capture=False)

    first = get(3, 5, 9)
    assert get(3, BUCKET, 16) is first  # same buckets: source <= 8, target <= 16
    assert first.cache.capacity == 16 and first.cache.memory_mask.size(-1) == BUCKET
    assert get(3, BUCKET + 1, 9) is not first and get(4, 5, 9) is not first
    for n in range(MAX_DECODERS_PER_MODEL + 2):
        get(5 + n, 5, 9)
    assert release_static_decoders(model) == MAX_DECODERS_PER_MODEL


def test_kept_decoders_stay_within_the_memory_budget_least_recently_used_first():
    model = tiny_model()
    release_static_decoders(model)

    def get(sentences: int, budget: int | None):
        return static_decoder(model, sentences=sentences, rows_per_sentence=2, src_len=5, max_len=9,
                              device=torch.device("cpu"), capture=False, memory_budget=budget)

    sizes = {n: static_cache_bytes(model, sentences=n, rows_per_sentence=2, src_capacity=BUCKET, capacity=16,
                                   dtype=torch.float32) for n in (1, 2, 3, 4)}
    one, two = get(1, None), get(2, None)
    assert (one.nbytes, two.nbytes) == (sizes[1], sizes[2])  # the estimate is what the buffers take
    assert get(1, None) is one  # reuse moves `one` to the most recently used end
    budget = sizes[1] + sizes[3]  # room for `one` and a 3-sentence decoder, not for `two` as well
    three = get(3, budget)
    assert get(1, budget) is one and get(3, budget) is three and get(2, budget) is not two  # `two` went first
    huge = get(4, sizes[4] - 1)  # larger than the budget on its own: still made, and kept alone
    assert huge.nbytes == sizes[4] and release_static_decoders(model) == 1
    gone = weakref.ref(huge)
    del one, two, three, huge
    gc.collect()
    assert gone() is None  # nothing else holds a released decoder (its buffers go with it)
    assert default_memory_budget(torch.device("cpu")) is None  # no bound on CPU, where there are no graphs


@needs_cuda
def test_on_a_gpu_the_budget_is_a_quarter_of_it_and_released_decoders_give_their_memory_back():
    """The budget's numbers on a real GPU: the default is MAX_MEMORY_FRACTION of the device, and a decoder's
    estimate is what its buffers take (plus its (R, V) output and a few (R,) vectors). A captured decoder
    that does not fit next to another replaces it; a released one is freed, graphs and all: capturing and
    releasing again does not grow the memory in use (the first capture leaves cuBLAS's per-stream
    workspace of the capture stream allocated, which is why the comparison is between two rounds)."""
    device = torch.device("cuda")
    total = torch.cuda.get_device_properties(device).total_memory
    assert default_memory_budget(device) == int(MAX_MEMORY_FRACTION * total)
    model = tiny_model().to(device).eval()
    release_static_decoders(model)
    shape = dict(sentences=48, rows_per_sentence=4, src_len=40, max_len=60, device=device)

    def capture_and_release() -> tuple[weakref.ref, int]:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated(device)
        plain = static_decoder(model, capture=False, **shape)
        grown = torch.cuda.memory_allocated(device) - before
        output = plain.logp.numel() * plain.logp.element_size()
        assert plain.nbytes <= grown <= plain.nbytes + output + 2**20
        captured = static_decoder(model, capture=True, memory_budget=plain.nbytes, **shape)
        assert captured is not plain and release_static_decoders(model) == 1  # `plain` made room for it
        gone = weakref.ref(captured)
        del plain, captured
        gc.collect()
        torch.cuda.synchronize()
        return gone, torch.cuda.memory_allocated(device)

    first, after_first = capture_and_release()
    second, after_second = capture_and_release()
    assert first() is None and second() is None
    assert after_second <= after_first


def test_capture_is_refused_off_cuda():
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        static_greedy_search(tiny_model(), source_batch([3]), alpha=0.6, max_len_a=1.0, max_len_b=3, min_len=0,
                             bos_id=1, eos_id=2, capture=True)


@pytest.fixture
def exact_cuda_float32():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@needs_cuda
@variant_params
def test_cuda_graph_replay_equals_eager_static_and_beam_search(norm, scheme, exact_cuda_float32):
    model, src = sharpened(norm, scheme).cuda(), source_batch([6, 2, 4, 5, 1], seed=3).cuda()
    common = dict(min_len=0, bos_id=1, eos_id=2, beam_size=4, n_best=4, **SETTINGS)
    graphed = static_beam_search(model, src, capture=True, **common)
    eager = static_beam_search(model, src, capture=False, **common)
    assert_same(graphed, eager)
    assert_same(graphed, beam_search(model, src, beam_size=4, n_best=4, **SETTINGS))
    greedy = dict(min_len=2, bos_id=1, eos_id=2, **SETTINGS)
    assert_same(static_greedy_search(model, src, capture=True, **greedy),
                greedy_search(model, src, min_len=2, **SETTINGS))


@needs_cuda
def test_cuda_graph_is_captured_once_per_shape(exact_cuda_float32):
    model = sharpened("post", "sinusoidal").cuda()
    release_static_decoders(model)
    first, second = source_batch([6, 2, 4], seed=1).cuda(), source_batch([5, 6, 3], seed=2).cuda()
    out_first = beam_search(model, first, beam_size=3, cuda_graphs=True, **SETTINGS)
    decoder = static_decoder(model, sentences=3, rows_per_sentence=3, src_len=first.size(1), max_len=13,
                             device=first.device, capture=True)
    graphs = dict(decoder.graphs)
    assert sorted(graphs) == [(0, 0), (0, 1)]  # capacity 16: one extent, two step parities
    out_second = beam_search(model, second, beam_size=3, cuda_graphs=True, **SETTINGS)  # same buckets
    assert decoder.graphs == graphs and release_static_decoders(model) == 1  # no second capture
    assert_same(out_second, beam_search(model, second, beam_size=3, **SETTINGS))
    assert_same(out_first, beam_search(model, first, beam_size=3, **SETTINGS))


@needs_cuda
def test_cuda_graph_under_bf16_autocast_equals_eager_static():
    model, src = sharpened("pre", "rope").cuda(), source_batch([6, 2, 4, 5, 1], seed=3).cuda()
    common = dict(min_len=0, bos_id=1, eos_id=2, beam_size=4, n_best=1, **SETTINGS)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        graphed = static_beam_search(model, src, capture=True, **common)
        eager = static_beam_search(model, src, capture=False, **common)
    assert_same(graphed, eager)
