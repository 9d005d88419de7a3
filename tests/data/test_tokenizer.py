from pathlib import Path

import pytest

from transformer_lab.data import Tokenizer, TranslationDataModule
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID


@pytest.fixture
def tokenizer_and_dev(tiny_corpus: Path, tmp_path: Path) -> tuple[Tokenizer, TranslationDataModule]:
    dm = TranslationDataModule("parallel_text", dir=str(tiny_corpus), src_lang="en", tgt_lang="de",
                               vocab_size=300, min_frequency=1, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    return dm.tokenizer, dm


def test_detokenization_is_exact_on_dev_and_test_sets(tokenizer_and_dev) -> None:
    tokenizer, dm = tokenizer_and_dev
    for split in ("valid", "test"):
        sources, references = dm.split_texts(split)
        for text in sources + references:  # includes characters never seen in training (日本, 🙂, „)
            assert tokenizer.decode(tokenizer.encode(text)) == text
        assert tokenizer.decode_batch(tokenizer.encode_batch(references)) == references


def test_special_ids_follow_the_contract(tokenizer_and_dev) -> None:
    tokenizer, _ = tokenizer_and_dev
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)
    ids = tokenizer.encode("literal <s> and </s> and <pad> in text")
    assert not set(ids) & {PAD_ID, BOS_ID, EOS_ID, UNK_ID}  # ordinary text, never control tokens
    assert tokenizer.decode(ids) == "literal <s> and </s> and <pad> in text"


def test_decode_stops_at_eos_and_drops_pad_and_bos(tokenizer_and_dev) -> None:
    tokenizer, _ = tokenizer_and_dev
    ids = tokenizer.encode("the dog sees")
    assert tokenizer.decode([BOS_ID] + ids + [EOS_ID] + tokenizer.encode("junk") + [PAD_ID]) == "the dog sees"
    assert tokenizer.decode(ids + [PAD_ID, PAD_ID]) == "the dog sees"


def test_pieces_are_readable(tokenizer_and_dev) -> None:
    tokenizer, _ = tokenizer_and_dev
    pieces = tokenizer.pieces("der Hund sieht die Katze")
    assert "".join(pieces).replace("▁", " ") == "der Hund sieht die Katze"
    assert all(piece.isprintable() for piece in tokenizer.pieces("日本 🙂"))  # unseen: byte pieces, shown escaped


def test_pieces_of_trained_non_ascii_characters_are_whole_characters() -> None:
    tokenizer = Tokenizer.train(["Größe Straße Mädchen über Fußgänger"] * 20, vocab_size=300, min_frequency=1)
    assert tokenizer.pieces("Größe Mädchen") == ["Größe", "▁Mädchen"]


def test_vocab_size_respected(tokenizer_and_dev) -> None:
    tokenizer, _ = tokenizer_and_dev
    assert 260 <= tokenizer.vocab_size <= 300


def test_json_round_trip_keeps_behaviour(tokenizer_and_dev) -> None:
    tokenizer, dm = tokenizer_and_dev
    copy = Tokenizer.from_json(tokenizer.to_json())
    assert copy.to_json() == tokenizer.to_json()
    for text in dm.split_texts("valid")[1] + ["<s> literal"]:
        assert copy.encode(text) == tokenizer.encode(text)


def test_detokenization_is_exact_on_the_builtin_dev_and_test_sets(tmp_path: Path) -> None:
    dm = TranslationDataModule({"kind": "builtin", "train_size": 3000, "valid_size": 300, "test_size": 300},
                               vocab_size=1000, cache_dir=str(tmp_path / "cache"), max_length_ratio=2.5)
    tokenizer = dm.tokenizer
    for split in ("valid", "test"):
        for text in sum(dm.split_texts(split), []):
            assert tokenizer.decode(tokenizer.encode(text)) == text
