"""`python -m transformer_lab.evaluate ckpt=PATH split=test`: sacreBLEU (with signature), chrF, chrF++ and the
paper-style tokenized BLEU of a checkpoint on a split; writes the hypotheses and a JSON record.

`python -m transformer_lab.evaluate ckpt=PATH src=FILE ref=FILE` does the same on any test set: plain
text (one sentence per line) or WMT's SGML / XML (see `test_files.py`); no corpus or cache is needed."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from transformer_lab.config_dir import CONFIG_DIR


def _search(cfg: DictConfig):
    """The search settings of `cfg.search`, or None for the checkpoint's own."""
    from transformer_lab.training.config import SearchConfig, dataclass_from_mapping

    if cfg.search is None:
        return None
    return dataclass_from_mapping(SearchConfig, OmegaConf.to_container(cfg.search, resolve=True), "search")


def _translate_split(cfg: DictConfig) -> tuple[list[str], list[str], dict]:
    """(hypotheses, references, checkpoint) of the checkpoint's own `valid` or `test` split, through the data
    module the checkpoint's data settings describe."""
    from hydra.utils import instantiate

    from transformer_lab.checkpoints import module_from_checkpoint
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.training.checkpoint_io import load_checkpoint_file
    from transformer_lab.training.console import progress_bar_callbacks

    if cfg.split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {cfg.split!r}")
    stored = load_checkpoint_file(cfg.ckpt, mmap=True)  # the data settings and tokenizer only
    if stored.get("data_config") is None:
        raise ValueError(f"{cfg.ckpt} carries no data settings; it was not written by transformer_lab.train")
    data_config = {**stored["data_config"], **OmegaConf.to_container(cfg.data_overrides, resolve=True)}
    datamodule = TranslationDataModule(**data_config)
    datamodule.prepare_data()
    if stored.get("tokenizer_json") not in (None, datamodule.tokenizer.to_json()):
        raise ValueError(
            "the data's tokenizer differs from the one the checkpoint was trained with; "
            "check data_overrides (vocabulary size, corpus) against the training run"
        )
    module, checkpoint = module_from_checkpoint(cfg.ckpt, search=_search(cfg), split_texts=datamodule.split_texts)

    output_dir = Path(cfg.paths.output_dir)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=progress_bar_callbacks(cfg.trainer, []),
                          default_root_dir=str(output_dir),
                          enable_model_summary=False)
    if cfg.split == "valid":
        trainer.validate(module, datamodule=datamodule)
    else:
        trainer.test(module, datamodule=datamodule)
    return module.translations[cfg.split], datamodule.split_texts(cfg.split)[1], checkpoint


def _translate_test_files(cfg: DictConfig, module) -> tuple[list[str], list[str], str]:
    """(hypotheses, references, name) of the test set in `cfg.src` / `cfg.ref`, translated in batches."""
    import torch

    from transformer_lab.data.test_files import read_test_set
    from transformer_lab.translate import translate_lines

    languages = module.data_config or {}
    sources, references = read_test_set(cfg.get("src"), cfg.get("ref"),
                                        cfg.get("src_lang") or languages.get("src_lang"),
                                        cfg.get("tgt_lang") or languages.get("tgt_lang"))
    search = module.decoding_config.test  # the `search=` override, if any, is already in the settings
    wants_gpu = cfg.trainer.get("accelerator") in ("gpu", "cuda", "auto")
    device = "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"
    hypotheses = translate_lines(module, sources, search, int(cfg.get("max_tokens") or 4096), device)
    return hypotheses, references, Path(cfg.get("src") or cfg.get("ref")).name


def evaluate(cfg: DictConfig) -> dict:
    import sacrebleu

    from transformer_lab.checkpoints import module_from_checkpoint
    from transformer_lab.training.metrics import paper_style_bleu

    on_files = cfg.get("src") is not None or cfg.get("ref") is not None
    if on_files:
        module, checkpoint = module_from_checkpoint(cfg.ckpt, search=_search(cfg))
        hypotheses, references, name = _translate_test_files(cfg, module)
    else:
        hypotheses, references, checkpoint = _translate_split(cfg)
        name = cfg.split
    bleu = sacrebleu.metrics.BLEU()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf = sacrebleu.metrics.CHRF()
    result = {
        "checkpoint": str(cfg.ckpt),
        "split": None if on_files else cfg.split,
        "src": cfg.get("src"),
        "ref": cfg.get("ref"),
        "global_step": checkpoint.get("global_step"),
        "bleu": bleu_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "chrf++": sacrebleu.metrics.CHRF(word_order=2).corpus_score(hypotheses, [references]).score,
        "paper_style_bleu": paper_style_bleu(hypotheses, references),
        "n_sentences": len(hypotheses),
    }
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    hyp_path = output_dir / f"{name}.hyp.txt"
    hyp_path.write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
    (output_dir / "evaluation.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"{bleu_score}  [{result['bleu_signature']}]")
    print(f"chrF = {result['chrf']:.2f}   chrF++ = {result['chrf++']:.2f}   "
          f"paper-style tokenized compound-split BLEU = {result['paper_style_bleu']:.2f}")
    print(f"hypotheses: {hyp_path}")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from transformer_lab.training.console import configure_console

    configure_console()
    return evaluate(cfg)["bleu"]


if __name__ == "__main__":
    main()
