"""Local MarianMT directories for the import tests, without any download: random weights
(`transformers.MarianMTModel`) and sentencepiece models trained here on a few sentences, laid out as
OPUS-MT ships them (config.json, model.safetensors, source.spm, target.spm, vocab.json with </s> 0,
<unk> 1, <pad> last, the decoder starting from pad)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

ENGLISH = [
    "the old man sees a small dog .", "a young woman reads the long book .", "the children play in the garden .",
    "my brother drinks cold water every morning .", "the red car stops near the house .",
    "we walk to the station in the rain .", "she writes a letter to her friend .", "the cat sleeps on the warm bed .",
]
GERMAN = [
    "der alte Mann sieht einen kleinen Hund .", "eine junge Frau liest das lange Buch .",
    "die Kinder spielen im Garten .", "mein Bruder trinkt jeden Morgen kaltes Wasser .",
    "das rote Auto hält neben dem Haus .", "wir gehen im Regen zum Bahnhof .",
    "sie schreibt ihrem Freund einen Brief .", "die Katze schläft auf dem warmen Bett .",
]


def train_spm(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines * 20), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2,
    )
    return model.getvalue()


def marian_vocab(source: bytes, target: bytes) -> dict[str, int]:
    """OPUS-MT's layout: </s> 0, <unk> 1, the union of both models' pieces, <pad> last."""
    import sentencepiece

    pieces: list[str] = []
    for model in (source, target):
        processor = sentencepiece.SentencePieceProcessor()
        processor.LoadFromSerializedProto(model)
        for i in range(processor.GetPieceSize()):
            piece = processor.IdToPiece(i)
            if not (processor.IsControl(i) or processor.IsUnknown(i)) and piece not in pieces:
                pieces.append(piece)
    ordered = ["</s>", "<unk>"] + pieces + ["<pad>"]
    return {piece: i for i, piece in enumerate(ordered)}


def marian_config_kwargs(vocab_size: int, **overrides) -> dict:
    pad = vocab_size - 1
    return dict(
        vocab_size=vocab_size, decoder_vocab_size=vocab_size, d_model=16, encoder_layers=2, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, activation_function="swish", scale_embedding=True, dropout=0.0,
        pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad, forced_eos_token_id=0,
        share_encoder_decoder_embeddings=True, tie_word_embeddings=True, **overrides,
    )


def write_marian_dir(out: Path, *, seed: int = 0, bias: bool = True, **config_overrides) -> Path:
    """A random-weight MarianMT directory as OPUS-MT ships one. Weights are drawn large enough (and the
    LayerNorms, biases and final_logits_bias random) that every one of them shows in the logits."""
    from transformers import MarianConfig, MarianMTModel

    source, target = train_spm(ENGLISH, 60), train_spm(GERMAN, 60)
    vocab = marian_vocab(source, target)
    torch.manual_seed(seed)
    marian = MarianMTModel(MarianConfig(**marian_config_kwargs(len(vocab), **config_overrides))).eval()
    with torch.no_grad():  # scales at which greedy outputs vary with the input and position (not one token)
        for name, parameter in marian.named_parameters():
            if "embed_positions" in name:
                continue
            if "norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.3 * torch.randn_like(parameter))
            elif name.endswith("bias"):
                parameter.copy_(0.05 * torch.randn_like(parameter))
            else:
                parameter.copy_(0.6 * torch.randn_like(parameter))
        if bias:
            marian.final_logits_bias.copy_(0.1 * torch.randn_like(marian.final_logits_bias))
    marian.save_pretrained(out, safe_serialization=True)
    (out / "source.spm").write_bytes(source)
    (out / "target.spm").write_bytes(target)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    return out


def edit_config(hf_dir: Path, **changes) -> Path:
    path = hf_dir / "config.json"
    config = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    path.write_text(json.dumps(config))
    return hf_dir
