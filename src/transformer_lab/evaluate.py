"""`python -m transformer_lab.evaluate ckpt=PATH split=test`: sacreBLEU (with signature), chrF, chrF++ and the
paper-style tokenized BLEU of a checkpoint on a split; writes the hypotheses and a JSON record."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from transformer_lab.config_dir import CONFIG_DIR


def evaluate(cfg: DictConfig) -> dict:
    import sacrebleu
    from hydra.utils import instantiate

    from transformer_lab.checkpoints import module_from_checkpoint
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.training.config import SearchConfig, dataclass_from_mapping
    from transformer_lab.training.console import progress_bar_callbacks
    from transformer_lab.training.metrics import paper_style_bleu

    if cfg.split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {cfg.split!r}")
    module, checkpoint = module_from_checkpoint(cfg.ckpt)
    if module.data_config is None:
        raise ValueError(f"{cfg.ckpt} carries no data settings; it was not written by transformer_lab.train")
    data_config = {**module.data_config, **OmegaConf.to_container(cfg.data_overrides, resolve=True)}
    datamodule = TranslationDataModule(**data_config)
    datamodule.prepare_data()
    if module.tokenizer is not None and datamodule.tokenizer.to_json() != module.tokenizer.to_json():
        raise ValueError(
            "the data's tokenizer differs from the one the checkpoint was trained with; "
            "check data_overrides (vocabulary size, corpus) against the training run"
        )
    if cfg.search is not None:
        search = dataclass_from_mapping(SearchConfig, OmegaConf.to_container(cfg.search, resolve=True), "search")
        module.decoding_config.val = module.decoding_config.test = search

    output_dir = Path(cfg.paths.output_dir)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=progress_bar_callbacks(cfg.trainer, []),
                          default_root_dir=str(output_dir),
                          enable_model_summary=False)
    if cfg.split == "valid":
        trainer.validate(module, datamodule=datamodule)
    else:
        trainer.test(module, datamodule=datamodule)
    hypotheses = module.translations[cfg.split]
    references = datamodule.split_texts(cfg.split)[1]
    bleu = sacrebleu.metrics.BLEU()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf = sacrebleu.metrics.CHRF()
    result = {
        "checkpoint": str(cfg.ckpt),
        "split": cfg.split,
        "global_step": checkpoint.get("global_step"),
        "bleu": bleu_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "chrf++": sacrebleu.metrics.CHRF(word_order=2).corpus_score(hypotheses, [references]).score,
        "paper_style_bleu": paper_style_bleu(hypotheses, references),
        "n_sentences": len(hypotheses),
    }
    output_dir.mkdir(parents=True, exist_ok=True)
    hyp_path = output_dir / f"{cfg.split}.hyp.txt"
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
