"""Import of a MarianMT directory (`export/import_hf.py`): the same tokens, logits and greedy translations as
transformers' MarianMTModel + MarianTokenizer on a local random-weight model, and checkpoints the lab's
commands load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from marian_fixtures import ENGLISH, GERMAN, write_marian_dir

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from transformer_lab.decoding.search import greedy_search
from transformer_lab.export.import_hf import import_marian, imported_module
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

UNSEEN = "Unseen wörds: xyz, 42!"


@pytest.fixture(scope="module")
def marian_dir(tmp_path_factory) -> Path:
    return write_marian_dir(tmp_path_factory.mktemp("opus") / "opus-mt-en-de")


@pytest.fixture(scope="module")
def hf(marian_dir):
    from transformers import MarianMTModel, MarianTokenizer

    return MarianMTModel.from_pretrained(str(marian_dir)).eval(), MarianTokenizer.from_pretrained(str(marian_dir))


@pytest.fixture(scope="module")
def module(marian_dir):
    return imported_module(marian_dir)


def marian_to_lab(module, marian_ids: list[int], tokenizer) -> list[int]:
    """Marian ids -> ours, through the pieces (the import's re-ordering)."""
    ours = {piece: i for i, piece in enumerate(module.tokenizer.vocabulary)}
    return [ours[tokenizer.convert_ids_to_tokens(i)] for i in marian_ids]


def test_source_and_target_texts_encode_as_marian_tokenizer(module, hf):
    _, tokenizer = hf
    for text in ENGLISH + [UNSEEN]:
        marian = tokenizer(text)["input_ids"]  # pieces + </s>
        assert marian_to_lab(module, marian, tokenizer) == module.tokenizer.encode(text) + [EOS_ID]
    for text in GERMAN + [UNSEEN]:
        marian = tokenizer(text_target=text)["input_ids"]
        assert marian_to_lab(module, marian, tokenizer) == module.tokenizer.encode_target(text) + [EOS_ID]
    assert module.tokenizer.encode_target(GERMAN[0]) != module.tokenizer.encode(GERMAN[0])  # two models


def test_logits_match_marian_within_1e_4(module, hf):
    marian, tokenizer = hf
    batch = tokenizer(ENGLISH[:3], text_target=GERMAN[:3], padding=True, return_tensors="pt")
    labels = batch["labels"]  # (B, T) target + </s>, padded with <pad>
    start = torch.full((labels.size(0), 1), marian.config.decoder_start_token_id)
    with torch.no_grad():
        theirs = marian(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        decoder_input_ids=torch.cat([start, labels[:, :-1]], dim=1)).logits  # (B, T, V)
        src = torch.tensor([marian_to_lab(module, row.tolist(), tokenizer) for row in batch["input_ids"]])
        tgt = torch.tensor([marian_to_lab(module, row.tolist(), tokenizer) for row in labels])
        tgt_in = torch.cat([torch.full((tgt.size(0), 1), BOS_ID), tgt[:, :-1]], dim=1)
        ours = module.model(src, tgt_in)  # (B, T, V + 1)
    real = labels != marian.config.pad_token_id  # compare where the target is real
    rows = marian_to_lab(module, list(range(marian.config.vocab_size)), tokenizer)  # ours of each Marian id
    difference = (ours[..., rows] - theirs)[real].abs().max().item()
    assert difference < 1e-4, difference
    assert theirs[real].abs().max() > 1.0  # the comparison is not between near-zero logits


def test_greedy_tokens_match_generate(module, hf):
    marian, tokenizer = hf
    max_new, outputs = 15, set()
    generator = torch.Generator().manual_seed(0)
    random_sources = [torch.randint(2, marian.config.vocab_size - 1, (n,), generator=generator).tolist() + [0]
                      for n in (3, 7, 11, 20)]  # Marian ids, </s> last
    texts = [tokenizer(text)["input_ids"] for text in ENGLISH + [UNSEEN]]
    for marian_src in texts + random_sources:
        with torch.no_grad():
            theirs = marian.generate(input_ids=torch.tensor([marian_src]), num_beams=1, do_sample=False,
                                     max_new_tokens=max_new, bad_words_ids=[[marian.config.pad_token_id]])
            src = torch.tensor([marian_to_lab(module, marian_src, tokenizer)])
            out = greedy_search(module.model, src, max_len_a=0.0, max_len_b=max_new)
        ours = [t for t in out.tokens[0].tolist() if t != PAD_ID]
        assert ours == marian_to_lab(module, theirs[0, 1:].tolist(), tokenizer), marian_src
        outputs.add(tuple(ours))
    assert len(outputs) > 3  # the outputs depend on the input


def test_the_added_bos_row_is_marians_decoder_start_and_never_emitted(module, hf):
    marian, _ = hf
    pad = marian.config.pad_token_id
    embedding = module.model.decoder.embedding.weight
    assert torch.equal(embedding[BOS_ID], embedding[PAD_ID])  # both are Marian's <pad> row
    assert module.tokenizer.vocab_size == marian.config.vocab_size + 1
    assert marian.config.decoder_start_token_id == pad


def test_decode_gives_marian_tokenizers_text(module, hf):
    _, tokenizer = hf
    for text in GERMAN[:4]:
        marian = tokenizer(text_target=text)["input_ids"]
        ours = module.tokenizer.encode_target(text) + [EOS_ID]
        assert module.tokenizer.decode(ours) == tokenizer.decode(marian, skip_special_tokens=True)


def test_the_checkpoint_translates_as_generate(marian_dir, hf, tmp_path):
    from transformer_lab.inference.loading import module_from_checkpoint
    from transformer_lab.inference.translation import translate_lines

    marian, tokenizer = hf
    out = import_marian(marian_dir, tmp_path / "opus.ckpt")
    loaded, _ = module_from_checkpoint(out)
    from transformer_lab.decoding.config import SearchConfig

    search = SearchConfig(strategy="greedy", beam_size=1, max_len_a=0.0, max_len_b=10)
    ours = translate_lines(loaded, ENGLISH[:3], search)
    with torch.no_grad():
        ids = marian.generate(**tokenizer(ENGLISH[:3], return_tensors="pt", padding=True), num_beams=1,
                              do_sample=False, max_new_tokens=10, bad_words_ids=[[marian.config.pad_token_id]])
    assert ours == tokenizer.batch_decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("out", ["absent", "empty"])
def test_ct2_export_of_an_imported_tokenizer_is_refused_before_writing(out, module, tmp_path):
    from transformer_lab.export.ct2 import export_ct2
    from transformer_lab.export.hf import ExportError

    target = tmp_path / "ct2"
    if out == "empty":
        target.mkdir()
    with pytest.raises(ExportError, match="imported sentencepiece pair: export it --to hf"):
        export_ct2(module, target)
    assert not target.exists() or not any(target.iterdir())
    assert [p.name for p in tmp_path.iterdir()] == (["ct2"] if out == "empty" else [])
