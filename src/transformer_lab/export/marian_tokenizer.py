"""An imported model's sentencepiece pair (`data/tokenizers/sentencepiece_pair.py`) written back as a
`transformers.MarianTokenizer`: `source.spm`, `target.spm`, the shared `vocab.json` in our id order
(`<pad>` 0, `<s>` 1, `</s>` 2, `<unk>` 3) and `tokenizer_config.json`. The export's config starts the decoder
from `<s>` (id 1, whose row is Marian's old pad row), so importing the export again gives back the same
vocabulary and weights, no row added (`export/marian_import.py`)."""

from __future__ import annotations

import json
from pathlib import Path

from transformer_lab.data.tokenizers.sentencepiece_pair import (
    SentencePiecePairTokenizer,
)
from transformer_lab.special_tokens import EOS, PAD, UNK


def write_marian_tokenizer(tokenizer: SentencePiecePairTokenizer, out_dir: Path, model_max_length: int) -> None:
    from transformers import MarianTokenizer

    (out_dir / "source.spm").write_bytes(tokenizer.source_model)
    (out_dir / "target.spm").write_bytes(tokenizer.target_model)
    vocab = {piece: i for i, piece in enumerate(tokenizer.vocabulary)}
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    marian = MarianTokenizer(str(out_dir / "source.spm"), str(out_dir / "target.spm"), str(out_dir / "vocab.json"),
                             unk_token=UNK, eos_token=EOS, pad_token=PAD, model_max_length=model_max_length)
    marian.save_pretrained(out_dir)
