"""The one encoder of model inputs (data/batching/encoding.py), against PyTorch's own padding (`pad_sequence`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pad_sequence

from transformer_lab.data import Tokenizer
from transformer_lab.data.batching.encoding import (
    append_eos_and_pad,
    encode_sources,
    length_sorted_batches,
    make_batch,
    prepend_bos_and_pad,
)
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

SENTENCES = ["the dog sees the cat", "a cat", "the small dog sleeps under the old table", "", "dogs", "a cat"]


def reference(rows: list[list[int]]) -> torch.Tensor:
    return pad_sequence([torch.tensor(r, dtype=torch.long) for r in rows], batch_first=True, padding_value=PAD_ID)


def tokenizer() -> Tokenizer:
    return Tokenizer.train(SENTENCES * 3, vocab_size=300, min_frequency=1)


def test_eos_and_bos_rows_match_pytorch_padding():
    pieces = [[7, 8, 9], [], [10], np.array([11, 12], dtype=np.int32)]  # lists or the cache's int32 arrays
    src = append_eos_and_pad(pieces)
    assert src.dtype == torch.long
    assert torch.equal(src, reference([list(p) + [EOS_ID] for p in pieces]))
    assert torch.equal(prepend_bos_and_pad(pieces), reference([[BOS_ID] + list(p) for p in pieces]))


def test_make_batch_is_the_contracts_batch():
    sources, targets = [[5, 6], [7]], [[8], [9, 10, 11]]
    batch = make_batch(sources=sources, targets=targets, indices=[4, 1])
    assert torch.equal(batch["src"], reference([[5, 6, EOS_ID], [7, EOS_ID]]))
    assert torch.equal(batch["tgt_in"], reference([[BOS_ID, 8], [BOS_ID, 9, 10, 11]]))
    assert torch.equal(batch["tgt_out"], reference([[8, EOS_ID], [9, 10, 11, EOS_ID]]))
    assert batch["index"].tolist() == [4, 1] and batch["index"].dtype == torch.long


def test_encode_sources_appends_eos_to_the_tokenizers_pieces():
    tok = tokenizer()
    src = encode_sources(tok, SENTENCES)
    assert torch.equal(src, reference([tok.encode(s) + [EOS_ID] for s in SENTENCES]))
    assert [tok.decode(row) for row in src.tolist()] == SENTENCES


def test_length_sorted_batches_cover_every_sentence_once_shortest_first():
    tok = tokenizer()
    batches = length_sorted_batches(tok, SENTENCES, batch_size=4)
    assert [len(indices) for indices, _ in batches] == [4, 2]
    order = [i for indices, _ in batches for i in indices]
    assert sorted(order) == list(range(len(SENTENCES)))
    lengths = [len(tok.encode(SENTENCES[i])) for i in order]
    assert lengths == sorted(lengths)
    assert order.index(1) < order.index(5)  # equal lengths keep their input order
    for indices, src in batches:
        assert torch.equal(src, reference([tok.encode(SENTENCES[i]) + [EOS_ID] for i in indices]))


def test_rows_padded_to_a_multiple_keep_their_content_and_gain_pad_only():
    pieces = [[7, 8, 9], [], [10] * 7, np.array([11, 12], dtype=np.int32)]  # longest + 1 = 8: already a multiple
    for multiple, width in ((1, 8), (8, 8), (3, 9), (16, 16)):
        for encode in (append_eos_and_pad, prepend_bos_and_pad):
            plain, padded = encode(pieces), encode(pieces, multiple)
            assert padded.shape == (4, width)
            assert torch.equal(padded[:, :8], plain) and (padded[:, 8:] == PAD_ID).all()
    batch = make_batch(sources=[[5, 6]], targets=[[8, 9, 10]], indices=[0], multiple_of=4)
    assert batch["src"].tolist() == [[5, 6, EOS_ID, PAD_ID]] and batch["tgt_out"].tolist() == [[8, 9, 10, EOS_ID]]


def test_a_multiple_below_one_is_refused():
    with pytest.raises(ValueError, match="multiple_of must be an integer >= 1, got 0"):
        append_eos_and_pad([[5]], 0)
