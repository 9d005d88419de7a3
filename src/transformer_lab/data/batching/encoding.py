"""Token ids as the model reads them (docs/ARCHITECTURE.md, "Token ids" and "Batches"): the one place that
adds eos and bos and pads.

    source, decoder target: pieces + [eos], right-padded with pad     append_eos_and_pad
    decoder input:          [bos] + pieces, right-padded with pad     prepend_bos_and_pad

Pieces are subword ids without specials (`Tokenizer.encode`, the binarized cache). The dataset's batches
(`make_batch`), `translate` and the benchmarks all go through these functions.

`multiple_of` rounds the padded width up (training batches with `data.pad_to_multiple_of`): a compiled
training step then sees a few lengths instead of one per batch, and the extra columns are pad like any other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

Pieces = Sequence[int] | np.ndarray  # one sentence's subword ids, no specials


def padded_width(longest: int, multiple_of: int = 1) -> int:
    """The smallest multiple of `multiple_of` that is >= `longest`."""
    if multiple_of < 1:
        raise ValueError(f"multiple_of must be an integer >= 1, got {multiple_of!r}")
    return -(-longest // multiple_of) * multiple_of


def append_eos_and_pad(pieces: Sequence[Pieces], multiple_of: int = 1) -> torch.Tensor:
    """(B, L) int64, L = longest + 1 rounded up to `multiple_of`: row i is pieces[i] + [eos], right-padded with pad."""
    out = np.full((len(pieces), padded_width(max(len(p) for p in pieces) + 1, multiple_of)), PAD_ID, dtype=np.int64)
    for row, ids in enumerate(pieces):
        out[row, : len(ids)] = ids
        out[row, len(ids)] = EOS_ID
    return torch.from_numpy(out)


def prepend_bos_and_pad(pieces: Sequence[Pieces], multiple_of: int = 1) -> torch.Tensor:
    """(B, L) int64, L = longest + 1 rounded up to `multiple_of`: row i is [bos] + pieces[i], right-padded with pad."""
    out = np.full((len(pieces), padded_width(max(len(p) for p in pieces) + 1, multiple_of)), PAD_ID, dtype=np.int64)
    out[:, 0] = BOS_ID
    for row, ids in enumerate(pieces):
        out[row, 1 : len(ids) + 1] = ids
    return torch.from_numpy(out)


def make_batch(
    *, sources: Sequence[Pieces], targets: Sequence[Pieces], indices: Sequence[int], multiple_of: int = 1
) -> dict[str, torch.Tensor]:
    """The contract's batch: src (B, S) = pieces+eos, tgt_in (B, T) = bos+pieces, tgt_out (B, T) =
    pieces+eos, right-padded (S and T rounded up to `multiple_of`); index (B,) the examples' positions in
    their split."""
    return {
        "src": append_eos_and_pad(sources, multiple_of),
        "tgt_in": prepend_bos_and_pad(targets, multiple_of),
        "tgt_out": append_eos_and_pad(targets, multiple_of),
        "index": torch.as_tensor(np.asarray(indices, dtype=np.int64)),
    }


def encode_sources(tokenizer, sentences: Sequence[str]) -> torch.Tensor:
    """Raw sentences -> src (B, S) int64: each one's pieces + eos, right-padded."""
    return append_eos_and_pad([tokenizer.encode(text) for text in sentences])


def length_sorted_batches(tokenizer, sentences: Sequence[str], batch_size: int) -> list[tuple[list[int], torch.Tensor]]:
    """[(indices, src (b, S))]: the sentences sorted by encoded length (stable: ties in input order) and cut
    into batches of `batch_size`, so that each batch carries little padding; `indices` are the positions of
    its rows in `sentences`."""
    pieces = [tokenizer.encode(text) for text in sentences]
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    return [(chunk, append_eos_and_pad([pieces[i] for i in chunk]))
            for chunk in (order[start : start + batch_size] for start in range(0, len(order), batch_size))]
