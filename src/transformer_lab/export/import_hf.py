"""`import_marian(HF_DIR, OUT)`: a Hugging Face MarianMT directory as one of our checkpoints, which
`translate`, `evaluate`, `export` and `init_from=` take like a trained one.

The directory holds `config.json`, the weights (`model.safetensors` or `pytorch_model.bin`) and a tokenizer:
either OPUS-MT's `source.spm`, `target.spm` and the shared `vocab.json` (-> `SentencePiecePairTokenizer`),
or the `tokenizer.json` our own export writes (-> our BPE `Tokenizer`, the export's additions undone).
Every check runs before anything is written; a refusal names each setting, file or weight it could not take
(`UnimportableModelError`). The checkpoint is written to a temporary file beside OUT and renamed into place
(`AtomicCheckpointIO`). The weights' mapping is `export/marian_import.py`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from transformer_lab.checkpointing.writing import AtomicCheckpointIO
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.data.tokenizers.sentencepiece_pair import (
    SentencePiecePairTokenizer,
    load_sentencepiece,
)
from transformer_lab.export.marian_import import (
    LAB_ACTIVATIONS,
    lab_model_config,
    lab_state_dict,
    used_marian_names,
    vocabulary_rows,
)
from transformer_lab.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS, UNK
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings

SPM_FILES = ("source.spm", "target.spm", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# config.json keys of the BART family that MarianMT's classes ignore but another model would need
UNSUPPORTED_FLAGS = {
    "normalize_before": "pre-norm layers (the import takes post-norm MarianMT layers only)",
    "normalize_embedding": "a LayerNorm on the embeddings",
    "layernorm_embedding": "a LayerNorm on the embeddings",
    "add_final_layer_norm": "a final LayerNorm after each stack",
    "separate_vocabs": "separate source and target vocabularies",
}


class UnimportableModelError(ValueError):
    """The directory is not a MarianMT model the lab can represent exactly; nothing was written."""


def _refuse(hf_dir: Path, problems: list[str]) -> None:
    if problems:
        raise UnimportableModelError(f"cannot import {hf_dir}: " + "; ".join(problems) + " (nothing was written)")


def read_config(hf_dir: Path) -> dict[str, Any]:
    if not hf_dir.is_dir():
        raise UnimportableModelError(f"{hf_dir} is not a directory; give a MarianMT model directory (config.json, "
                                     "weights, tokenizer files) (nothing was written)")
    path = hf_dir / "config.json"
    if not path.is_file():
        raise UnimportableModelError(f"{path}: file not found; a MarianMT directory has config.json "
                                     "(nothing was written)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnimportableModelError(f"{path} is not valid JSON ({error}); copy it again (nothing was written)") from None
    if not isinstance(config, dict):
        raise UnimportableModelError(f"{path} holds {type(config).__name__}, not a JSON object (nothing was written)")
    return config


def marian_refusals(config: dict[str, Any]) -> list[str]:
    """Every config.json setting our Transformer cannot represent exactly, each named with why."""
    problems = []
    if config.get("model_type") != "marian":
        problems.append(f"model_type={config.get('model_type')!r}: only MarianMT ('marian') models are imported "
                        "(MBart, BART, T5 ... differ in layer norms, positions or embeddings)")
        return problems  # the rest of such a config means something else
    for key, what in UNSUPPORTED_FLAGS.items():
        if config.get(key):
            problems.append(f"{key}={config[key]!r}: {what} cannot be represented")
    sizes = [f"{key}={config.get(key)!r}: must be a positive integer"
             for key in ("vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
                         "encoder_ffn_dim")
             if not isinstance(config.get(key), int) or isinstance(config.get(key), bool) or config[key] <= 0]
    if sizes:
        return problems + sizes  # the checks below compare these
    if config.get("decoder_vocab_size", config["vocab_size"]) not in (None, config["vocab_size"]):
        problems.append(f"decoder_vocab_size={config['decoder_vocab_size']} differs from vocab_size="
                        f"{config['vocab_size']}: the lab's imported models share one vocabulary")
    if config.get("share_encoder_decoder_embeddings", True) is not True:
        problems.append("share_encoder_decoder_embeddings=false: separate source and target embeddings "
                        "(weight_sharing=all is what the import represents)")
    if config.get("tie_word_embeddings", True) is not True:
        problems.append("tie_word_embeddings=false: an output layer untied from the embeddings")
    if config.get("scale_embedding") is not True:
        problems.append(f"scale_embedding={config.get('scale_embedding')!r}: our embeddings are always multiplied "
                        "by sqrt(d_model) (§3.4)")
    activation = config.get("activation_function", "gelu")
    if activation not in LAB_ACTIVATIONS:
        problems.append(f"activation_function={activation!r}: model.activation takes {sorted(LAB_ACTIVATIONS)}")
    for ours, theirs in (("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")):
        if config.get(theirs, config[ours]) != config[ours]:
            problems.append(f"{ours}={config[ours]} but {theirs}={config[theirs]}: model.{'n_heads' if 'heads' in ours else 'd_ff'} "
                            "is one value for both stacks")
    if config["d_model"] % config["encoder_attention_heads"]:
        problems.append(f"d_model={config['d_model']} is not divisible by encoder_attention_heads="
                        f"{config['encoder_attention_heads']}")
    if config["d_model"] % 2:
        problems.append(f"d_model={config['d_model']} is odd: Marian's sine|cosine halves then differ from ours")
    return problems


def _read_vocab(path: Path, size: int) -> list[str]:
    """vocab.json (piece -> id) as the list of pieces by id, checked to be ids 0..size-1 exactly once."""
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UnimportableModelError(f"{path} is not valid JSON ({error}); copy it again (nothing was written)") from None
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise UnimportableModelError(f"{path} must map each piece to an integer id (nothing was written)")
    if sorted(vocab.values()) != list(range(size)):
        raise UnimportableModelError(f"{path} has {len(vocab)} pieces with ids {min(vocab.values(), default=None)}.."
                                     f"{max(vocab.values(), default=None)}, but config.json's vocab_size={size} needs "
                                     f"ids 0..{size - 1} each once (nothing was written)")
    pieces = [""] * size
    for piece, i in vocab.items():
        pieces[i] = piece
    return pieces


def _special_ids(config: dict[str, Any], pieces: list[str], where: Path) -> dict[str, int]:
    """Marian's pad, decoder start, eos and unk ids, checked against the vocabulary's pieces."""
    ids, problems = {}, []
    for role, key, name in (("pad", "pad_token_id", PAD), ("eos", "eos_token_id", EOS)):
        value = config.get(key)
        if not isinstance(value, int) or not 0 <= value < len(pieces) or pieces[value] != name:
            shown = pieces[value] if isinstance(value, int) and 0 <= value < len(pieces) else None
            problems.append(f"config.json {key}={value!r} must be the id of {name} in {where} (that id holds {shown!r})")
        ids[role] = value
    if UNK not in pieces:
        problems.append(f"{where} has no {UNK}")
    else:
        ids["unk"] = pieces.index(UNK)
    start = config.get("decoder_start_token_id", ids.get("pad"))
    if not isinstance(start, int) or not 0 <= start < len(pieces) or (start != ids.get("pad") and pieces[start] != BOS):
        problems.append(f"config.json decoder_start_token_id={start!r}: the decoder must start from {PAD} (OPUS-MT) "
                        f"or from {BOS} (our export)")
    elif start == ids.get("pad") and BOS in pieces:
        problems.append(f"{where} has a {BOS} piece, but the decoder starts from {PAD}: {BOS} would mean two things")
    ids["start"] = start
    _refuse(where.parent, problems)
    return ids


def _read_tokenizer(hf_dir: Path, config: dict[str, Any]) -> tuple[Any, list[int]]:
    """(our tokenizer, vocabulary rows) of the directory's tokenizer files."""
    size = config["vocab_size"]
    present = [name for name in SPM_FILES if (hf_dir / name).is_file()]
    if present:
        missing = [name for name in SPM_FILES if name not in present]
        _refuse(hf_dir, [f"{name}: file not found (an OPUS-MT tokenizer is {', '.join(SPM_FILES)})" for name in missing])
        pieces = _read_vocab(hf_dir / "vocab.json", size)
        ids = _special_ids(config, pieces, hf_dir / "vocab.json")
        rows = vocabulary_rows(size=size, pad_id=ids["pad"], start_id=ids["start"], eos_id=ids["eos"], unk_id=ids["unk"])
        models = []
        for name in SPM_FILES[:2]:
            data = (hf_dir / name).read_bytes()
            try:
                load_sentencepiece(data, str(hf_dir / name))
            except ValueError as error:
                raise UnimportableModelError(f"cannot import {hf_dir}: {error} (nothing was written)") from None
            models.append(data)
        ours = list(SPECIAL_TOKENS) + [pieces[row] for row in rows[len(SPECIAL_TOKENS):]]
        return SentencePiecePairTokenizer(models[0], models[1], ours), rows
    path = hf_dir / "tokenizer.json"
    if not path.is_file():
        _refuse(hf_dir, [f"no tokenizer: expected {', '.join(SPM_FILES)} (OPUS-MT) or tokenizer.json (our export)"])
    try:
        tokenizer = Tokenizer.from_json(undo_export_additions(path.read_text(encoding="utf-8")))
    except Exception as error:  # noqa: BLE001  tokenizers raises a bare Exception for bad JSON
        raise UnimportableModelError(f"cannot import {hf_dir}: {path} is not a tokenizer with our special ids "
                                     f"({str(error).splitlines()[0]}) (nothing was written)") from None
    if tokenizer.vocab_size != size:
        _refuse(hf_dir, [f"{path} has {tokenizer.vocab_size} pieces but config.json's vocab_size={size}"])
    _special_ids(config, list(SPECIAL_TOKENS) + [""] * (size - len(SPECIAL_TOKENS)), path)  # our ids, checked
    return tokenizer, list(range(size))


def undo_export_additions(text: str) -> str:
    """Our export's tokenizer.json (export/hf_tokenizer.py) back to the checkpoint's own: its added whitespace
    normalizer (a Replace, then a Strip, before the tokenizer's own) and eos post-processor removed."""
    stored = json.loads(text)
    normalizer = stored.get("normalizer")
    if isinstance(normalizer, dict) and normalizer.get("type") == "Sequence":
        parts = normalizer.get("normalizers", [])
        if [p.get("type") for p in parts[:2]] == ["Replace", "Strip"]:
            own = parts[2:]
            stored["normalizer"] = None if not own else own[0] if len(own) == 1 else {"type": "Sequence", "normalizers": own}
    stored["post_processor"] = None  # our batches add eos
    return json.dumps(stored, ensure_ascii=False)


def _read_weights(hf_dir: Path, config: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The MarianMTModel's tensors by name, every one present, tied as the config says, none unknown."""
    if not any((hf_dir / name).is_file() for name in WEIGHT_FILES):
        _refuse(hf_dir, [f"no weights: expected {' or '.join(WEIGHT_FILES)}"])
    try:
        from transformers import MarianMTModel
    except ImportError as error:
        raise ImportError(f"the import needs transformers: pip install 'transformer_lab[export]' ({error})") from error
    try:
        marian, info = MarianMTModel.from_pretrained(str(hf_dir), output_loading_info=True, dtype=torch.float32)
    except Exception as error:  # noqa: BLE001  safetensors reports a damaged file as its own SafetensorError
        raise UnimportableModelError(f"cannot import {hf_dir}: its weights could not be read "
                                     f"({str(error).splitlines()[0]}) (nothing was written)") from None
    problems = [f"weight {name} missing from the weights file" for name in sorted(info.get("missing_keys", ()))]
    problems += [f"weight {name} (in the weights file) has no place in our Transformer"
                 for name in sorted(info.get("unexpected_keys", ()))]
    problems += [f"weight {m[0] if isinstance(m, tuple) else m} has the wrong shape for config.json"
                 for m in sorted(info.get("mismatched_keys", ()), key=str)]
    _refuse(hf_dir, problems)
    state = marian.state_dict()
    unknown = sorted(set(state) - used_marian_names(encoder_layers=config["encoder_layers"],
                                                    decoder_layers=config["decoder_layers"]))
    _refuse(hf_dir, [f"weight {name} has no place in our Transformer" for name in unknown])
    return state  # tie_word_embeddings (checked) made transformers tie lm_head and both embeddings to `shared`


def imported_module(hf_dir: str | Path) -> TranslationModule:
    """Our TranslationModule computing the MarianMT model's function (every check first)."""
    hf_dir = Path(hf_dir)
    config = read_config(hf_dir)
    _refuse(hf_dir, marian_refusals(config))
    tokenizer, rows = _read_tokenizer(hf_dir, config)
    state = _read_weights(hf_dir, config)
    output_bias = bool(state["final_logits_bias"].any())
    model = lab_model_config(config, vocab_size=len(rows), output_bias=output_bias)
    settings = ModuleSettings.from_plain({"model": model})
    module = TranslationModule(settings, RunContext(tokenizer=tokenizer))
    weights = lab_state_dict(state, rows, d_model=config["d_model"], encoder_layers=config["encoder_layers"],
                             decoder_layers=config["decoder_layers"], output_bias=output_bias)
    module.model.load_state_dict(weights, strict=True)
    return module.eval()


def import_marian(hf_dir: str | Path, out: str | Path) -> Path:
    """Write the MarianMT directory `hf_dir` as our checkpoint `out` (refused if `out` exists)."""
    out = Path(out)
    if out.exists():
        raise UnimportableModelError(f"{out} already exists; choose another output file or remove it "
                                     "(nothing was written)")
    module = imported_module(hf_dir)
    checkpoint = {
        "hyper_parameters": dict(module.hparams),
        "state_dict": module.state_dict(),
        "tokenizer_json": module.tokenizer.to_json(),
        "data_config": None,  # no training data: evaluate takes src=/ref= files, init_from its own data
        "imported_from": str(Path(hf_dir).resolve()),
    }
    AtomicCheckpointIO().save_checkpoint(checkpoint, out)
    return out
