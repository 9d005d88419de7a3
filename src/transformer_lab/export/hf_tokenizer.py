"""A `transformers` fast tokenizer made from a checkpoint's own tokenizer: same pieces, same ids, same text.

What it adds to the checkpoint's tokenizer JSON (vocabulary, merges, byte-level pre-tokenizer and decoder
unchanged):
  - a normalizer doing what `translate` does to each input line before encoding (strip, collapse every run
    of whitespace to one space: `" ".join(line.split())`), then the tokenizer's own normalizer, if any;
  - a post-processor appending eos, as our sources are `pieces + [eos]` (docs/ARCHITECTURE.md);
  - `split_special_tokens=True`: text that contains "<s>" or "</s>" is ordinary text, as in our Tokenizer.
`decode(ids, skip_special_tokens=True)` then gives our detokenized text.
"""

from __future__ import annotations

import sys
from functools import lru_cache

from tokenizers import Regex, normalizers, processors
from tokenizers import Tokenizer as HFTokenizer

from transformer_lab.special_tokens import BOS, BOS_ID, EOS, EOS_ID, PAD, UNK


@lru_cache(maxsize=1)
def python_whitespace_class() -> str:
    """A regex class of exactly the characters `str.split()` splits on (Unicode whitespace and \\x1c-\\x1f)."""
    chars = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
    return "[" + "".join(f"\\x{{{ord(ch):x}}}" for ch in chars) + "]+"


def export_tokenizer(tokenizer_json: str) -> HFTokenizer:
    """The checkpoint's tokenizer with the normalizer and eos post-processor above (a `tokenizers` object)."""
    hf = HFTokenizer.from_str(tokenizer_json)
    whitespace = [normalizers.Replace(Regex(python_whitespace_class()), " "), normalizers.Strip()]
    own = [hf.normalizer] if hf.normalizer is not None else []  # e.g. a sentencepiece model's rules
    hf.normalizer = normalizers.Sequence(whitespace + own)
    hf.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A $B {EOS}", special_tokens=[(EOS, EOS_ID), (BOS, BOS_ID)]
    )
    return hf


def fast_tokenizer(tokenizer_json: str, model_max_length: int):
    """A `transformers.PreTrainedTokenizerFast` saving as tokenizer.json + tokenizer_config.json."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=export_tokenizer(tokenizer_json),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        split_special_tokens=True,
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,  # our decoder's text is final: no space removal before punctuation
    )

