"""Write a checkpoint as a Hugging Face MarianMT directory: config, safetensors weights, generation config,
fast tokenizer. `MarianMTModel.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)` load it with
no transformer_lab import.

Generation config (what `model.generate` does by default) and how it compares with our beam search:
  - identical: beam size and alpha (from the checkpoint's `decoding.test`), decoder start = bos, eos,
    pad and bos never generated (`bad_words_ids`), eos forced at the maximum length;
  - not identical: the length penalty. transformers divides a finished hypothesis' log-probability by
    |Y|^length_penalty, GNMT (ours) by ((5 + |Y|) / 6)^alpha; the same exponent is used, so rankings agree
    between hypotheses of equal length but may differ between lengths. transformers' beam search also
    stops a sentence by its own rule (`early_stopping`), not fairseq's "K finished hypotheses";
  - not identical: the maximum length. Ours is per sentence, max_len_a * source length + max_len_b;
    transformers has one cap, `max_length` (512 tokens, as the opus-mt models, or the position table's
    length if shorter); pass `max_new_tokens` to `generate` for another.
  - greedy decoding (`num_beams=1`) gives our greedy search's tokens (tested).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from transformer_lab.data.tokenizers.sentencepiece_pair import KIND as SENTENCEPIECE_PAIR, SentencePiecePairTokenizer
from transformer_lab.data.tokenizers.stored import stored_kind
from transformer_lab.export.compatibility import check_exportable
from transformer_lab.export.hf_tokenizer import fast_tokenizer
from transformer_lab.export.marian import marian_model
from transformer_lab.export.marian_tokenizer import write_marian_tokenizer
from transformer_lab.special_tokens import BOS_ID, EOS_ID, PAD_ID

DEFAULT_MAX_LENGTH = 512  # transformers' `max_length` in the generation config, as in the opus-mt models


class ExportError(ValueError):
    """A problem with the export's input or output, explained."""


def check_output_dir(out_dir: Path) -> None:
    """Refuse to write into an existing non-empty directory (nothing already there is ever overwritten)."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ExportError(f"{out_dir} already exists and is not an empty directory; choose a new OUT_DIR "
                          "or remove it first (nothing was written)")


def make_staging_dir(out_dir: Path, kind: str) -> Path:
    """A new temporary directory beside `out_dir` (same file system: renamed into place at the end);
    ExportError naming OUT_DIR when that place cannot be written (read-only, a file in the path, ...)."""
    staging = out_dir.parent / f".{out_dir.name}.{os.getpid()}.{kind}.tmp"
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as error:
        raise ExportError(f"cannot write {out_dir}: {error.strerror or error} ({error.filename or out_dir.parent}); "
                          "choose an OUT_DIR in a writable place (nothing was written)") from None
    return staging


def raise_write_failure(error: Exception, out_dir: Path) -> None:
    """Re-raise an I/O failure while writing the export (OSError, or safetensors' SafetensorError for the same
    thing) as one ExportError line naming OUT_DIR; anything else as it is."""
    if isinstance(error, (ExportError, ImportError)):
        raise error
    if not isinstance(error, OSError) and type(error).__name__ != "SafetensorError":
        raise error
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
    raise ExportError(f"writing the export for {out_dir} failed: {reason}; nothing was written there (free space "
                      "on that disk, or choose another OUT_DIR, then run the export again)") from None


def move_into_place(staging: Path, out_dir: Path) -> None:
    """The finished export `staging` becomes `out_dir` (which is absent or empty: check_output_dir)."""
    if out_dir.exists():
        out_dir.rmdir()  # empty (checked before anything was written)
    os.replace(staging, out_dir)


def export_hf(module, out_dir: str | os.PathLike) -> Path:
    """Write `module` (a TranslationModule from `module_from_checkpoint`) as a MarianMT directory.

    Everything is written to a temporary directory beside OUT_DIR first and moved into place at the end, so
    a failure leaves no half-written export.
    """
    out_dir = Path(out_dir)
    model = module.model
    check_exportable(model.config)
    check_output_dir(out_dir)
    tokenizer = module.tokenizer
    if tokenizer is None:
        raise ExportError("the checkpoint carries no tokenizer (`tokenizer_json`); checkpoints written by "
                          "transformer_lab.train and average_checkpoints do")
    staging = make_staging_dir(out_dir, "hf")
    try:
        try:
            write_hf_directory(model, tokenizer.to_json(), module.decoding_config.test, staging)
        except Exception as error:  # noqa: BLE001  safetensors reports a full disk as its own SafetensorError
            raise_write_failure(error, out_dir)
        move_into_place(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir


def write_hf_directory(model, tokenizer_json: str, search, out_dir: Path) -> None:
    try:
        from transformers import GenerationConfig
    except ImportError as error:
        raise ImportError(f"the export needs transformers: pip install 'transformer_lab[export]' ({error})") from error

    marian = marian_model(model)
    max_positions = marian.config.max_position_embeddings
    marian.generation_config = GenerationConfig(
        num_beams=search.beam_size,
        length_penalty=search.alpha,
        max_length=min(DEFAULT_MAX_LENGTH, max_positions),
        bad_words_ids=[[PAD_ID], [BOS_ID]],
        decoder_start_token_id=BOS_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        forced_eos_token_id=EOS_ID,
    )
    marian.save_pretrained(out_dir, safe_serialization=True)
    if stored_kind(tokenizer_json) == SENTENCEPIECE_PAIR:  # an imported OPUS-MT model: Marian's own files
        write_marian_tokenizer(SentencePiecePairTokenizer.from_json(tokenizer_json), out_dir, max_positions)
        return
    fast_tokenizer(tokenizer_json, model_max_length=max_positions).save_pretrained(out_dir)
    # the class name every transformers version knows (5.x writes its new name, which 4.x cannot load)
    config_path = out_dir / "tokenizer_config.json"
    tokenizer_config = json.loads(config_path.read_text())
    tokenizer_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(tokenizer_config, indent=2) + "\n")
