"""`python -m transformer_lab.evaluate ckpt=PATH split=test`: sacreBLEU (with signature), chrF, chrF++ and the
tokenized BLEU (as in the paper) of a checkpoint on a split; writes the hypotheses and a JSON record.

`python -m transformer_lab.evaluate ckpt=PATH src=FILE ref=FILE` does the same on any test set: plain
text (one sentence per line) or WMT's SGML / XML (see `data/readers/test_files.py`); no corpus or cache is needed.
`python -m transformer_lab.evaluate ckpt=[A.ckpt,B.ckpt] ...` evaluates the ensemble of several checkpoints of one
vocabulary (their log of the mean probability each step, `decoding/ensemble.py`), in every mode.
`python -m transformer_lab.evaluate hyp=FILE ref=FILE tgt_lang=de output=OUT.json` scores an existing
hypothesis file, with no checkpoint. `output=` puts the record elsewhere than the run directory, in every mode.
The work is done by `transformer_lab.inference.scoring`; this module is its command line."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from transformer_lab.config.directory import CONFIG_DIR

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    """Scores `cfg.ckpt` (a path, or a list of paths: an ensemble) (or the hypotheses `cfg.hyp`) as conf/evaluate.yaml describes (`inference.scoring`),
    writes the hypotheses and the record (evaluation.json in the run directory, or `cfg.output`) and prints
    the scores; returns the evaluation record."""
    from transformer_lab.config.checks import ConfigError
    from transformer_lab.inference.scoring import (
        evaluate_checkpoint,
        evaluation_trainer,
        inference_device,
        score_files,
        write_evaluation,
    )

    hyp, ckpt = cfg.get("hyp"), cfg.get("ckpt")
    if hyp is not None and ckpt is not None:
        raise ConfigError(f"evaluate: give ckpt= (translate, then score) or hyp= (score these translations), "
                          f"not both (got ckpt={ckpt} hyp={hyp}).")
    if hyp is not None:
        evaluation = score_files(hyp, cfg.get("ref"), cfg.get("tgt_lang"))
    elif ckpt is not None:
        evaluation = evaluate_checkpoint(
            ckpt, make_trainer=lambda: evaluation_trainer(cfg.trainer, cfg.paths.output_dir),
            device=inference_device(cfg.trainer), split=cfg.split, src=cfg.get("src"), ref=cfg.get("ref"),
            src_lang=cfg.get("src_lang"), tgt_lang=cfg.get("tgt_lang"), search=cfg.search,
            max_tokens=cfg.get("max_tokens"), data_overrides=cfg.data_overrides, precision=cfg.get("precision"),
        )  # the run directory (paths.output_dir) is resolved once needed: to build the trainer, to write
    else:
        raise ConfigError("evaluate: nothing to score: give ckpt=PATH (a checkpoint to translate with) or "
                          "hyp=FILE ref=FILE tgt_lang=LANG (translations to score).")
    hyp_path, record_path = write_evaluation(evaluation, Path(cfg.paths.output_dir), cfg.get("output"),
                                             write_hypotheses=hyp is None)
    result = evaluation.record
    for line in summary_lines(result, evaluation.bleu):
        print(line)
    if result.get("test_set_warning"):
        log.warning(result["test_set_warning"])
    if hyp_path is not None:
        print(f"hypotheses: {hyp_path}")
    print(f"record: {record_path}")
    return result


def summary_lines(result: dict, bleu) -> list[str]:
    """What evaluate prints: the test set (when known), sacreBLEU with its signature, chrF / chrF++ and
    the tokenized BLEU (as in the paper)."""
    lines = []
    if result.get("test_set"):
        lines.append(f"test set: {result['test_set']['described']}")
    lines.append(f"{bleu}  [{result['sacrebleu_signature']}]   (sacreBLEU: the number to publish)")
    paper = result.get("paper_bleu")
    paper_text = (f"{paper:.2f}  [{result['paper_bleu_method']}]" if paper is not None
                  else f"not computed (tgt_lang={result.get('tgt_lang')} is not a language code; give tgt_lang=de|fr)")
    lines.append(f"chrF = {result['chrf']:.2f}   chrF++ = {result['chrf++']:.2f}   "
                 f"({result['n_sentences']:,} sentences)")
    lines.append(f"tokenized BLEU (as in the paper) = {paper_text}")
    return lines


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="evaluate")
def main(cfg: DictConfig) -> float:
    from transformer_lab.training.logging.console import configure_console

    from transformer_lab.checkpointing.errors import CheckpointError
    from transformer_lab.config.checks import ConfigError
    from transformer_lab.data.errors import DataError

    configure_console()
    try:
        return evaluate(cfg)["sacrebleu"]
    except (ConfigError, DataError, CheckpointError) as error:  # a user's mistake, said in one line: no traceback
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
