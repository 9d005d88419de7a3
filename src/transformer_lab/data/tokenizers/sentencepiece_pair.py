"""Two sentencepiece models (source, target) over one shared vocabulary: the tokenizer of an imported
MarianMT (OPUS-MT) model, as `transformers.MarianTokenizer` tokenizes.

What MarianTokenizer does, and what this does the same way:
  - a source line is split into pieces by `source.spm`, a target line by `target.spm` (`encode` /
    `encode_target`); each piece is looked up in the shared vocabulary, a piece not in it is `<unk>`;
  - a leading language code `>>xx<<` (multilingual models) is one token when the vocabulary has it;
  - ids are decoded to pieces and joined by `target.spm` (`decode_pieces`), special tokens skipped.
deviation: MarianTokenizer joins pieces with the *source* model when the vocabulary is shared (its default);
the text here is target text, so the target model joins it. The two give the same text unless the models'
denormalization rules differ (OPUS-MT's have none).

The vocabulary is in our id order (pad 0, bos 1, eos 2, unk 3, `transformer_lab.special_tokens`): the
import re-orders Marian's (see `export/marian_import.py`). The whole tokenizer, both models' bytes
included, is one JSON string (`to_json`), which checkpoints carry as `tokenizer_json` (plain str:
`weights_only=True` loads it) and `data/tokenizers/stored.py` rebuilds.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from transformer_lab.special_tokens import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
)

KIND = "sentencepiece_pair"  # the `kind` of the stored JSON (stored.py dispatches on it)
FORMAT_VERSION = 1


def load_sentencepiece(model: bytes, where: str):
    """A `sentencepiece.SentencePieceProcessor` of a serialized model; ValueError naming `where` if corrupt."""
    try:
        import sentencepiece
    except ImportError as error:
        raise ImportError(f"{where} needs sentencepiece: pip install 'transformer_lab[spm]' ({error})") from error
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(model)
    except (RuntimeError, OSError, TypeError) as error:
        raise ValueError(f"{where} is not a readable sentencepiece model ({str(error).splitlines()[0]}); "
                         "copy the file again from the model's source") from None
    return processor


class SentencePiecePairTokenizer:
    """Source and target sentencepiece models and one vocabulary (`pieces[i]` = the piece of id i)."""

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, source_model: bytes, target_model: bytes, pieces: Sequence[str]) -> None:
        if tuple(pieces[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"the vocabulary must start with {SPECIAL_TOKENS} (our ids), starts with "
                             f"{tuple(pieces[: len(SPECIAL_TOKENS)])}")
        if len(set(pieces)) != len(pieces):
            duplicates = sorted({p for p in pieces if pieces.count(p) > 1})[:5]
            raise ValueError(f"the vocabulary names a piece twice: {duplicates}")
        self._models = (bytes(source_model), bytes(target_model))
        self._source = load_sentencepiece(self._models[0], "the source sentencepiece model")
        self._target = load_sentencepiece(self._models[1], "the target sentencepiece model")
        self._pieces = list(pieces)
        self._ids = {piece: i for i, piece in enumerate(self._pieces)}
        self._skipped = set(range(len(SPECIAL_TOKENS)))  # decode drops pad, bos, unk (and stops at eos)

    # ---- stored form ----
    def to_json(self) -> str:
        """The whole tokenizer (both models' bytes in base64, the vocabulary) as one JSON string."""
        return json.dumps({
            "kind": KIND, "version": FORMAT_VERSION,
            "source_spm": base64.b64encode(self._models[0]).decode("ascii"),
            "target_spm": base64.b64encode(self._models[1]).decode("ascii"),
            "pieces": self._pieces,
        }, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SentencePiecePairTokenizer:
        """Inverse of `to_json`."""
        stored = json.loads(text)
        if stored.get("kind") != KIND or stored.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a stored {KIND} tokenizer of version {FORMAT_VERSION} "
                             f"(kind={stored.get('kind')!r}, version={stored.get('version')!r})")
        return cls(base64.b64decode(stored["source_spm"]), base64.b64decode(stored["target_spm"]), stored["pieces"])

    def save(self, path: str | os.PathLike) -> None:
        """Write `to_json` atomically (temp file in the same directory, then rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @property
    def source_model(self) -> bytes:
        return self._models[0]

    @property
    def target_model(self) -> bytes:
        return self._models[1]

    @property
    def vocabulary(self) -> list[str]:
        """The pieces in id order (a copy)."""
        return list(self._pieces)

    @property
    def vocab_size(self) -> int:
        return len(self._pieces)

    # ---- encoding ----
    def _encode(self, processor, text: str) -> list[int]:
        code = []
        if text.startswith(">>") and (end := text.find("<<")) != -1:  # MarianTokenizer.remove_language_code
            code, text = [text[: end + 2]], text[end + 2 :]
        pieces = code + processor.encode(text, out_type=str)
        return [self._ids.get(piece, self.unk_id) for piece in pieces]

    def encode(self, text: str) -> list[int]:
        """Source piece ids of `text` (source model), without bos/eos."""
        return self._encode(self._source, text)

    def encode_target(self, text: str) -> list[int]:
        """Target piece ids of `text` (target model), without bos/eos."""
        return self._encode(self._target, text)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]

    def encode_target_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode_target(text) for text in texts]

    # ---- decoding ----
    def _strip(self, ids: Iterable[int]) -> list[str]:
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in self._skipped and 0 <= i < len(self._pieces):
                kept.append(self._pieces[i])
        return kept

    def decode(self, ids: Iterable[int]) -> str:
        """Target text of `ids`: stops at the first eos, drops pad, bos and unk (as MarianTokenizer's
        `skip_special_tokens=True`)."""
        return self._target.decode_pieces(self._strip(ids)).replace("▁", " ").strip()

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        return [self.decode(ids) for ids in batch]

    def id_to_piece(self, piece_id: int) -> str:
        """The piece of one id, as the vocabulary spells it ("▁" marks a word start)."""
        piece_id = int(piece_id)
        return self._pieces[piece_id] if 0 <= piece_id < len(self._pieces) else "<?>"

    def pieces(self, text: str) -> list[str]:
        """Readable source subword strings of `text` (for attention-plot axes)."""
        return [self.id_to_piece(i) for i in self.encode(text)]

    def target_pieces(self, text: str) -> list[str]:
        return [self.id_to_piece(i) for i in self.encode_target(text)]
