from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from transformer_lab.data import DataError, TranslationDataModule
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID


def make_dm(corpus_dir: Path, cache: Path, **overrides) -> TranslationDataModule:
    options = dict(dir=str(corpus_dir), src_lang="en", tgt_lang="de", vocab_size=300, min_frequency=1,
                   max_tokens=120, eval_max_tokens=100, max_length_ratio=3.0, cache_dir=str(cache), seed=11)
    options.update(overrides)
    return TranslationDataModule("parallel_text", **options)


def test_batches_match_the_contract(tiny_corpus: Path, tmp_path: Path) -> None:
    dm = make_dm(tiny_corpus, tmp_path / "cache")
    dm.prepare_data()
    dm.setup("fit")
    tokenizer = dm.tokenizer
    sources, references = dm.split_texts("valid")
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        for batch in loader:
            assert set(batch) == {"src", "tgt_in", "tgt_out", "index"}
            assert all(t.dtype == torch.int64 for t in batch.values())
            B, S = batch["src"].shape
            assert batch["tgt_in"].shape == batch["tgt_out"].shape and batch["tgt_in"].shape[0] == B
            assert batch["index"].shape == (B,)
            assert (batch["tgt_in"][:, 0] == BOS_ID).all()
            for row in range(B):
                src, tgt_in, tgt_out = (batch[k][row].tolist() for k in ("src", "tgt_in", "tgt_out"))
                n_src = src.index(EOS_ID)
                assert set(src[n_src + 1 :]) <= {PAD_ID} and PAD_ID not in src[:n_src]
                n_tgt = tgt_out.index(EOS_ID)
                assert tgt_in[1 : n_tgt + 1] == tgt_out[:n_tgt]  # shifted right
                assert set(tgt_in[n_tgt + 1 :]) <= {PAD_ID} and set(tgt_out[n_tgt + 1 :]) <= {PAD_ID}
            if loader.dataset.split == "valid":
                for row, index in enumerate(batch["index"].tolist()):  # aligned with split_texts
                    assert tokenizer.decode(batch["src"][row]) == sources[index]
                    assert tokenizer.decode(batch["tgt_out"][row]) == references[index]


def test_prepare_is_idempotent_and_tokenizer_available_before_setup(tiny_corpus: Path, tmp_path: Path) -> None:
    dm = make_dm(tiny_corpus, tmp_path / "cache")
    dm.prepare_data()
    first = dm.directory
    dm.prepare_data()
    assert dm.directory == first and dm.tokenizer.vocab_size <= 300


def fake_trainer(world_size: int, rank: int, processed: int = 0) -> SimpleNamespace:
    progress = SimpleNamespace(current=SimpleNamespace(processed=processed))
    return SimpleNamespace(world_size=world_size, global_rank=rank,
                           fit_loop=SimpleNamespace(epoch_loop=SimpleNamespace(batch_progress=progress)))


def test_ddp_ranks_get_equal_train_batches_and_cover_valid_once(tiny_corpus: Path, tmp_path: Path) -> None:
    loaders = []
    for rank in (0, 1):
        dm = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
        dm.trainer = fake_trainer(2, rank)
        loaders.append((dm.train_dataloader(), dm.val_dataloader()))
    train = [[b["index"].tolist() for b in train] for train, _ in loaders]
    assert len(train[0]) == len(train[1]) > 0
    assert not {i for b in train[0] for i in b} & {i for b in train[1] for i in b}
    valid = sorted(i for _, val in loaders for b in val for i in b["index"].tolist())
    assert valid == list(range(6))


def test_state_dict_uses_consumed_batches_and_resumes(tiny_corpus: Path, tmp_path: Path) -> None:
    dm = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
    uninterrupted = [b["index"].tolist() for b in dm.train_dataloader()]
    n = len(uninterrupted)
    assert n >= 4

    dm = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
    dm.trainer = fake_trainer(1, 0)
    iterator = iter(dm.train_dataloader())
    seen = [next(iterator)["index"].tolist() for _ in range(3)]  # the loader prefetched further than this
    dm.trainer.fit_loop.epoch_loop.batch_progress.current.processed = 2  # training consumed only 2
    state = dm.state_dict()
    assert state == {"epoch": 0, "batches_consumed": 2}

    resumed = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
    resumed.load_state_dict(state)  # Lightning restores the datamodule before building loaders
    rest = [b["index"].tolist() for b in resumed.train_dataloader()]
    assert seen[:2] + rest == uninterrupted
    assert len(resumed.train_dataloader()) == n


def test_state_at_end_of_epoch_points_to_next_epoch(tiny_corpus: Path, tmp_path: Path) -> None:
    dm = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
    loader = dm.train_dataloader()
    dm.trainer = fake_trainer(1, 0, processed=len(loader))
    list(loader)
    assert dm.state_dict() == {"epoch": 1, "batches_consumed": 0}


def test_workers_produce_the_same_batches(tiny_corpus: Path, tmp_path: Path) -> None:
    plain = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60)
    workers = make_dm(tiny_corpus, tmp_path / "cache", max_tokens=60, num_workers=2)
    a = [b["src"].tolist() for b in plain.train_dataloader()]
    b = [b["src"].tolist() for b in workers.train_dataloader()]
    assert a == b


def test_training_batches_are_padded_to_the_multiple_and_hold_the_same_sentences(tiny_corpus: Path,
                                                                                  tmp_path: Path) -> None:
    plain, padded = (make_dm(tiny_corpus, tmp_path / "cache", pad_to_multiple_of=m) for m in (1, 8))
    for dm in (plain, padded):
        dm.prepare_data()
        dm.setup("fit")
    for a, b in zip(plain.train_dataloader(), padded.train_dataloader(), strict=True):
        assert torch.equal(a["index"], b["index"])  # the token budget counts unpadded lengths: same batches
        for key in ("src", "tgt_in", "tgt_out"):
            assert b[key].shape[1] % 8 == 0 and b[key].shape[1] - a[key].shape[1] < 8
            assert torch.equal(b[key][:, : a[key].shape[1]], a[key]) and (b[key][:, a[key].shape[1] :] == PAD_ID).all()
    for a, b in zip(plain.val_dataloader(), padded.val_dataloader(), strict=True):
        assert all(torch.equal(a[key], b[key]) for key in a)  # evaluation batches are never padded further


@pytest.mark.parametrize("value", [0, -8, 2.0, True])
def test_a_bad_pad_to_multiple_of_is_refused_naming_the_key(tiny_corpus: Path, tmp_path: Path, value) -> None:
    with pytest.raises(DataError, match=r"data\.pad_to_multiple_of=.* is not valid: it must be an integer >= 1"):
        make_dm(tiny_corpus, tmp_path / "cache", pad_to_multiple_of=value)
