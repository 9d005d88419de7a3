"""Joint byte-level BPE vocabulary (HF `tokenizers`) with exact detokenization.

Why byte-level: every string maps to byte pieces, so there is no unknown character and
`decode(encode(x)) == x` holds for any text, including characters never seen in training (the dev sets
have some). Spaces are part of the pieces (GPT-2 scheme), so decoding is a concatenation, not a guess.
`pieces()` maps the byte alphabet back to readable text for plot axes ("▁" marks a leading space).

deviation: the paper uses byte-pair encoding over characters (Sennrich et al.); byte-level BPE gives the
same kind of subwords on WMT text and removes `<unk>` and the detokenizer from the pipeline.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, pre_tokenizers, trainers

from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

TOKENIZER_VERSION = 1  # bump when the training recipe changes: invalidates cached vocabularies


@lru_cache(maxsize=1)
def _byte_of_char() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the printable stand-in character -> original byte."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


class Tokenizer:
    """Subword tokenizer with the fixed special ids of `transformer_lab.special_tokens`."""

    pad_id, bos_id, eos_id, unk_id = PAD_ID, BOS_ID, EOS_ID, UNK_ID

    def __init__(self, hf_tokenizer: HFTokenizer) -> None:
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if hf_tokenizer.token_to_id(token) != expected_id:
                raise ValueError(f"special token {token} must have id {expected_id}, "
                                 f"has {hf_tokenizer.token_to_id(token)}")
        # Text that happens to contain "<s>" or "</s>" is ordinary text, not a control token.
        hf_tokenizer.encode_special_tokens = True
        self._hf = hf_tokenizer
        # Byte-level pieces spell bytes with stand-in characters; others (sentencepiece's) are readable text.
        self._byte_level = isinstance(hf_tokenizer.pre_tokenizer, pre_tokenizers.ByteLevel)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
              length: int | None = None, show_progress: bool = False) -> Tokenizer:
        """Learn a joint BPE vocabulary of (at most) `vocab_size` pieces from `texts` (both languages)."""
        hf = HFTokenizer(models.BPE())
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=show_progress,
        )
        hf.train_from_iterator(texts, trainer=trainer, length=length)
        return cls(hf)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        return cls(HFTokenizer.from_file(str(path)))

    @classmethod
    def from_json(cls, text: str) -> Tokenizer:
        """Inverse of `to_json` (checkpoints carry the tokenizer as this string)."""
        return cls(HFTokenizer.from_str(text))

    def to_json(self) -> str:
        """The whole tokenizer (vocabulary, merges, pre-tokenizer, decoder) as a JSON string."""
        return self._hf.to_str()

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically (temp file in the same directory, then rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        try:
            self._hf.save(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Piece ids of `text`, without bos/eos."""
        return self._hf.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """`encode` over many texts, in parallel threads."""
        return [e.ids for e in self._hf.encode_batch(list(texts), add_special_tokens=False)]

    def encode_target(self, text: str) -> list[int]:
        """Target-side piece ids: the joint vocabulary encodes both sides alike (`sentencepiece_pair.py` not)."""
        return self.encode(text)

    def encode_target_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self.encode_batch(texts)

    def _strip(self, ids: Iterable[int]) -> list[int]:
        kept = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                kept.append(i)
        return kept

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`: stops at the first eos, drops pad and bos (and unk, which encode never emits)."""
        return self._hf.decode(self._strip(ids), skip_special_tokens=True)

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        return self._hf.decode_batch([self._strip(ids) for ids in batch], skip_special_tokens=True)

    def id_to_piece(self, piece_id: int) -> str:
        """Readable form of one piece: its bytes as UTF-8 ("▁" for a leading space, \\x.. for partial bytes)."""
        token = self._hf.id_to_token(int(piece_id))
        if token is None or token in SPECIAL_TOKENS:
            return token or "<?>"
        if not self._byte_level:
            return token
        table = _byte_of_char()
        raw = bytes(table[c] for c in token)
        text = raw.decode("utf-8", errors="backslashreplace")
        return "▁" + text[1:] if text.startswith(" ") else text

    def pieces(self, text: str) -> list[str]:
        """Readable subword strings of `text` (for attention-plot axes)."""
        return [self.id_to_piece(i) for i in self.encode(text)]
