"""A tokenizer from its stored form (a checkpoint's `tokenizer_json`, the data cache's `tokenizer.json`),
whatever its kind: the joint BPE (`bpe.py`, a Hugging Face `tokenizers` JSON, also what `external.py`
converts to) or the sentencepiece pair of an imported MarianMT model (`sentencepiece_pair.py`).

Every kind has the same interface: `encode` (source text), `encode_target` (target text), their `_batch`
forms, `decode` (target ids), `id_to_piece`, `pieces`, `vocab_size`, the special ids, `to_json`, `save`.
"""

from __future__ import annotations

import os
from pathlib import Path

from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.data.tokenizers.sentencepiece_pair import (
    KIND,
    SentencePiecePairTokenizer,
)

AnyTokenizer = Tokenizer | SentencePiecePairTokenizer


def stored_kind(text: str) -> str:
    """`sentencepiece_pair` for SentencePiecePairTokenizer.to_json's text (its first key), else `bpe`."""
    return KIND if text.lstrip().startswith(f'{{"kind": "{KIND}"') else "bpe"


def tokenizer_from_json(text: str) -> AnyTokenizer:
    """The tokenizer whose `to_json()` gave `text`."""
    if stored_kind(text) == KIND:
        return SentencePiecePairTokenizer.from_json(text)
    return Tokenizer.from_json(text)


def load_tokenizer(path: str | os.PathLike) -> AnyTokenizer:
    """The tokenizer saved at `path` (by either kind's `save`)."""
    return tokenizer_from_json(Path(path).read_text(encoding="utf-8"))
