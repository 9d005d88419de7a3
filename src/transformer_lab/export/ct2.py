"""CTranslate2: convert the Hugging Face export with CTranslate2's own Transformers converter, and translate
with the result (what the benchmark and the README use).

CTranslate2's MarianMT loader assumes the original Marian toolkit's conventions, two of which are not ours;
`OurMarianConverter` undoes them on the converted model specification (and only them):
  - Marian's decoder starts from a zero vector (`start_from_zero_embedding`); ours starts from bos's
    embedding (decoder start token `<s>`);
  - the loader drops the last vocabulary row, where HF's Marian conversions put an extra `<pad>`; our last
    row is an ordinary piece, and stays (the loader keeps its vocabulary entry already).
Beam search: CTranslate2 ranks by log p / |Y|^length_penalty, ours (GNMT) by log p / ((5 + |Y|) / 6)^alpha,
and takes one maximum length per call; `CT2Translator.translate` re-ranks and groups to match (below).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from transformer_lab.data.tokenizers.sentencepiece_pair import SentencePiecePairTokenizer
from transformer_lab.export.compatibility import check_exportable
from transformer_lab.export.hf import (
    ExportError,
    check_output_dir,
    export_hf,
    make_staging_dir,
    move_into_place,
    raise_write_failure,
)
from transformer_lab.special_tokens import BOS, EOS, PAD

QUANTIZATIONS = ("int8", "int8_float32", "float16", "bfloat16")
TOKENIZER_FILE = "tokenizer.json"  # copied from the HF export: the `tokenizers` file that encodes/decodes
CT2_MODEL_FILE = "model.bin"  # what CTranslate2's converter writes; every CT2 model directory has one
REEXPORT = "re-run `python -m transformer_lab.export CKPT --to ct2 {dir}` (add --quantization int8 for int8)"

# what CTranslate2's RuntimeErrors about an unreadable model say (cut, garbage, another version, a bad config)
MODEL_FILE_ERRORS = ("model.bin", "payload", "binary version", "Variable", "config.json", "json")


class CT2ModelError(ValueError):
    """A CTranslate2 model directory that cannot be used; the message names the path, the problem and the fix."""


def check_ct2_dir(model_dir: Path) -> None:
    """CT2ModelError unless `model_dir` looks like a transformer_lab CTranslate2 export (model.bin and
    tokenizer.json); says what the directory is instead where it can tell (missing, a file, empty, an HF export)."""
    fix = REEXPORT.format(dir=model_dir)
    if not model_dir.exists():
        raise CT2ModelError(f"{model_dir}: no such CTranslate2 model directory; {fix}")
    if not model_dir.is_dir():
        raise CT2ModelError(f"{model_dir} is a file, not a CTranslate2 model directory; {fix}")
    names = {p.name for p in model_dir.iterdir()}
    if CT2_MODEL_FILE not in names:
        if not names:
            what = "is empty"
        elif "model.safetensors" in names or "pytorch_model.bin" in names:
            what = "is a Hugging Face export (model.safetensors), not a CTranslate2 one"
        else:
            what = f"holds no {CT2_MODEL_FILE}, so it is not a CTranslate2 model directory"
        raise CT2ModelError(f"{model_dir} {what}; {fix}")
    if TOKENIZER_FILE not in names:
        raise CT2ModelError(f"{model_dir} has no {TOKENIZER_FILE} (transformer_lab's CTranslate2 export writes it "
                            f"beside {CT2_MODEL_FILE}; without it no text can be encoded); {fix}")


def _converter_class():
    import ctranslate2.converters

    class OurMarianConverter(ctranslate2.converters.TransformersConverter):
        """TransformersConverter on a transformer_lab HF export, with the two corrections above."""

        def load_model(self, model_class, model_name_or_path, **kwargs):
            self.marian = super().load_model(model_class, model_name_or_path, **kwargs)
            return self.marian

        def _load(self):
            spec = super()._load()
            shared = self.marian.model.shared.weight  # the full (V, D) matrix, before the loader's trim
            spec.encoder.embeddings[0].weight = shared
            spec.decoder.embeddings.weight = shared
            spec.decoder.projection.weight = shared
            spec.decoder.start_from_zero_embedding = False
            spec.config.decoder_start_token = BOS
            return spec

    return OurMarianConverter


def export_ct2(module, out_dir: str | os.PathLike, quantization: str | None = None) -> Path:
    """HF export (in a temporary directory beside OUT_DIR), then CTranslate2 conversion plus tokenizer.json
    into another one, moved into place as OUT_DIR at the end: a failure (a full disk, an interrupted
    conversion) leaves no half-written export. `quantization`: None (float32) or one of QUANTIZATIONS."""
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ValueError(f"--quantization {quantization!r} is not one of {QUANTIZATIONS}")
    out_dir = Path(out_dir)
    check_exportable(module.model.config)
    if isinstance(module.tokenizer, SentencePiecePairTokenizer):  # an imported model's: no `tokenizers` JSON
        raise ExportError("--to ct2 takes checkpoints with the lab's own tokenizer; this one carries an imported "
                          "sentencepiece pair: export it --to hf and convert that with ct2-transformers-converter "
                          "(nothing was written)")
    check_output_dir(out_dir)
    try:
        converter_class = _converter_class()
    except ImportError as error:
        raise ImportError("--to ct2 needs CTranslate2: pip install 'transformer_lab[export]' "
                          f"(or pip install ctranslate2); {error}") from error
    staging = make_staging_dir(out_dir, "ct2")
    hf_dir = staging / "hf"
    ct2_dir = staging / "ct2"
    try:
        export_hf(module, hf_dir)
        try:
            converter_class(str(hf_dir)).convert(str(ct2_dir), quantization=quantization)
            shutil.copyfile(hf_dir / TOKENIZER_FILE, ct2_dir / TOKENIZER_FILE)
        except OSError as error:
            raise_write_failure(error, out_dir)
        move_into_place(ct2_dir, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


class CT2Translator:
    """Translate text lines with a CTranslate2 export (uses only `ctranslate2` and `tokenizers`).

    >>> translator = CT2Translator("model_ct2", device="cpu")
    >>> translator.translate(["The old man sees a small dog."], beam_size=4)
    """

    def __init__(self, model_dir: str | os.PathLike, device: str = "cpu", compute_type: str = "default",
                 inter_threads: int = 1, intra_threads: int = 0) -> None:
        """CT2ModelError (one line: the path, what is wrong, what to do) for a directory that is missing, is
        not a CTranslate2 export, or whose model.bin or tokenizer.json cannot be read."""
        try:
            import ctranslate2
            from tokenizers import Tokenizer
        except ImportError as error:
            raise ImportError("CT2Translator needs CTranslate2: pip install 'transformer_lab[export]' "
                              f"(or pip install ctranslate2); {error}") from error

        model_dir = Path(model_dir)
        check_ct2_dir(model_dir)
        try:
            self.tokenizer = Tokenizer.from_file(str(model_dir / TOKENIZER_FILE))
        except Exception as error:  # tokenizers raises a bare Exception for unreadable or malformed JSON
            raise CT2ModelError(f"{model_dir / TOKENIZER_FILE} is not a readable `tokenizers` file ({error}); "
                                f"{REEXPORT.format(dir=model_dir)}") from None
        try:
            self.translator = ctranslate2.Translator(str(model_dir), device=device, compute_type=compute_type,
                                                     inter_threads=inter_threads, intra_threads=intra_threads)
        except RuntimeError as error:
            if not any(marker in str(error) for marker in MODEL_FILE_ERRORS):
                raise  # not the model's files (e.g. a CUDA device that is not there says so itself)
            raise CT2ModelError(f"{model_dir / CT2_MODEL_FILE}: CTranslate2 cannot read it ({error}): the export is "
                                f"damaged or from another CTranslate2 version; {REEXPORT.format(dir=model_dir)}") from None

    def translate(self, lines: Sequence[str], beam_size: int = 4, alpha: float = 0.6, max_len_a: float = 1.0,
                  max_len_b: int = 50, max_batch_size: int = 64) -> list[str]:
        """Detokenized translations of `lines` (empty lines stay empty), in order, as close to our beam
        search as CTranslate2's options allow:
          - the maximum output length is ours, per sentence (sentences are grouped by source length, one
            translate_batch call per group, since CTranslate2 takes one maximum per call);
          - the length penalty is ours: CTranslate2 returns its beam_size finished hypotheses with
            score = log p / |Y|^alpha (|Y| with eos); each is re-ranked by log p / ((5 + |Y|) / 6)^alpha.
        CTranslate2's beam still finishes a sentence by its own rule, so the set of finished hypotheses can
        differ from ours."""
        encodings = self.tokenizer.encode_batch(list(lines))
        outputs = [""] * len(lines)
        groups: dict[int, list[int]] = {}
        for i, line in enumerate(lines):
            if line.strip():
                groups.setdefault(len(encodings[i].tokens), []).append(i)  # tokens: pieces + </s>
        for length, indices in sorted(groups.items()):
            results = self.translator.translate_batch(
                [encodings[i].tokens for i in indices],
                beam_size=beam_size,
                num_hypotheses=beam_size,
                return_scores=True,
                length_penalty=alpha,
                max_decoding_length=max(1, int(max_len_a * length + max_len_b)) - 1,  # ours counts eos
                min_decoding_length=0,
                max_input_length=0,
                max_batch_size=max_batch_size,
                suppress_sequences=[[PAD], [BOS]],
                end_token=EOS,
            )
            for i, result in zip(indices, results):
                def gnmt(k: int) -> float:
                    n = len(result.hypotheses[k]) + 1  # |Y| with eos, as in CTranslate2's own score
                    return result.scores[k] * n**alpha / ((5 + n) / 6) ** alpha

                best = max(range(len(result.hypotheses)), key=gnmt)
                ids = [self.tokenizer.token_to_id(token) for token in result.hypotheses[best]]
                outputs[i] = self.tokenizer.decode(ids, skip_special_tokens=True)
        return outputs
