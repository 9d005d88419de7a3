"""The real-workload decoding benchmark: the peer holds our weights and computes what we compute."""

from __future__ import annotations

import pytest
import torch

from transformer_lab.benchmark import translation
from transformer_lab.decoding import greedy_search
from transformer_lab.model import build_transformer
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

pytest.importorskip("transformers")
from transformer_lab.benchmark.marian_copy import marian_copy  # noqa: E402

VOCAB = 40


def model(**overrides):
    torch.manual_seed(0)
    cfg = dict(vocab_size=VOCAB, n_layers=2, d_model=16, d_ff=32, n_heads=2, dropout=0.1)
    cfg.update(overrides)
    return build_transformer(cfg).eval()


def batch():
    g = torch.Generator().manual_seed(1)
    src = torch.randint(EOS_ID + 1, VOCAB, (3, 7), generator=g)
    src[:, -1] = EOS_ID
    src[0, 4], src[0, 5:] = EOS_ID, PAD_ID  # a shorter, padded sentence
    tgt = torch.randint(EOS_ID + 1, VOCAB, (3, 5), generator=g)
    tgt[:, 0] = BOS_ID
    return src, tgt


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_marian_copy_computes_our_logits(attn):
    ours, (src, tgt) = model(), batch()
    peer = marian_copy(ours, attn)
    with torch.no_grad():
        theirs = peer(input_ids=src, attention_mask=src != PAD_ID, decoder_input_ids=tgt).logits
        torch.testing.assert_close(theirs, ours(src, tgt), atol=1e-5, rtol=1e-5)


def test_marian_copy_greedy_generate_equals_our_greedy_search():
    ours, (src, _) = model(), batch()
    peer = marian_copy(ours, "eager")
    mine = greedy_search(ours, src, max_len_a=0.0, max_len_b=7, min_len=7).tokens[:, :6]  # 6 words, then eos
    with torch.no_grad():
        theirs = peer.generate(input_ids=src, attention_mask=src != PAD_ID, num_beams=1, do_sample=False,
                               min_new_tokens=6, max_new_tokens=6, bad_words_ids=[[PAD_ID], [BOS_ID]])
    assert theirs[:, 1:].tolist() == mine.tolist()  # theirs starts with the decoder start token (bos)


@pytest.mark.parametrize("overrides", [dict(norm="pre"), dict(positional={"name": "learned"}), dict(weight_sharing="none")])
def test_marian_copy_refuses_other_architectures(overrides):
    with pytest.raises(ValueError, match="post-norm, sinusoidal, fully weight-shared"):
        marian_copy(model(**overrides))


def test_strip_ids_keeps_eos_and_drops_bos_and_padding():
    assert translation.strip_ids([BOS_ID, 5, 6, EOS_ID, 7, PAD_ID]) == [5, 6, EOS_ID]
    assert translation.strip_ids([5, PAD_ID]) == [5]


def test_bad_files_are_refused_before_the_checkpoint_is_read(tmp_path):
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("a\nb\n")
    ref.write_text("a\n")
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(SystemExit, match="--ref .* has 1 lines but --src .* has 2"):
        translation.main([str(missing), "--src", str(src), "--ref", str(ref)])
    with pytest.raises(SystemExit, match="--src .*nope.txt: cannot read it"):
        translation.main([str(missing), "--src", str(tmp_path / "nope.txt")])
    with pytest.raises(SystemExit, match="--ref needs --src"):
        translation.main([str(missing), "--ref", str(ref)])
