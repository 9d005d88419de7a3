"""`data.tokenizer_file`: sentencepiece models and HF tokenizer.json files trained here, used with our ids."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, pre_tokenizers, trainers

from transformer_lab.data import DataError, Tokenizer, TranslationDataModule
from transformer_lab.data.builtin.corpus import BuiltinCorpus
from transformer_lab.data.tokenizers.external import load_tokenizer_file
from transformer_lab.special_tokens import SPECIAL_TOKENS

spm = pytest.importorskip("sentencepiece")

UNSEEN = ["Größe: 5 km² — “Zürich” 日本 🙂", "ﬁ ① Ｈ  two  spaces ", "x"]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    sources, targets = BuiltinCorpus(train_size=1500, valid_size=10, test_size=10).read("train")
    return list(sources) + list(targets)


def train_spm(directory: Path, sentences: list[str], **options) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "text.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    prefix = directory / options.get("model_type", "unigram")
    spm.SentencePieceTrainer.train(input=str(directory / "text.txt"), model_prefix=str(prefix), vocab_size=400,
                                   minloglevel=2, **options)
    return prefix.with_suffix(".model")


@pytest.mark.parametrize("options", [{"model_type": "unigram"}, {"model_type": "bpe"},
                                     {"model_type": "unigram", "byte_fallback": True},
                                     {"model_type": "bpe", "byte_fallback": True}])
def test_sentencepiece_model_encodes_like_sentencepiece(tmp_path: Path, sentences: list[str], options) -> None:
    path = train_spm(tmp_path, sentences, **options)
    processor = spm.SentencePieceProcessor(model_file=str(path))
    tokenizer = load_tokenizer_file(path)
    assert [tokenizer.id_to_piece(i) for i in range(4)] == list(SPECIAL_TOKENS)
    assert tokenizer.vocab_size == processor.get_piece_size() + 1  # sentencepiece has no pad by default: added
    for text in sentences[:200] + sentences[-200:] + UNSEEN:
        ids = processor.encode(text)
        assert tokenizer.encode(text) == [tokenizer._hf.token_to_id(processor.id_to_piece(i)) for i in ids], text
        if options.get("byte_fallback"):  # no unk: decoding is exact, as sentencepiece's
            assert tokenizer.decode(tokenizer.encode(text)) == processor.decode(ids)


def test_hf_tokenizer_json_is_remapped_to_our_ids(tmp_path: Path, sentences: list[str]) -> None:
    original = HFTokenizer.from_file(str(_hf_bpe(tmp_path / "tokenizer.json", sentences)))
    tokenizer = load_tokenizer_file(tmp_path / "tokenizer.json")
    assert [tokenizer.id_to_piece(i) for i in range(4)] == list(SPECIAL_TOKENS)  # pad added, others moved
    assert tokenizer.vocab_size == original.get_vocab_size() + 1
    for text in sentences[:100]:
        tokens = original.encode(text, add_special_tokens=False).tokens
        assert [tokenizer._hf.id_to_token(i) for i in tokenizer.encode(text)] == tokens


def test_special_tokens_with_other_names_are_renamed(tmp_path: Path, sentences: list[str]) -> None:
    original = HFTokenizer(models.WordLevel(unk_token="[UNK]"))
    original.pre_tokenizer = pre_tokenizers.Whitespace()
    original.train_from_iterator(sentences, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[BOS]", "[EOS]"]))
    original.save(str(tmp_path / "tokenizer.json"))
    tokenizer = load_tokenizer_file(tmp_path / "tokenizer.json")
    assert [tokenizer.id_to_piece(i) for i in range(4)] == list(SPECIAL_TOKENS)
    assert tokenizer.vocab_size == original.get_vocab_size()
    assert tokenizer.encode("the zzzunseen dog") == [tokenizer._hf.token_to_id("the"), 3, tokenizer._hf.token_to_id("dog")]


def test_tokenizer_without_sentence_boundaries_is_refused(tmp_path: Path, sentences: list[str]) -> None:
    original = HFTokenizer(models.WordPiece(unk_token="[UNK]"))
    original.pre_tokenizer = pre_tokenizers.Whitespace()
    original.train_from_iterator(sentences, trainers.WordPieceTrainer(vocab_size=300, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    original.save(str(tmp_path / "bert.json"))
    with pytest.raises(DataError, match=r"bert\.json: cannot map its special tokens.*no bos and no eos token.*\[CLS\]"):
        load_tokenizer_file(tmp_path / "bert.json")


def test_sentencepiece_model_without_eos_is_refused(tmp_path: Path, sentences: list[str]) -> None:
    path = train_spm(tmp_path, sentences, bos_id=-1, eos_id=-1)
    with pytest.raises(DataError, match="no bos and no eos token"):
        load_tokenizer_file(path)


def test_bad_files_are_refused_with_the_config_key(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(DataError, match=r"data.tokenizer_file=.*missing.model: file not found"):
        load_tokenizer_file(tmp_path / "missing.model")
    (tmp_path / "vocab.txt").write_text("a\n")
    with pytest.raises(DataError, match=r"expected a Hugging Face tokenizer `.json` or a sentencepiece `.model`"):
        load_tokenizer_file(tmp_path / "vocab.txt")
    (tmp_path / "broken.json").write_text("{}")
    with pytest.raises(DataError, match="not a Hugging Face tokenizer.json"):
        load_tokenizer_file(tmp_path / "broken.json")
    (tmp_path / "broken.model").write_bytes(b"\x00not a model")
    with pytest.raises(DataError, match="not a sentencepiece model"):
        load_tokenizer_file(tmp_path / "broken.model")
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # as if the package were not installed
    with pytest.raises(DataError, match=r"pip install 'transformer_lab\[spm\]'"):
        load_tokenizer_file(tmp_path / "broken.model")


def _hf_bpe(path: Path, sentences: list[str]) -> Path:
    original = HFTokenizer(models.BPE(unk_token="<unk>"))
    original.pre_tokenizer = pre_tokenizers.Whitespace()
    original.train_from_iterator(sentences, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "</s>", "<s>"]))
    original.save(str(path))
    return path


@pytest.mark.parametrize("kind", ["sentencepiece", "hf"])
def test_datamodule_builds_the_dataset_with_a_tokenizer_file(tiny_corpus: Path, tmp_path: Path,
                                                             sentences: list[str], kind: str) -> None:
    if kind == "sentencepiece":
        path = train_spm(tmp_path / "spm", sentences, byte_fallback=True)
        processor = spm.SentencePieceProcessor(model_file=str(path))
        expected_pieces, expected_size = processor.encode_as_pieces, processor.get_piece_size() + 1
    else:
        path = _hf_bpe(tmp_path / "tokenizer.json", sentences)
        original = HFTokenizer.from_file(str(path))
        expected_pieces = lambda text: original.encode(text, add_special_tokens=False).tokens  # noqa: E731
        expected_size = original.get_vocab_size() + 1
    dm = TranslationDataModule("parallel_text", dir=str(tiny_corpus), src_lang="en", tgt_lang="de",
                               tokenizer_file=str(path), max_length_ratio=3.0, cache_dir=str(tmp_path / "cache"))
    dm.prepare_data()
    assert dm.tokenizer.to_json() == load_tokenizer_file(path).to_json()
    # checkpoints carry the tokenizer as JSON and evaluate compares JSON: it must survive the round trip
    assert Tokenizer.from_json(dm.tokenizer.to_json()).to_json() == dm.tokenizer.to_json()
    assert dm.manifest["vocab_size"] == expected_size
    for index in range(len(dm.dataset("valid"))):
        source = dm.split_texts("valid")[0][index]
        pieces = dm.dataset("valid").pair(index)[0]
        assert [dm.tokenizer._hf.id_to_token(i) for i in pieces] == expected_pieces(source)


def test_missing_or_corrupt_tokenizer_files_say_what_they_are(tmp_path: Path, sentences: list[str]) -> None:
    hf_json = _hf_bpe(tmp_path / "good.json", sentences).read_bytes()
    spm_model = train_spm(tmp_path / "spm", sentences).read_bytes()
    (tmp_path / "folder.json").mkdir()
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.trainer_spec.model_type = 1  # parses, but no pieces: e.g. a copy cut after its header
    spec_only = proto.SerializeToString()
    cases = {
        "folder.json": (None, r"folder\.json is a directory; give the tokenizer file inside it"),
        "nowhere/tok.json": (None, r"nowhere/tok\.json: file not found"),
        "empty.json": (b"", r"empty\.json is empty \(0 bytes"),
        "empty.model": (b"", r"empty\.model is empty \(0 bytes"),
        "cut.json": (hf_json[: len(hf_json) // 2], r"cut\.json: not a Hugging Face tokenizer\.json \(.*line \d+ column"),
        "latin1.json": ("{\"größe\": 1}".encode("latin-1"), r"latin1\.json: not a Hugging Face tokenizer\.json"),
        "list.json": (b"[1, 2]", r"list\.json: not a Hugging Face tokenizer\.json"),
        "cut.model": (spm_model[:7], r"cut\.model: not a sentencepiece model"),
        "json.model": (hf_json, r"json\.model: not a sentencepiece model"),
        "zeros.model": (b"\x00" * 64, r"zeros\.model: not a sentencepiece model"),
        "spec_only.model": (spec_only, r"spec_only\.model: not a sentencepiece model \(it holds no pieces"),
        "unknown_field.model": (b"\xf8\x07\x01" * 5, r"unknown_field\.model: not a sentencepiece model \(it holds no"),
    }
    for name, (data, message) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError, match=rf"^data\.tokenizer_file={tmp_path}/{message}"):
            load_tokenizer_file(tmp_path / name)


def test_boundary_tokens_that_are_not_marked_special_are_named(tmp_path: Path, sentences: list[str]) -> None:
    import json

    data = json.loads(_hf_bpe(tmp_path / "good.json", sentences).read_text())
    for dropped, named in ((("</s>", "<s>"), "<s>, </s> are ordinary tokens there"),
                           (("</s>",), "</s> is an ordinary token there")):
        for token in data["added_tokens"]:
            token["special"] = token["content"] not in dropped
        (tmp_path / "plain.json").write_text(json.dumps(data))
        with pytest.raises(DataError, match=rf"no {'bos and no eos' if len(dropped) == 2 else 'eos'} token found.*"
                                            rf"{named}, not special ones: mark them special"):
            load_tokenizer_file(tmp_path / "plain.json")
