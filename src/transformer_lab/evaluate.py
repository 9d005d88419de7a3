"""`python -m transformer_lab.evaluate ckpt=PATH split=test`: sacreBLEU (with signature), chrF, chrF++ and the
paper-style tokenized BLEU of a checkpoint on a split; writes the hypotheses and a JSON record.

`python -m transformer_lab.evaluate ckpt=PATH src=FILE ref=FILE` does the same on any test set: plain
text (one sentence per line) or WMT's SGML / XML (see `data/readers/test_files.py`); no corpus or cache is needed.
The work is done by `transformer_lab.inference.scoring`; this module is its command line."""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from transformer_lab.config.directory import CONFIG_DIR


def evaluate(cfg: DictConfig) -> dict:
    """Scores `cfg.ckpt` as conf/evaluate.yaml describes (`inference.scoring`), writes the hypotheses and
    evaluation.json into the run directory and prints the scores; returns the evaluation record."""
    from transformer_lab.inference.scoring import (
        evaluate_checkpoint,
        evaluation_trainer,
        inference_device,
        write_evaluation,
    )

    evaluation = evaluate_checkpoint(
        cfg.ckpt, make_trainer=lambda: evaluation_trainer(cfg.trainer, cfg.paths.output_dir),
        device=inference_device(cfg.trainer), split=cfg.split, src=cfg.get("src"), ref=cfg.get("ref"),
        src_lang=cfg.get("src_lang"), tgt_lang=cfg.get("tgt_lang"), search=cfg.search,
        max_tokens=cfg.get("max_tokens"), data_overrides=cfg.data_overrides,
    )  # the run directory (paths.output_dir) is resolved once needed: to build the trainer, to write
    hyp_path = write_evaluation(evaluation, Path(cfg.paths.output_dir))
    result = evaluation.record
    print(f"{evaluation.bleu}  [{result['bleu_signature']}]")
    print(f"chrF = {result['chrf']:.2f}   chrF++ = {result['chrf++']:.2f}   "
          f"paper-style tokenized compound-split BLEU = {result['paper_style_bleu']:.2f}")
    print(f"hypotheses: {hyp_path}")
    return result


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from transformer_lab.training.logging.console import configure_console

    configure_console()
    return evaluate(cfg)["bleu"]


if __name__ == "__main__":
    main()
