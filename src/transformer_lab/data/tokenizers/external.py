"""A tokenizer you already have instead of a trained BPE: `data.tokenizer_file=PATH`.

Accepted files:
- a Hugging Face `tokenizer.json` (model BPE, WordPiece, WordLevel or Unigram);
- a sentencepiece `.model` (unigram or BPE: fairseq's, Marian's, tensor2tensor-converted ones), converted
  to the same kind of HF tokenizer (normalizer from the model's precompiled rules, `▁` word boundaries,
  byte fallback when the model has it). Needs `pip install 'transformer_lab[spm]'` (sentencepiece).

Special tokens are remapped, not required at our ids: the file's own tokens for the four roles are found
(sentencepiece: the model's unk/bos/eos/pad ids; tokenizer.json: special tokens with the names in
`ROLE_NAMES`, and the model's unk token), moved to our ids (pad 0, bos 1, eos 2, unk 3,
`transformer_lab.special_tokens`) and renamed to our names; every other token keeps its order after them.
The ids of the file therefore change, which only matters for weights trained with the file's own ids.
bos and eos must be found; pad and unk are added when the file has none (pad is never produced by
encoding; a tokenizer without unk never emits it). A file whose bos or eos cannot be found is refused
with the tokens it does have. The HF post-processor is dropped: bos/eos are added by the batches.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import Tokenizer as HFTokenizer

from transformer_lab.data.errors import DataError
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.special_tokens import SPECIAL_TOKENS

CONVERTER_VERSION = 1  # bump when the conversion changes: invalidates cached conversions
ROLES = ("pad", "bos", "eos", "unk")  # in our id order, named SPECIAL_TOKENS
ROLE_NAMES = {
    "pad": ("<pad>", "[PAD]", "<PAD>"),
    "bos": ("<s>", "<bos>", "[BOS]", "<BOS>"),
    "eos": ("</s>", "<eos>", "[EOS]", "<EOS>"),
    "unk": ("<unk>", "[UNK]", "<UNK>"),
}
REQUIRED = ("bos", "eos")


def check_tokenizer_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        raise DataError(f"data.tokenizer_file={path} is a directory; give the tokenizer file inside it (a Hugging "
                        "Face tokenizer.json or a sentencepiece .model).")
    if not path.is_file():
        raise DataError(f"data.tokenizer_file={path}: file not found. Give a Hugging Face tokenizer.json or a "
                        "sentencepiece .model file, or leave it null to train a BPE on the corpus.")
    if path.suffix not in (".json", ".model"):
        raise DataError(f"data.tokenizer_file={path}: expected a Hugging Face tokenizer `.json` or a "
                        "sentencepiece `.model` file (named by its suffix).")
    if path.stat().st_size == 0:
        raise DataError(f"data.tokenizer_file={path} is empty (0 bytes: an interrupted copy?); copy the tokenizer "
                        "file again.")
    return path


def load_tokenizer_file(path: str | Path) -> Tokenizer:
    """The tokenizer in `path` with our special-token ids (see the module docstring)."""
    path = check_tokenizer_file(path)
    hf = _from_sentencepiece(path) if path.suffix == ".model" else _from_hf_json(path)
    return Tokenizer(hf)


# ---- Hugging Face tokenizer.json ----------------------------------------------------------------------
def _from_hf_json(path: Path) -> HFTokenizer:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        HFTokenizer.from_str(json.dumps(data))
    except Exception as error:  # tokenizers raises plain Exception with a serde message
        raise DataError(f"data.tokenizer_file={path}: not a Hugging Face tokenizer.json ({error}).") from None
    model = data["model"]
    kind = model.get("type") or ("Unigram" if isinstance(model.get("vocab"), list) else None)
    if kind not in ("BPE", "WordPiece", "WordLevel", "Unigram"):
        raise DataError(f"data.tokenizer_file={path}: model type {kind!r} is not supported "
                        "(BPE, WordPiece, WordLevel or Unigram).")
    if kind == "Unigram":
        pieces = [(str(piece), _stable_score(score)) for piece, score in model["vocab"]]
        unk = pieces[model["unk_id"]][0] if model.get("unk_id") is not None else None
    else:
        by_id = sorted(model["vocab"].items(), key=lambda item: item[1])
        pieces = [(token, 0.0) for token, _ in by_id]
        unk = model.get("unk_token")
    added = [token for token in data.get("added_tokens", []) if token["content"] not in dict(pieces)]
    pieces += [(token["content"], 0.0) for token in sorted(added, key=lambda token: token["id"])]
    specials = [token["content"] for token in data.get("added_tokens", []) if token.get("special")]
    roles = {role: next((name for name in names if name in specials), None) for role, names in ROLE_NAMES.items()}
    roles["unk"] = unk or roles["unk"]
    order, renamed = _remapped_order(pieces, roles, path)
    if kind == "Unigram":
        model["vocab"] = [[renamed.get(piece, piece), score] for piece, score in order]
        model["unk_id"] = ROLES.index("unk")
    else:
        model["vocab"] = {renamed.get(piece, piece): new_id for new_id, (piece, _) in enumerate(order)}
        if "unk_token" in model:
            model["unk_token"] = SPECIAL_TOKENS[ROLES.index("unk")] if model.get("unk_token") else None
    new_ids = {renamed.get(piece, piece): new_id for new_id, (piece, _) in enumerate(order)}
    kept = [dict(token, content=renamed.get(token["content"], token["content"]))
            for token in data.get("added_tokens", []) if token["content"] not in renamed]
    data["added_tokens"] = [_added(name, new_id) for new_id, name in enumerate(SPECIAL_TOKENS)] + [
        dict(token, id=new_ids[token["content"]]) for token in kept]
    data["post_processor"] = None
    return HFTokenizer.from_str(json.dumps(data))


def _stable_score(score: float) -> float:
    """A unigram score rounded to 7 significant digits (a float32 score's precision): `tokenizers` reads such
    short decimals back exactly, so the tokenizer's JSON is the same after any number of save/load trips
    (full-length scores drift by an ulp per trip, and checkpoints compare tokenizers by their JSON)."""
    return float(f"{float(score):.7g}")


def _added(name: str, new_id: int) -> dict[str, Any]:
    return {"id": new_id, "content": name, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def _remapped_order(pieces: list[tuple[str, float]], roles: dict[str, str | None],
                    path: Path) -> tuple[list[tuple[str, float]], dict[str, str]]:
    """(pieces in the new id order, {the file's special token: our name}); DataError if bos/eos are missing."""
    missing = [role for role in REQUIRED if roles[role] is None]
    if missing:
        present = sorted({piece for piece, _ in pieces if piece.startswith(("<", "[")) and len(piece) < 20})[:20]
        wanted = "; ".join(f"{role}: one of {', '.join(ROLE_NAMES[role])}" for role in missing)
        ordinary = [name for role in missing for name in ROLE_NAMES[role] if name in dict(pieces)]
        hint = (f"; {', '.join(ordinary)} {'is an ordinary token' if len(ordinary) == 1 else 'are ordinary tokens'} "
                "there, not special ones: mark them special (`special: true` in `added_tokens`)") if ordinary else ""
        raise DataError(
            f"data.tokenizer_file={path}: cannot map its special tokens to transformer_lab's (pad 0, bos 1, "
            f"eos 2, unk 3): no {' and no '.join(missing)} token found (looked for special tokens named {wanted}; "
            f"the file has {present or 'no such tokens'}{hint}). Add them to the tokenizer as special tokens, or use "
            "another tokenizer (or none: a BPE is then trained on the corpus).")
    scores = dict(pieces)
    floor = min(scores.values(), default=0.0)
    renamed: dict[str, str] = {}
    head: list[tuple[str, float]] = []
    for role, ours in zip(ROLES, SPECIAL_TOKENS):
        theirs = roles[role] or ours
        if theirs != ours and ours in scores:
            raise DataError(f"data.tokenizer_file={path}: its {role} token is {theirs!r}, but it also has an "
                            f"ordinary token {ours!r}, which is transformer_lab's name for {role}. Rename one of them.")
        renamed[theirs] = ours
        # A special piece gets the lowest score of the file: a unigram model does not pick it for text.
        head.append((theirs, floor if theirs not in scores or role != "unk" else scores[theirs]))
    order = head + [(piece, score) for piece, score in pieces if piece not in renamed]
    return order, renamed


# ---- sentencepiece .model ------------------------------------------------------------------------------
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_UNIGRAM, _BPE = 1, 2


def _from_sentencepiece(path: Path) -> HFTokenizer:
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        raise DataError(f"data.tokenizer_file={path} is a sentencepiece model: reading it needs the "
                        "`sentencepiece` and `protobuf` packages: `pip install 'transformer_lab[spm]'` (or "
                        "`pip install sentencepiece protobuf`).") from None
    proto = sentencepiece_model_pb2.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except Exception as error:  # protobuf's DecodeError
        raise DataError(f"data.tokenizer_file={path}: not a sentencepiece model ({error}).") from None
    trainer, normalizer = proto.trainer_spec, proto.normalizer_spec
    if not proto.pieces:  # protobuf parses a truncated or foreign file into an empty model without complaint
        raise DataError(f"data.tokenizer_file={path}: not a sentencepiece model (it holds no pieces: a truncated "
                        "copy or another kind of file).")
    if trainer.model_type not in (_UNIGRAM, _BPE):
        raise DataError(f"data.tokenizer_file={path}: sentencepiece model type {trainer.model_type} is not "
                        "supported (unigram or BPE).")
    pieces = [(piece.piece, _stable_score(piece.score)) for piece in proto.pieces]
    role_ids = {"pad": trainer.pad_id, "bos": trainer.bos_id, "eos": trainer.eos_id, "unk": trainer.unk_id}
    roles = {role: pieces[i][0] if 0 <= i < len(pieces) else None for role, i in role_ids.items()}
    order, renamed = _remapped_order(pieces, roles, path)
    vocab = [(renamed.get(piece, piece), score) for piece, score in order]
    byte_fallback = bool(trainer.byte_fallback)
    unk_id = ROLES.index("unk")
    if trainer.model_type == _UNIGRAM:
        hf = HFTokenizer(models.Unigram(vocab, unk_id, byte_fallback))
    else:
        ids = {piece: i for i, (piece, _) in enumerate(vocab)}
        hf = HFTokenizer(models.BPE(ids, _bpe_merges(vocab, proto, renamed), unk_token=SPECIAL_TOKENS[unk_id],
                                    fuse_unk=True, byte_fallback=byte_fallback))
    steps = [normalizers.Precompiled(normalizer.precompiled_charsmap)] if normalizer.precompiled_charsmap else []
    if normalizer.remove_extra_whitespaces:
        steps += [normalizers.Strip(left=True, right=True), normalizers.Replace(Regex(" {2,}"), " ")]
    if steps:
        hf.normalizer = normalizers.Sequence(steps)
    prepend = "always" if normalizer.add_dummy_prefix else "never"
    hf.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=True)
    strip = [decoders.Strip(content=" ", left=1, right=0)] if normalizer.add_dummy_prefix else []
    hf.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), *strip])
    hf.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in SPECIAL_TOKENS])
    user_defined = [p.piece for p in proto.pieces if p.type == _USER_DEFINED]
    if user_defined:  # matched before segmentation, as sentencepiece does
        hf.add_tokens([AddedToken(piece, special=False, normalized=False) for piece in user_defined])
    return hf


def _bpe_merges(vocab: list[tuple[str, float]], proto: Any, renamed: dict[str, str]) -> list[tuple[str, str]]:
    """The merges of a sentencepiece BPE model: every split of a normal piece into two pieces of the
    vocabulary, ranked by the merged piece's score (sentencepiece merges the best-scored pair first)."""
    normal = {p.piece for p in proto.pieces if p.type == _NORMAL}
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    scores = dict(vocab)
    merges = []
    for piece in normal:
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in ids and right in ids:
                merges.append((-scores[piece], ids[left], ids[right], left, right))
    merges.sort()
    return [(left, right) for _, _, _, left, right in merges]
