"""Binarized splits: one flat int32 token array + int64 offsets per split and side, memory-mapped.

Layout inside a prepared cache directory (see `cache.py`):
    {split}.{side}.tokens.npy   int32 (N_tokens,)   pieces of every sentence, concatenated
    {split}.{side}.offsets.npy  int64 (N + 1,)      sentence i is tokens[offsets[i]:offsets[i+1]]
with side in {src, tgt}. Special tokens are not stored; `encoding.make_batch` adds eos/bos per the contract.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from transformer_lab.data.batching.encoding import make_batch

SIDES = ("src", "tgt")


class _NpyAppender:
    """A 1-D .npy file written chunk by chunk. The header is written last, with the final length, so the
    file is byte for byte what `np.save` writes for the concatenated chunks (numpy's own header writer,
    format 1.0; its header is padded to 128 bytes for any 1-D length up to 2**63)."""

    def __init__(self, path: Path, dtype: type) -> None:
        self.dtype, self.count = np.dtype(dtype), 0
        self._handle = open(path, "wb")
        self._header_size = len(self._header(np.iinfo(np.int64).max))
        self._handle.write(b"\0" * self._header_size)

    def _header(self, length: int) -> bytes:
        buffer = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            buffer, {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": (length,)})
        return buffer.getvalue()

    def append(self, values: np.ndarray) -> None:
        values = np.ascontiguousarray(values, dtype=self.dtype)
        self._handle.write(values.tobytes())
        self.count += len(values)

    def close(self) -> None:
        header = self._header(self.count)
        assert len(header) == self._header_size, "numpy pads every 1-D header to the same size"
        self._handle.seek(0)
        self._handle.write(header)
        self._handle.close()


class SplitWriter:
    """Writes one split (both sides) in chunks: memory holds one chunk, whatever the split's size.

    `append` takes a chunk's pieces per sentence; the caller makes the whole directory appear atomically.
    """

    def __init__(self, directory: Path, split: str) -> None:
        self._tokens = {side: _NpyAppender(directory / f"{split}.{side}.tokens.npy", np.int32) for side in SIDES}
        self._offsets = {side: _NpyAppender(directory / f"{split}.{side}.offsets.npy", np.int64) for side in SIDES}
        self._ends = {side: 0 for side in SIDES}
        for offsets in self._offsets.values():
            offsets.append(np.zeros(1, dtype=np.int64))

    def append(self, sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> None:
        for side, sentences in (("src", sources), ("tgt", targets)):
            lengths = np.fromiter((len(ids) for ids in sentences), dtype=np.int64, count=len(sentences))
            self._tokens[side].append(np.fromiter(itertools.chain.from_iterable(sentences), dtype=np.int32,
                                                  count=int(lengths.sum())))
            ends = self._ends[side] + np.cumsum(lengths)
            self._offsets[side].append(ends)
            self._ends[side] = int(ends[-1]) if len(ends) else self._ends[side]

    def __enter__(self) -> SplitWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for appender in (*self._tokens.values(), *self._offsets.values()):
            appender.close()


class TranslationDataset(Dataset):
    """One binarized split. `dataset[list_of_indices]` returns a whole batch dict (batched fetching:
    the DataLoader is built with `sampler=<batch sampler>, batch_size=None`), its lengths padded up to a
    multiple of `pad_to_multiple_of`. `src_lengths`/`tgt_lengths` stay the unpadded lengths.

    The arrays are opened lazily and not pickled, so DataLoader workers map the files themselves
    instead of receiving a copy of the data.
    """

    def __init__(self, directory: str | Path, split: str, pad_to_multiple_of: int = 1) -> None:
        # checked by the datamodule (naming the config key) and by `padded_width` when a batch is made
        self.directory, self.split, self.pad_to_multiple_of = Path(directory), split, pad_to_multiple_of
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
        return make_batch(sources=[p[0] for p in pairs], targets=[p[1] for p in pairs], indices=indices,
                          multiple_of=self.pad_to_multiple_of)
