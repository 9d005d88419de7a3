"""Binarized splits: one flat int32 token array + int64 offsets per split and side, memory-mapped.

Layout inside a prepared cache directory (see `cache.py`):
    {split}.{side}.tokens.npy   int32 (N_tokens,)   pieces of every sentence, concatenated
    {split}.{side}.offsets.npy  int64 (N + 1,)      sentence i is tokens[offsets[i]:offsets[i+1]]
with side in {src, tgt}. Special tokens are not stored; `make_batch` adds eos/bos per the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

SIDES = ("src", "tgt")


def write_side(directory: Path, split: str, side: str, tokens: np.ndarray, lengths: np.ndarray) -> None:
    """Write one side of one split (the caller makes the whole directory appear atomically)."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    np.save(directory / f"{split}.{side}.tokens.npy", np.asarray(tokens, dtype=np.int32))
    np.save(directory / f"{split}.{side}.offsets.npy", offsets)


def make_batch(sources: Sequence[np.ndarray], targets: Sequence[np.ndarray], indices: Sequence[int]) -> dict[str, torch.Tensor]:
    """The contract's batch: src = pieces+eos, tgt_in = bos+pieces, tgt_out = pieces+eos, right-padded."""
    batch_size = len(sources)
    src_len = max(len(s) for s in sources) + 1
    tgt_len = max(len(t) for t in targets) + 1
    src = np.full((batch_size, src_len), PAD_ID, dtype=np.int64)  # (B, S)
    tgt_in = np.full((batch_size, tgt_len), PAD_ID, dtype=np.int64)  # (B, T)
    tgt_out = np.full((batch_size, tgt_len), PAD_ID, dtype=np.int64)  # (B, T)
    for row, (s, t) in enumerate(zip(sources, targets)):
        src[row, : len(s)] = s
        src[row, len(s)] = EOS_ID
        tgt_in[row, 0] = BOS_ID
        tgt_in[row, 1 : len(t) + 1] = t
        tgt_out[row, : len(t)] = t
        tgt_out[row, len(t)] = EOS_ID
    return {
        "src": torch.from_numpy(src),
        "tgt_in": torch.from_numpy(tgt_in),
        "tgt_out": torch.from_numpy(tgt_out),
        "index": torch.as_tensor(np.asarray(indices, dtype=np.int64)),
    }


class TranslationDataset(Dataset):
    """One binarized split. `dataset[list_of_indices]` returns a whole batch dict (batched fetching:
    the DataLoader is built with `sampler=<batch sampler>, batch_size=None`).

    The arrays are opened lazily and not pickled, so DataLoader workers map the files themselves
    instead of receiving a copy of the data.
    """

    def __init__(self, directory: str | Path, split: str) -> None:
        self.directory, self.split = Path(directory), split
        self._arrays: dict[str, np.ndarray] | None = None
        offsets = {side: np.load(self._path(side, "offsets")) for side in SIDES}
        lengths = {side: np.diff(offsets[side]) for side in SIDES}
        self.src_lengths = lengths["src"] + 1  # + eos: the length of batch["src"] rows
        self.tgt_lengths = lengths["tgt"] + 1  # + bos (tgt_in) or eos (tgt_out)

    def _path(self, side: str, kind: str) -> Path:
        return self.directory / f"{self.split}.{side}.{kind}.npy"

    def _open(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = {}
            for side in SIDES:
                self._arrays[f"{side}.tokens"] = np.load(self._path(side, "tokens"), mmap_mode="r")
                self._arrays[f"{side}.offsets"] = np.load(self._path(side, "offsets"))
        return self._arrays

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None
        return state

    def __len__(self) -> int:
        return len(self.src_lengths)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Piece ids (no specials) of example `index`: (source, target)."""
        arrays = self._open()
        out = []
        for side in SIDES:
            offsets = arrays[f"{side}.offsets"]
            out.append(np.asarray(arrays[f"{side}.tokens"][offsets[index] : offsets[index + 1]]))
        return out[0], out[1]

    def __getitem__(self, indices: int | Sequence[int]) -> dict[str, torch.Tensor]:
        if isinstance(indices, (int, np.integer)):
            indices = [int(indices)]
        pairs = [self.pair(i) for i in indices]
        return make_batch([p[0] for p in pairs], [p[1] for p in pairs], indices)
