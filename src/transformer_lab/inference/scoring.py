"""Scoring translations: a checkpoint's of a split or of a test set in files, or an existing hypothesis file,
measured with sacreBLEU (BLEU with its signature, chrF, chrF++) and the tokenized BLEU (as in the paper,
`training/module/tokenized_bleu.py`), and the evaluation record.

A split (`valid` or `test`) is read through the data module the checkpoint's own data settings describe and
translated by a Lightning trainer; a test set in files (`src` / `ref`: plain text, WMT's SGML or XML, see
`data.readers.test_files`) needs no corpus or cache and is translated with `inference.translation`; a
hypothesis file (`hyp` / `ref`, from this lab or another toolkit) is scored as it is (`score_files`). The
record is written as `evaluation.json` beside the hypotheses (`NAME.hyp.txt`), or where `output=` says.
The record names the test set when the reference is one the lab prepared (`inference/test_sets.py`).

`evaluate` (the command line) composes the settings, calls `evaluate_checkpoint` and prints.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    import lightning as L
    from sacrebleu.metrics.bleu import BLEUScore

    from transformer_lab.decoding.config import SearchConfig
    from transformer_lab.training.module.lightning_module import TranslationModule

SPLITS = ("valid", "test")


@dataclass
class Evaluation:
    """What `evaluate_checkpoint` found."""

    record: dict[str, Any]  # what evaluation.json holds: the checkpoint, what was translated, the scores
    hypotheses: list[str]  # one per source sentence
    name: str  # what was translated: the split, or the source file's name
    bleu: BLEUScore  # sacreBLEU's score; str() is its one-line summary


def _plain(values: Any) -> Any:
    """A config node as plain values (a plain mapping as it is)."""
    if isinstance(values, Mapping) and not isinstance(values, DictConfig):
        return dict(values)
    return OmegaConf.to_container(values, resolve=True)


def search_settings(search: SearchConfig | Mapping[str, Any] | None) -> SearchConfig | None:
    """`search` as a SearchConfig (keys and values checked, named `search.*` in errors); None: the
    checkpoint's own decoding settings."""
    from transformer_lab.config.parsing import dataclass_from_mapping
    from transformer_lab.decoding.config import SearchConfig

    if search is None or isinstance(search, SearchConfig):
        return search
    return dataclass_from_mapping(SearchConfig, _plain(search), "search")


def inference_device(trainer: Mapping[str, Any]) -> str:
    """"cuda" where the trainer settings ask for a GPU (gpu, cuda or auto) and one is available, else "cpu"."""
    import torch

    wants_gpu = trainer.get("accelerator") in ("gpu", "cuda", "auto")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def evaluation_trainer(trainer: Mapping[str, Any], root_dir: str | os.PathLike) -> L.Trainer:
    """The Lightning Trainer the settings `trainer` (a `_target_` mapping) describe, to validate or test
    with: no logger, no model summary, a progress bar unless the settings turn it off."""
    from hydra.utils import instantiate

    from transformer_lab.training.logging.console import progress_bar_callbacks

    return instantiate(trainer, logger=False, callbacks=progress_bar_callbacks(trainer, []),
                       default_root_dir=str(root_dir), enable_model_summary=False)


def translate_split(
    checkpoint_path: str | os.PathLike, split: str, *, make_trainer: Callable[[], L.Trainer],
    search: SearchConfig | Mapping[str, Any] | None = None, data_overrides: Mapping[str, Any] | None = None,
    ensemble_with: Sequence[str | os.PathLike] = (), device: str = "cpu", max_tokens: int | None = None,
    precision: str = "fp32",
) -> tuple[list[str], list[str], dict]:
    """(hypotheses, references, checkpoint) of the checkpoint's own `valid` or `test` split, through the data
    module the checkpoint's data settings (changed by `data_overrides`) describe, validated or tested by
    the trainer `make_trainer` builds (e.g. `evaluation_trainer`; called once the checkpoint is loaded).
    `ensemble_with`: more checkpoints of its vocabulary to decode with, as an ensemble; then the split's
    cleaned sources are translated on `device` by `inference.translation` (batches of `max_tokens`), not by
    the trainer, with the first checkpoint's decoding settings for the split (or `search`). `precision` int8:
    the model's int8 copy (`inference/int8.py`) translates; fp32 and bf16 are the trainer's own precision."""
    from transformer_lab.checkpointing.reading import load_checkpoint_file
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.data.tokenizers.stored import tokenizer_from_json
    from transformer_lab.inference.loading import module_from_checkpoint

    if split not in SPLITS:
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    stored = load_checkpoint_file(checkpoint_path, mmap=True)  # the data settings and tokenizer only
    if stored.get("data_config") is None:
        raise ValueError(f"{checkpoint_path} carries no data settings; it was not written by transformer_lab.train")
    data_config = {**stored["data_config"], **(_plain(data_overrides) if data_overrides is not None else {})}
    # A run started with init_from encoded its data with the source checkpoint's tokenizer (stored in it too)
    given = tokenizer_from_json(stored["tokenizer_json"]) if stored.get("init_from") else None
    datamodule = TranslationDataModule(**data_config, tokenizer=given)
    datamodule.prepare_data()
    if stored.get("tokenizer_json") not in (None, datamodule.tokenizer.to_json()):
        raise ValueError(
            "the data's tokenizer differs from the one the checkpoint was trained with; "
            "check data_overrides (vocabulary size, corpus) against the training run"
        )
    if ensemble_with:
        return _translate_split_with_ensemble([checkpoint_path, *ensemble_with], split, datamodule, search=search,
                                              device=device, max_tokens=max_tokens, precision=precision)
    module, checkpoint = module_from_checkpoint(checkpoint_path, search=search_settings(search),
                                                split_texts=datamodule.split_texts)
    if precision == "int8":
        from transformer_lab.inference.int8 import int8_copy

        module = int8_copy(module)

    lightning = make_trainer()
    if split == "valid":
        lightning.validate(module, datamodule=datamodule)
    else:
        lightning.test(module, datamodule=datamodule)
    return module.translations[split], datamodule.split_texts(split)[1], checkpoint


def _translate_split_with_ensemble(
    paths: Sequence[str | os.PathLike], split: str, datamodule, *, search: SearchConfig | Mapping[str, Any] | None,
    device: str, max_tokens: int | None, precision: str = "fp32",
) -> tuple[list[str], list[str], dict]:
    """translate_split for an ensemble of `paths` (checked to share one tokenizer, `inference.loading`)."""
    from transformer_lab.inference.loading import ensemble_of, modules_from_checkpoints
    from transformer_lab.inference.translation import translate_lines

    modules, checkpoints = modules_from_checkpoints(paths, search=search_settings(search))
    if checkpoints[0].get("tokenizer_json") not in (None, datamodule.tokenizer.to_json()):
        raise ValueError("the data's tokenizer differs from the one the checkpoints were trained with; "
                         "check data_overrides (vocabulary size, corpus) against the training runs")
    sources, references = datamodule.split_texts(split)
    decoding = modules[0].decoding_config
    hypotheses = translate_lines(modules[0], sources, decoding.val if split == "valid" else decoding.test,
                                 int(max_tokens or 4096), device, ensemble=ensemble_of(modules), precision=precision)
    return hypotheses, references, checkpoints[0]


def translate_test_files(
    module: TranslationModule, src: str | None, ref: str | None, *, src_lang: str | None = None,
    tgt_lang: str | None = None, max_tokens: int | None = None, device: str = "cpu", ensemble=None,
    precision: str = "fp32",
) -> tuple[list[str], list[str], str]:
    """(hypotheses, references, name) of the test set in `src` / `ref`, translated in batches of at most
    `max_tokens` source tokens (None: 4096) with the module's test decoding settings (and `ensemble`, an
    Ensemble holding the module's model, where given). The languages to read from a WMT .xml default to the
    checkpoint's."""
    from transformer_lab.data.readers.test_files import read_test_set
    from transformer_lab.inference.translation import translate_lines

    languages = module.data_config or {}
    sources, references = read_test_set(src, ref, src_lang or languages.get("src_lang"),
                                        tgt_lang or languages.get("tgt_lang"))
    search = module.decoding_config.test  # a `search` given to module_from_checkpoint is already in the settings
    hypotheses = translate_lines(module, sources, search, int(max_tokens or 4096), device, ensemble=ensemble,
                                 precision=precision)
    return hypotheses, references, Path(src or ref).name


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str],
                  tgt_lang: str | None = "de") -> tuple[dict[str, Any], BLEUScore]:
    """The record's scores and sacreBLEU's BLEU score. `sacrebleu` (with `sacrebleu_signature`) is the number
    to publish; `paper_bleu` is the tokenized BLEU (as in the paper) for `tgt_lang` (None, or not a language
    code: not computed, None). `bleu`, `bleu_signature` and `paper_style_bleu` repeat them under the names
    earlier records used."""
    import sacrebleu

    from transformer_lab.training.module.tokenized_bleu import LANGUAGE_CODE, tokenized_bleu

    bleu = sacrebleu.metrics.BLEU()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    signature = str(bleu.get_signature())
    paper = None
    if tgt_lang is not None and LANGUAGE_CODE.fullmatch(tgt_lang):
        paper = tokenized_bleu(hypotheses, references, tgt_lang).score
    scores = {
        "sacrebleu": bleu_score.score,
        "sacrebleu_signature": signature,
        "paper_bleu": paper,
        "paper_bleu_method": None if paper is None else paper_bleu_method(tgt_lang),
        "tgt_lang": tgt_lang,
        "chrf": sacrebleu.metrics.CHRF().corpus_score(hypotheses, [references]).score,
        "chrf++": sacrebleu.metrics.CHRF(word_order=2).corpus_score(hypotheses, [references]).score,
        "bleu": bleu_score.score,
        "bleu_signature": signature,
        "paper_style_bleu": paper,
    }
    return scores, bleu_score


def paper_bleu_method(tgt_lang: str) -> str:
    """How `paper_bleu` was computed, in words, for the record and the printed line."""
    from transformer_lab.training.module.tokenized_bleu import COMPOUND_SPLIT_LANGUAGES

    split = " + ##AT## compound splitting" if tgt_lang in COMPOUND_SPLIT_LANGUAGES else ""
    return f"Moses tokenizer.perl -l {tgt_lang}{split} + multi-bleu.perl"


def name_test_set(record: dict[str, Any], ref: str | None, tgt_lang: str | None) -> None:
    """Adds `test_set` (the prepared WMT set `ref` is, or None) and `test_set_warning` to `record`."""
    from transformer_lab.inference.test_sets import identify_test_set, reference_warning

    n = record["n_sentences"]
    found = identify_test_set(ref, tgt_lang, n) if ref is not None else None
    record["test_set"] = found.as_record() if found is not None else None
    record["test_set_warning"] = reference_warning(tgt_lang, n)


def score_files(hyp: str | os.PathLike | None, ref: str | os.PathLike | None, tgt_lang: str | None) -> Evaluation:
    """Scores an existing hypothesis file against a reference file (plain text, one sentence a line, line i
    translating the same source as line i); no checkpoint is needed. `tgt_lang` (e.g. "de", "fr") picks the
    tokenized BLEU's rules. DataError naming the setting and the fix for a user's mistake."""
    from transformer_lab.data.errors import DataError
    from transformer_lab.data.readers.textio import read_lines
    from transformer_lab.training.module.tokenized_bleu import LANGUAGE_CODE

    if ref is None:
        raise DataError(f"evaluate: hyp={hyp} needs ref=FILE (the reference translations, one per line).")
    if tgt_lang is None or not LANGUAGE_CODE.fullmatch(str(tgt_lang)):
        raise DataError(f"evaluate: hyp={hyp} needs tgt_lang= set to the references' language code, e.g. "
                        f"tgt_lang=de or tgt_lang=fr (got tgt_lang={tgt_lang}); it picks the tokenized BLEU's rules.")
    paths = {"hyp": Path(hyp).expanduser(), "ref": Path(ref).expanduser()}
    for key, path in paths.items():
        if not path.is_file():
            raise DataError(f"evaluate: {key}={path}: file not found.")
        if path.suffix in (".sgm", ".xml"):
            raise DataError(f"evaluate: {key}={path}: with hyp= give plain text, one sentence a line (for WMT "
                            f".sgm / .xml test sets translate with ckpt=PATH src=FILE ref=FILE).")
    hypotheses = read_lines(paths["hyp"])
    references = read_lines(paths["ref"])  # as they are, like the sacrebleu and Perl commands read them
    if len(hypotheses) != len(references):
        raise DataError(f"evaluate: hyp={paths['hyp']} has {len(hypotheses):,} lines but ref={paths['ref']} has "
                        f"{len(references):,}; give the hypotheses of exactly the reference's sentences, in order.")
    if not references:
        raise DataError(f"evaluate: ref={paths['ref']} holds no sentences.")
    scores, bleu_score = corpus_scores(hypotheses, references, tgt_lang)
    record = {"checkpoint": None, "split": None, "hyp": str(hyp), "src": None, "ref": str(ref), "global_step": None,
              **scores, "n_sentences": len(hypotheses)}
    name_test_set(record, str(paths["ref"]), tgt_lang)
    return Evaluation(record=record, hypotheses=hypotheses, name=paths["hyp"].name.removesuffix(".txt")
                      .removesuffix(".hyp"), bleu=bleu_score)


def checkpoint_paths(ckpt: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """evaluate's `ckpt=`: one path (`ckpt=a.ckpt`) or a list of them, an ensemble (`ckpt=[a.ckpt,b.ckpt]`)
    -> the paths. ConfigError for an empty list or an entry that is not a path."""
    from transformer_lab.config.checks import ConfigError

    if isinstance(ckpt, (str, os.PathLike)):
        return [str(ckpt)]
    paths = list(_plain(ckpt)) if not isinstance(ckpt, (list, tuple)) else list(ckpt)
    if not paths:
        raise ConfigError("evaluate: ckpt=[] names no checkpoint; give ckpt=PATH, or ckpt=[A,B] for an ensemble")
    bad = [p for p in paths if not isinstance(p, (str, os.PathLike))]
    if bad:
        raise ConfigError(f"evaluate: ckpt={paths}: {bad[0]!r} is not a path; give ckpt=PATH or ckpt=[A,B,...]")
    return [str(p) for p in paths]


def evaluate_checkpoint(
    checkpoint_path: str | os.PathLike | Sequence[str | os.PathLike], *, make_trainer: Callable[[], L.Trainer],
    device: str = "cpu", split: str = "test", src: str | None = None, ref: str | None = None,
    src_lang: str | None = None, tgt_lang: str | None = None, search: SearchConfig | Mapping[str, Any] | None = None,
    max_tokens: int | None = None, data_overrides: Mapping[str, Any] | None = None, precision: str | None = None,
) -> Evaluation:
    """Translates the test set in `src` / `ref` when either is given (on `device`), else the checkpoint's
    `split` (with the trainer `make_trainer` builds), and scores the translations. `search`: decoding
    settings instead of the checkpoint's own. Several checkpoints: their ensemble (one vocabulary; the
    record's `checkpoint` is then the list), decoded with the first one's settings unless `search` is given."""
    from transformer_lab.config.checks import ConfigError
    from transformer_lab.inference.loading import ensemble_of, modules_from_checkpoints

    paths = checkpoint_paths(checkpoint_path)
    settings = search_settings(search)
    precision = check_precision(precision, device, on_files=src is not None or ref is not None)
    if settings is not None and settings.strategy == "sample" and settings.samples > 1:
        raise ConfigError(f"evaluate: search.samples={settings.samples}: evaluate scores one translation per "
                          "sentence; drop search.samples (translate --sampling --samples N writes several)")
    on_files = src is not None or ref is not None
    if on_files:
        modules, checkpoints = modules_from_checkpoints(paths, search=settings)
        module, checkpoint = modules[0], checkpoints[0]
        hypotheses, references, name = translate_test_files(module, src, ref, src_lang=src_lang, tgt_lang=tgt_lang,
                                                            max_tokens=max_tokens, device=device,
                                                            ensemble=ensemble_of(modules), precision=precision)
    else:
        hypotheses, references, checkpoint = translate_split(paths[0], split, make_trainer=make_trainer,
                                                             search=settings, data_overrides=data_overrides,
                                                             ensemble_with=paths[1:], device=device,
                                                             max_tokens=max_tokens, precision=precision)
        name = split
    language = evaluation_language(tgt_lang, checkpoint)
    scores, bleu_score = corpus_scores(hypotheses, references, language)
    record = {
        "checkpoint": paths[0] if len(paths) == 1 else paths,
        "split": None if on_files else split,
        "hyp": None,
        "src": src,
        "ref": ref,
        "global_step": checkpoint.get("global_step"),
        "precision": precision,
        **scores,
        "n_sentences": len(hypotheses),
    }
    if on_files:
        name_test_set(record, ref if ref is not None else src, language)
    else:
        record["test_set"], record["test_set_warning"] = None, None  # the split of the checkpoint's own corpus
    return Evaluation(record=record, hypotheses=hypotheses, name=name, bleu=bleu_score)


def check_precision(precision: str | None, device: str, *, on_files: bool) -> str:
    """evaluate's `precision` key -> the precision to translate in: null (the default) is fp32 on test files and
    the trainer's own precision on a split; int8 (CPU only) is the model's int8 copy (`inference/int8.py`) in
    both modes; fp32 / bf16 apply to test files (on a split, `trainer.precision` says it). ConfigError naming
    the key otherwise."""
    from transformer_lab.config.checks import ConfigError
    from transformer_lab.inference.int8 import PRECISIONS, check_int8_device

    if precision is None:
        return "fp32"
    if precision not in PRECISIONS:
        raise ConfigError(f"evaluate: precision={precision!r} must be one of {', '.join(PRECISIONS)} (or null)")
    if precision != "int8" and not on_files:
        raise ConfigError(f"evaluate: precision={precision} on a split: the trainer's precision applies there; "
                          "set trainer.precision=bf16-mixed or 32-true instead (precision= takes int8 on a split)")
    if precision == "int8":
        try:
            check_int8_device(device, "evaluate precision=int8")
        except ValueError as error:
            raise ConfigError(f"{error} (the device comes from trainer.accelerator; add trainer=cpu)") from None
    return precision


def evaluation_language(tgt_lang: str | None, checkpoint: Mapping[str, Any]) -> str:
    """The target language the tokenized BLEU uses: `tgt_lang` if given, else the checkpoint's data
    settings' `tgt_lang`, else "de" (the built-in corpus, whose target is simplified German, names none)."""
    if tgt_lang:
        return str(tgt_lang)
    return str((checkpoint.get("data_config") or {}).get("tgt_lang") or "de")


def write_evaluation(evaluation: Evaluation, output_dir: Path, output: str | os.PathLike | None = None,
                     write_hypotheses: bool = True) -> tuple[Path | None, Path]:
    """Writes `NAME.hyp.txt` (one hypothesis per line, unless `write_hypotheses` is off) into `output_dir`
    (made if need be) and the record to `output` (default `output_dir/evaluation.json`; its folder made if
    need be); returns (the hypotheses' path or None, the record's path)."""
    hyp_path = None
    if write_hypotheses:
        output_dir.mkdir(parents=True, exist_ok=True)
        hyp_path = output_dir / f"{evaluation.name}.hyp.txt"
        hyp_path.write_text("".join(h + "\n" for h in evaluation.hypotheses), encoding="utf-8")
    record_path = Path(output).expanduser() if output is not None else output_dir / "evaluation.json"
    record_path.parent.mkdir(parents=True, exist_ok=True)
    record_path.write_text(json.dumps(evaluation.record, indent=2), encoding="utf-8")
    return hyp_path, record_path
