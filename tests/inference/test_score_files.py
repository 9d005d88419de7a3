"""`evaluate hyp=FILE ref=FILE tgt_lang=LANG`: scoring a hypothesis file without a checkpoint, its refusals
of a user's mistakes, and the test set named in the record (`inference/test_sets.py`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sacrebleu
from hydra import compose, initialize_config_dir

from transformer_lab.config.checks import ConfigError
from transformer_lab.data.errors import DataError
from transformer_lab.evaluate import evaluate, summary_lines
from transformer_lab.inference.scoring import score_files
from transformer_lab.inference.test_sets import NEWSTEST2014_FULL, identify_test_set, reference_warning
from transformer_lab.training.module.tokenized_bleu import tokenized_bleu

REPO = Path(__file__).resolve().parents[2]
HYPS = ["Der Hund bellt laut.", "Die Nord-Süd-Verbindung ist z.B. neu.", "Er sagte: \"Ja\"."]
REFS = ["Der Hund bellt sehr laut.", "Die Nord-Süd-Verbindung ist z.B. neu.", "Er sagte: \"Nein\"."]


def write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_scores_a_hypothesis_file_like_sacrebleu_and_the_tokenized_bleu(tmp_path):
    evaluation = score_files(write(tmp_path / "h.de", HYPS), write(tmp_path / "r.de", REFS), "de")
    record = evaluation.record
    assert record["sacrebleu"] == sacrebleu.corpus_bleu(HYPS, [REFS]).score
    assert record["sacrebleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert record["paper_bleu"] == tokenized_bleu(HYPS, REFS, "de").score
    assert record["chrf"] == sacrebleu.corpus_chrf(HYPS, [REFS]).score
    assert record["n_sentences"] == 3 and record["checkpoint"] is None and record["test_set"] is None


def test_french_is_moses_tokenized_without_compound_splitting(tmp_path):
    hyps, refs = ["C'est un arc-en-ciel."], ["C'est un arc-en-ciel !"]
    record = score_files(write(tmp_path / "h.fr", hyps), write(tmp_path / "r.fr", refs), "fr").record
    assert record["paper_bleu"] == tokenized_bleu(hyps, refs, "fr").score
    assert "##AT##" not in record["paper_bleu_method"] and "-l fr" in record["paper_bleu_method"]


@pytest.mark.parametrize(("hyp_lines", "ref_lines", "message"), [
    (HYPS + ["ein Satz zu viel"], REFS, "has 4 lines but ref="),
    (HYPS[:1], REFS, "has 1 lines but ref="),
    ([], [], "holds no sentences"),
])
def test_refuses_unequal_or_empty_files(tmp_path, hyp_lines, ref_lines, message):
    with pytest.raises(DataError, match=message):
        score_files(write(tmp_path / "h.de", hyp_lines), write(tmp_path / "r.de", ref_lines), "de")


@pytest.mark.parametrize("missing", ["hyp", "ref"])
def test_refuses_a_missing_file_naming_the_key(tmp_path, missing):
    files = {"hyp": write(tmp_path / "h.de", HYPS), "ref": write(tmp_path / "r.de", REFS)}
    files[missing] = tmp_path / "nowhere.de"
    with pytest.raises(DataError, match=f"{missing}=.*nowhere.de: file not found"):
        score_files(files["hyp"], files["ref"], "de")


@pytest.mark.parametrize("tgt_lang", [None, "German", "DE", ""])
def test_refuses_a_missing_or_malformed_tgt_lang_naming_the_key(tmp_path, tgt_lang):
    with pytest.raises(DataError, match="needs tgt_lang= set to the references' language code"):
        score_files(write(tmp_path / "h.de", HYPS), write(tmp_path / "r.de", REFS), tgt_lang)


@pytest.mark.parametrize(("hyp_name", "ref_name"), [("h.sgm", "r.de"), ("h.de", "r.xml")])
def test_refuses_wmt_markup_files(tmp_path, hyp_name, ref_name):
    with pytest.raises(DataError, match="give plain text, one sentence a line"):
        score_files(write(tmp_path / hyp_name, HYPS), write(tmp_path / ref_name, REFS), "de")


def test_refuses_hyp_without_ref(tmp_path):
    with pytest.raises(DataError, match="needs ref=FILE"):
        score_files(write(tmp_path / "h.de", HYPS), None, "de")


def _config(tmp_path: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose(config_name="evaluate", overrides=[f"paths.output_dir={tmp_path / 'run'}", *overrides])


@pytest.mark.parametrize("overrides", [(), ("ckpt=/some/model.ckpt", "hyp=/some/h.de")])
def test_evaluate_wants_exactly_one_of_ckpt_and_hyp(tmp_path, overrides):
    with pytest.raises(ConfigError, match="ckpt="):
        evaluate(_config(tmp_path, *overrides))


def test_output_puts_the_record_where_asked(tmp_path):
    out = tmp_path / "elsewhere" / "OUT.json"
    cfg = _config(tmp_path, f"hyp={write(tmp_path / 'h.de', HYPS)}", f"ref={write(tmp_path / 'r.de', REFS)}",
                  "tgt_lang=de", f"output={out}")
    result = evaluate(cfg)
    assert json.loads(out.read_text()) == result
    assert not (tmp_path / "run" / "evaluation.json").exists()


def test_cli_error_is_one_line_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "transformer_lab.evaluate", f"hyp={write(tmp_path / 'h.de', HYPS)}",
                           f"ref={write(tmp_path / 'r.de', REFS)}", f"hydra.run.dir={tmp_path / 'run'}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: evaluate: hyp=")


# ------------------------------------------------------------------------------------ the test set named
def prepared_layout(root: Path, split: str, tgt: str, n: int) -> Path:
    """The parallel-text layout `prepare` writes: DIR/SPLIT.en and DIR/SPLIT.TGT, one sentence a line."""
    write(root / f"{split}.en", [f"sentence {i}" for i in range(n)])
    return write(root / f"{split}.{tgt}", [f"Satz {i}" for i in range(n)])


def test_names_newstest2014_full_in_the_record_and_the_printed_line(tmp_path):
    ref = prepared_layout(tmp_path / "wmt14_en_de", "test", "de", 3003)
    evaluation = score_files(ref, ref, "de")
    assert evaluation.record["test_set"]["described"] == "newstest2014, full, 3,003 sentences = sacreBLEU wmt14/full"
    assert "test set: newstest2014, full, 3,003 sentences = sacreBLEU wmt14/full" in summary_lines(
        evaluation.record, evaluation.bleu)
    assert evaluation.record["test_set_warning"] is None


def test_names_newstest2013_and_the_french_sets(tmp_path):
    assert identify_test_set(prepared_layout(tmp_path / "fr", "valid", "fr", 3000), "fr", 3000).name == "newstest2013"
    assert identify_test_set(prepared_layout(tmp_path / "fr", "test", "fr", 3003), "fr", 3003) == NEWSTEST2014_FULL
    assert identify_test_set(tmp_path / "newstest2014-deen-ref.de.sgm", "de", 3003) == NEWSTEST2014_FULL


@pytest.mark.parametrize("case", ["no source beside it", "other sentence count", "other language", "other name"])
def test_does_not_name_files_that_are_not_the_prepared_set(tmp_path, case):
    ref = prepared_layout(tmp_path, "test", "de", 3003)
    n, lang = 3003, "de"
    if case == "no source beside it":
        (tmp_path / "test.en").unlink()
    elif case == "other sentence count":
        n = 3002
    elif case == "other language":
        lang = "fr"
    else:
        ref = ref.rename(tmp_path / "newstest2014.de")
    assert identify_test_set(ref, lang, n) is None


def test_warns_about_the_filtered_2737_sentence_set(tmp_path):
    hyps = write(tmp_path / "h.de", [f"Satz {i}" for i in range(2737)])
    record = score_files(hyps, hyps, "de").record
    assert "sacreBLEU's filtered wmt14 set, not the paper's full newstest2014" in record["test_set_warning"]
    assert record["test_set"] is None
    assert reference_warning("fr", 2737) is None and reference_warning("de", 3003) is None
