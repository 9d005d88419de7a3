"""`evaluate ckpt=... output=FILE`: the checkpoint modes write their record where `output=` says, with the
tokenized BLEU (as in the paper) of the checkpoint's target language."""

from __future__ import annotations

import json

import sacrebleu
from training_helpers import run_cli

from transformer_lab.training.module.tokenized_bleu import tokenized_bleu


def test_checkpoint_mode_writes_the_record_to_output(tmp_path, finished_run):
    out = tmp_path / "records" / "valid.json"
    run_cli("transformer_lab.evaluate", f"ckpt={finished_run / 'checkpoints' / 'last.ckpt'}", "split=valid",
            f"output={out}", f"hydra.run.dir={tmp_path / 'eval'}", "trainer.enable_progress_bar=false")
    record = json.loads(out.read_text())
    assert not (tmp_path / "eval" / "evaluation.json").exists()
    hypotheses = (tmp_path / "eval" / "valid.hyp.txt").read_text(encoding="utf-8").splitlines()
    references = (finished_run / "translations" / "valid.ref.txt").read_text(encoding="utf-8").splitlines()
    assert record["sacrebleu"] == sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert record["tgt_lang"] == "de"  # the built-in corpus names no language: its target is simplified German
    assert record["paper_bleu"] == tokenized_bleu(hypotheses, references, "de").score
    assert record["test_set"] is None and record["n_sentences"] == len(references)
