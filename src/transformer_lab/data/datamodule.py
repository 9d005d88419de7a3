"""`TranslationDataModule`: the data config's keys are its constructor arguments."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from transformer_lab.data.batching.samplers import EvalBatchSampler, TokenBucketBatchSampler
from transformer_lab.data.cache.dataset import TranslationDataset
from transformer_lab.data.cache.pipeline import DataSettings, load_manifest, prepare
from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.corpora import Corpus
from transformer_lab.data.readers.factory import build_corpus
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.data.tokenizers.stored import AnyTokenizer, load_tokenizer

log = logging.getLogger(__name__)


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning recognizes as resumable (it has state_dict/load_state_dict).

    The state is the data module's (consumed batches, not prefetched ones); Lightning saves it in the
    checkpoint's loop state and loads it back into the sampler before the resumed epoch starts. Loading
    it twice (here and through `TranslationDataModule.load_state_dict`) is harmless: it is the same state.
    """

    def __init__(self, *args: Any, state_owner: "TranslationDataModule", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._state_owner = state_owner

    def state_dict(self) -> dict[str, int]:
        return self._state_owner.state_dict()

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self._state_owner.load_state_dict(state_dict)


def resolve_pin_memory(pin_memory: bool | str) -> bool:
    """`data.pin_memory`: true, false or "auto" (true exactly when a CUDA device is visible)."""
    if pin_memory == "auto":
        return torch.cuda.is_available()
    if isinstance(pin_memory, bool):
        return pin_memory
    raise DataError(f"data.pin_memory={pin_memory!r}: expected true, false or auto")


class TranslationDataModule(L.LightningDataModule):
    """Parallel corpus -> cleaned pairs -> joint BPE -> binarized cache -> token-bucket batches.

    Batches follow docs/ARCHITECTURE.md; `index` is the position in the split as cached (for valid/test:
    the line number in the file, 0-based; for train: the position after cleaning and filtering).

    Args:
        corpus: `builtin` | `parallel_text` | a mapping `{kind: ..., ...}` (see `corpus_factory.py`).
        dir, src_lang, tgt_lang: for `parallel_text`: DIR/{train,valid,test}.{src_lang,tgt_lang}.
        vocab_size: joint BPE vocabulary size, special tokens included.
        min_frequency: minimum pair count for a BPE merge.
        max_tokens: training tokens per batch per device, padding included, each side.
        eval_max_tokens: the same for valid/test batches (default: max_tokens).
        pad_to_multiple_of: training batches' source and target lengths are padded up to a multiple of
            this (1: to the longest sentence only). A compiled training step (`compile.enabled`) then sees
            few distinct shapes. The batches hold the same sentences whatever the value: the token budget
            counts unpadded lengths, so a padded batch can exceed max_tokens by up to (multiple - 1) per row.
            Valid/test batches are never padded further (decoding is eager).
        max_length: training pairs with a side over this many subwords are dropped (dev/test never are).
        max_chars: training pairs with a side over this many characters are dropped before BPE training.
        max_length_ratio: training pairs whose longer side exceeds ratio x the shorter (subwords) are dropped.
        bpe_sample_sentences: train the BPE on a uniform random sample of this many cleaned training
            sentences (source and target sides counted together; fixed seed), like sentencepiece's
            `input_sentence_size`. None: every sentence. Bounds the BPE's memory on big corpora.
        tokenizer_file: an existing HF `tokenizer.json` or sentencepiece `.model` to use instead of training
            a BPE (vocab_size, min_frequency and bpe_sample_sentences are then unused); its special tokens
            are mapped to ours, see `data/tokenizers/external.py`.
        cache_dir: where vocabularies and binarized splits are cached.
        seed: seeds the batch order (seed + epoch).
        num_workers, pin_memory: DataLoader settings; pin_memory "auto" pins when a CUDA device is visible
            (pinning without one only earns a warning from PyTorch).
        shuffle: shuffle training batches (turn off only for debugging).
        tokenizer: a tokenizer object to encode with instead of training a BPE or reading `tokenizer_file`
            (`init_from`: the checkpoint's own); not a config key: the job passes it in.
    """

    def __init__(self, corpus: str | Mapping[str, Any] = "builtin", dir: str | None = None,
                 src_lang: str | None = None, tgt_lang: str | None = None, vocab_size: int = 8000,
                 min_frequency: int = 2, max_tokens: int = 4096, eval_max_tokens: int | None = None,
                 pad_to_multiple_of: int = 1,
                 max_length: int = 250, max_chars: int = 1024, max_length_ratio: float = 1.5,
                 bpe_sample_sentences: int | None = None, tokenizer_file: str | None = None,
                 cache_dir: str = "data_cache", seed: int = 0, num_workers: int = 0,
                 pin_memory: bool | str = "auto", shuffle: bool = True, tokenizer: AnyTokenizer | None = None) -> None:
        super().__init__()
        self.corpus_spec = corpus  # plain: the data configs instantiate with `_convert_: all`
        self.dir, self.src_lang, self.tgt_lang = dir, src_lang, tgt_lang
        self.settings = DataSettings(vocab_size=int(vocab_size), min_frequency=int(min_frequency),
                                     max_length=int(max_length), max_chars=int(max_chars),
                                     max_length_ratio=float(max_length_ratio),
                                     bpe_sample_sentences=None if bpe_sample_sentences is None else int(bpe_sample_sentences),
                                     tokenizer_file=str(tokenizer_file) if tokenizer_file else None)
        self.max_tokens = int(max_tokens)
        self.eval_max_tokens = int(eval_max_tokens or max_tokens)
        if not isinstance(pad_to_multiple_of, int) or isinstance(pad_to_multiple_of, bool) or pad_to_multiple_of < 1:
            raise DataError(f"data.pad_to_multiple_of={pad_to_multiple_of!r} is not valid: it must be an integer >= 1 "
                            "(1: no rounding; 8: lengths padded up to multiples of 8)")
        self.pad_to_multiple_of = pad_to_multiple_of
        self.cache_dir, self.seed, self.shuffle = cache_dir, int(seed), shuffle
        self.num_workers, self.pin_memory = int(num_workers), resolve_pin_memory(pin_memory)
        self._given_tokenizer = tokenizer
        self._directory: Path | None = None
        self._datasets: dict[str, TranslationDataset] = {}
        self._train_sampler: TokenBucketBatchSampler | None = None
        self._pending_state: dict[str, int] | None = None

    # ---- preparation -------------------------------------------------------------------------------
    @cached_property
    def corpus(self) -> Corpus:
        return build_corpus(self.corpus_spec, self.dir, self.src_lang, self.tgt_lang)

    def prepare_data(self) -> None:
        """Build (or find) the cache. Idempotent, cheap when cached, safe from several processes."""
        self._directory = prepare(self.corpus, self.settings, self.cache_dir, tokenizer=self._given_tokenizer)

    @property
    def directory(self) -> Path:
        if self._directory is None:
            self.prepare_data()
        assert self._directory is not None
        return self._directory

    @cached_property
    def tokenizer(self) -> Tokenizer:
        if self._given_tokenizer is not None:
            return self._given_tokenizer
        return load_tokenizer(self.directory / "tokenizer.json")  # any stored kind (data/tokenizers/stored.py)

    @property
    def manifest(self) -> dict:
        return load_manifest(self.directory)

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "valid", "test"):
            if split not in self._datasets:
                multiple = self.pad_to_multiple_of if split == "train" else 1
                self._datasets[split] = TranslationDataset(self.directory, split, pad_to_multiple_of=multiple)

    def dataset(self, split: str) -> TranslationDataset:
        if split not in self._datasets:
            self.setup()
        return self._datasets[split]

    @cached_property
    def _texts(self) -> dict[str, dict[str, list[str]]]:
        return json.loads((self.directory / "texts.json").read_text(encoding="utf-8"))

    def split_texts(self, split: str) -> tuple[list[str], list[str]]:
        """(sources, references): cleaned text of `valid` or `test` in file order (= batch["index"])."""
        if split not in self._texts:
            raise DataError(f"split_texts: unknown split {split!r}; raw text is kept for 'valid' and 'test'.")
        return self._texts[split]["src"], self._texts[split]["tgt"]

    # ---- loaders -----------------------------------------------------------------------------------
    def _replicas(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return 1, 0
        world_size = int(trainer.world_size)
        return world_size, int(trainer.global_rank)

    def _loader(self, dataset: TranslationDataset, sampler: Any) -> DataLoader:
        # batch_size=None: the sampler yields whole batches of indices and dataset[indices] builds the
        # batch dict in one call (no per-example collate). A private generator: starting a loader draws
        # its worker seed from it instead of the global RNG, so a validation pass leaves the training
        # dropout stream untouched (what makes a mid-epoch resume reproduce the uninterrupted run).
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                          pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        dataset = self.dataset("train")
        replicas, rank = self._replicas()
        previous = self._train_sampler.state_dict() if self._train_sampler is not None else None
        sampler = TokenBucketBatchSampler(dataset.src_lengths, dataset.tgt_lengths, self.max_tokens,
                                          seed=self.seed, num_replicas=replicas, rank=rank, shuffle=self.shuffle)
        state = self._pending_state or previous
        if state is not None:
            sampler.load_state_dict(state)
        self._pending_state = None
        self._train_sampler = sampler
        return ResumableDataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.num_workers,
                                   pin_memory=self.pin_memory, persistent_workers=self.num_workers > 0,
                                   state_owner=self)

    def _eval_loader(self, split: str) -> DataLoader:
        dataset = self.dataset(split)
        replicas, rank = self._replicas()
        sampler = EvalBatchSampler(dataset.src_lengths, dataset.tgt_lengths, self.eval_max_tokens,
                                   num_replicas=replicas, rank=rank)
        return self._loader(dataset, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    # ---- resumable state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, int]:
        """{"epoch", "batches_consumed"} of the training sampler.

        Attached to a trainer, the consumed count is the fit loop's processed-batch counter: the
        sampler's own count runs ahead of training by the DataLoader's prefetched batches.
        """
        sampler = self._train_sampler
        if sampler is None:
            return dict(self._pending_state or {"epoch": 0, "batches_consumed": 0})
        try:
            consumed = int(self.trainer.fit_loop.epoch_loop.batch_progress.current.processed)  # type: ignore[union-attr]
        except AttributeError:
            return sampler.state_dict()
        epoch = sampler.active_epoch
        if consumed >= len(sampler):
            epoch, consumed = epoch + 1, 0
        return {"epoch": epoch, "batches_consumed": consumed}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        """The next training pass continues with the first batch not consumed before the checkpoint."""
        state = {"epoch": int(state_dict["epoch"]), "batches_consumed": int(state_dict["batches_consumed"])}
        if self._train_sampler is not None:
            self._train_sampler.load_state_dict(state)
        else:
            self._pending_state = state
