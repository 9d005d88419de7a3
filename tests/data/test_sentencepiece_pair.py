"""`SentencePiecePairTokenizer` (an imported MarianMT's tokenizer): its stored form, the datamodule encoding
targets with the target model, and its constructor's guards."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentencepiece")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "export"))  # the local sentencepiece models
from marian_fixtures import ENGLISH, GERMAN, train_spm

from transformer_lab.data import TranslationDataModule
from transformer_lab.data.tokenizers.sentencepiece_pair import (
    SentencePiecePairTokenizer,
)
from transformer_lab.data.tokenizers.stored import (
    load_tokenizer,
    stored_kind,
    tokenizer_from_json,
)
from transformer_lab.special_tokens import EOS_ID, SPECIAL_TOKENS, UNK_ID


@pytest.fixture(scope="module")
def models() -> tuple[bytes, bytes]:
    return train_spm(ENGLISH, 60), train_spm(GERMAN, 60)


def pieces_of(*models: bytes) -> list[str]:
    import sentencepiece

    pieces = list(SPECIAL_TOKENS) + [">>de<<"]
    for model in models:
        processor = sentencepiece.SentencePieceProcessor()
        processor.LoadFromSerializedProto(model)
        pieces += [processor.IdToPiece(i) for i in range(3, processor.GetPieceSize())
                   if processor.IdToPiece(i) not in pieces]
    return pieces


@pytest.fixture(scope="module")
def pair(models) -> SentencePiecePairTokenizer:
    return SentencePiecePairTokenizer(*models, pieces_of(*models))


def test_the_stored_form_gives_back_the_same_tokenizer(pair, tmp_path):
    text = pair.to_json()
    assert stored_kind(text) == "sentencepiece_pair"
    back = tokenizer_from_json(text)
    pair.save(tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    for other in (back, loaded):
        assert other.to_json() == text
        for source, target in zip(ENGLISH, GERMAN):
            assert other.encode(source) == pair.encode(source)
            assert other.encode_target(target) == pair.encode_target(target)
            assert other.decode(pair.encode_target(target) + [EOS_ID]) == target


def test_source_and_target_models_differ_and_unknown_pieces_are_unk(pair):
    assert pair.encode("der Hund") != pair.encode_target("der Hund")
    assert UNK_ID in pair.encode_target("日本")


def test_a_language_code_is_one_token(pair):
    ids = pair.encode(">>de<< the dog")
    assert ids[0] == pair.vocabulary.index(">>de<<") and ids[1:] == pair.encode(" the dog")


def test_the_datamodule_encodes_targets_with_the_target_model(pair, tmp_path):
    from data_helpers import write_parallel

    corpus = write_parallel(tmp_path / "corpus", {"train": (ENGLISH * 3, GERMAN * 3), "valid": (ENGLISH[:3], GERMAN[:3]),
                                                  "test": (ENGLISH[3:5], GERMAN[3:5])})
    dm = TranslationDataModule("parallel_text", dir=str(corpus), src_lang="en", tgt_lang="de", max_tokens=400,
                               eval_max_tokens=400, max_length_ratio=5.0, cache_dir=str(tmp_path / "cache"),
                               tokenizer=pair)
    dm.prepare_data()
    dm.setup("validate")
    sources, references = dm.split_texts("valid")
    for batch in dm.val_dataloader():
        for row, index in enumerate(batch["index"].tolist()):
            src = [t for t in batch["src"][row].tolist() if t != 0]
            tgt = [t for t in batch["tgt_out"][row].tolist() if t != 0]
            assert src == pair.encode(sources[index]) + [EOS_ID]
            assert tgt == pair.encode_target(references[index]) + [EOS_ID]
    assert load_tokenizer(dm.directory / "tokenizer.json").to_json() == pair.to_json()  # the cache's copy


@pytest.mark.parametrize("bad", [lambda p: p[4:], lambda p: [p[1], p[0]] + p[2:]], ids=["no specials", "swapped"])
def test_the_vocabulary_must_start_with_our_special_tokens(bad, models):
    with pytest.raises(ValueError, match="must start with"):
        SentencePiecePairTokenizer(*models, bad(pieces_of(*models)))


@pytest.mark.parametrize("bad", [lambda p: p + [p[5]], lambda p: p[:6] + p[4:]], ids=["at the end", "inside"])
def test_a_piece_named_twice_is_refused(bad, models):
    with pytest.raises(ValueError, match="names a piece twice"):
        SentencePiecePairTokenizer(*models, bad(pieces_of(*models)))


@pytest.mark.parametrize("change", [{"kind": "bpe"}, {"version": 99}])
def test_a_stored_form_of_another_kind_or_version_is_refused(change, pair):
    stored = {**json.loads(pair.to_json()), **change}
    with pytest.raises(ValueError, match="not a stored sentencepiece_pair tokenizer"):
        SentencePiecePairTokenizer.from_json(json.dumps(stored))


@pytest.mark.parametrize("model", [b"", b"\x00garbage" * 20], ids=["empty", "garbage"])
def test_a_corrupt_model_is_refused_by_side(model, models):
    with pytest.raises(ValueError, match="the target sentencepiece model is not a readable"):
        SentencePiecePairTokenizer(models[0], model, pieces_of(*models))
