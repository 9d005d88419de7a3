"""The tokenized BLEU (as in the paper) against the Perl pipeline it reproduces, run for real:
`tokenizer.perl -l LANG` (the copy the `mosestokenizer` package ships), t2t's `perl -ple` compound
splitting, and `multi-bleu.perl` (the copy `texar-pytorch` ships; both packages are in the `dev` extra).
The sentences are ones where sacreBLEU's 13a and Moses tokenize differently."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import sacrebleu

from transformer_lab.training.module.tokenized_bleu import (
    moses_tokenize,
    paper_tokenize,
    split_compounds,
    tokenized_bleu,
)

PERL = shutil.which("perl")
needs_perl = pytest.mark.skipif(PERL is None, reason="needs perl")
T2T_ATAT = r"s{(\S)-(\S)}{$1 ##AT##-##AT## $2}g"  # tensor2tensor's get_ende_bleu.sh, verbatim

GERMAN_REFS = [
    "Der Nord-Süd-Verbindung fehlt z.B. das Geld, d.h. 3.000 Euro.",
    "„Das ist's“, sagte er: \"Wir kommen um 15:30 Uhr am 3. Oktober.\"",
    "Die 2-Zimmer-Wohnung kostet 1.200,50 € bzw. 10% mehr – ab Jan. 2014.",
    "Er sagte: 'Geht's noch?' … und ging.",
    "Prof. Dr. Müller & Co. KG (Berlin) [siehe Nr. 5] <b>fett</b> | x",
    "Die E-Mail-Adresse ist info@example.com, die URL http://www.example.com/a-b?x=1.",
    "Das x-ä-y und a-b-c sowie Ö-Ü-Verhältnis und 5-6-7 und ü-ü-ü.",
    "US-Präsident Obama traf EU-Kommissar Barroso im Oktober 2013 in Washington D.C.",
    "«Guillemets» und ‚einfache‘ sowie »umgekehrte« Anführungszeichen.",
    "Ein\u00a0Test mit\u2009dünnem und\u202fschmalem Leerzeichen\u3000hier.",
    "Preis: $5.99 ... oder 5,99$?! Nein!!! 1990er-Jahre, 20-jährige.",
    "Steuer\x1fzeichen\x07 und\tTabulator   hier.",
    "Es kostet 1.000.000 Dollar (ca. 750.000 Euro), d. h. viel, am 1. Januar um 8.30 Uhr.",
    "AT&T's CEO sagte \"hallo\" und ‘tschüss’; 3–5 Jahre; 1,5-fach; 2014/15.",
    "Die @-Zeichen und #hashtag und 100 % und 5 km/h.",
]
GERMAN_HYPS = [
    "Der Nord-Süd-Verbindung fehlt z.B. Geld, d.h. 3.000 Euro.",
    "„Das ist's“, sagte er: \"Wir kommen um 15:30 Uhr am 3. Oktober\"",
    "Die 2-Zimmer-Wohnung kostet 1.200,50 € bzw. 10 % mehr - ab Jan. 2014.",
    "Er sagte: 'Geht's noch?'... und ging.",
    "Prof. Dr. Müller & Co. KG (Berlin) [siehe Nr. 5] fett | x",
    "Die E-Mail-Adresse ist info@example.com, die URL ist http://www.example.com/a-b?x=1.",
    "Das x-ä-y und a-b-c sowie Ö-Ü-Verhältnis und 5-6-7 und ü-ü.",
    "US-Präsident Obama traf den EU-Kommissar Barroso im Oktober 2013 in Washington D.C.",
    "«Guillemets» und ‚einfache‘ sowie »umgekehrte« Anführungszeichen",
    "Ein Test mit dünnem und\u202fschmalem Leerzeichen hier.",
    "Preis: $5.99 ... oder 5,99$?! Nein! 1990er-Jahre, 20-jährige.",
    "Steuerzeichen und Tabulator hier.",
    "Es kostet 1.000.000 Dollar (ca. 750.000 Euro), d. h. viel, am 1. Januar um 8.30 Uhr",
    "AT&T's Chef sagte \"hallo\" und ‘tschüss’; 3-5 Jahre; 1,5-fach; 2014/15.",
    "Die @-Zeichen und #hashtag und 100% und 5 km/h.",
]
FRENCH_REFS = [
    "L'homme qu'il a vu aujourd'hui n'est pas là.",
    "« Bonjour », dit-il ; c'est-à-dire : « Au revoir ! »",
    "M. Dupont et Mme Durand ont payé 3,50 € le 1er janvier.",
    "Le prix est de 1 000 000 $, soit 10 % de plus qu'en 2013. Il y en a.",
    "J'ai dit \"oui\" et l’autre a dit 'non'.",
    "Arc-en-ciel et peut-être, le Nord-Pas-de-Calais.",
]
FRENCH_HYPS = [
    "L'homme qu'il a vu aujourd'hui n'est pas ici.",
    "« Bonjour », dit-il ; c'est-à-dire : « Au revoir ! »",
    "M. Dupont et Mme Durand ont payé 3,50 € le 1er janvier.",
    "Le prix est de 1 000 000 $, soit 10 % de plus qu'en 2013. Il y a.",
    "J'ai dit \"oui\" et l'autre a dit « non ».",
    "Arc-en-ciel et peut-être, le Nord-Pas-de-Calais.",
]


def _perl_file(distribution: str, name: str) -> Path:
    """A Perl script shipped inside an installed Python distribution (skips the test without it)."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        pytest.skip(f"needs the {distribution} package (the dev extra) for its {name}")
    for file in files:
        if file.name == name:
            return Path(file.locate())
    pytest.skip(f"{distribution} ships no {name}")


def _perl(args: list[str], text: str, tmp_path: Path | None = None) -> str:
    return subprocess.run([PERL, *args], input=text.encode("utf-8"), capture_output=True, check=True,
                          cwd=tmp_path).stdout.decode("utf-8")


def _lines(text: str) -> str:
    return "".join(line + "\n" for line in text)


def perl_tokenize(lines: list[str], lang: str) -> list[str]:
    """`tokenizer.perl -q -l LANG`, as get_ende_bleu.sh runs it (no -a, escaping on)."""
    script = Path(importlib.util.find_spec("mosestokenizer").origin).parent / "tokenizer-v1.1.perl"
    return _perl([str(script), "-q", "-l", lang], _lines(lines)).split("\n")[:-1]


def perl_multi_bleu(hyps: list[str], refs: list[str], tmp_path: Path) -> float:
    """`multi-bleu.perl REF < HYP`'s BLEU (printed with two decimals)."""
    script = _perl_file("texar-pytorch", "multi-bleu.perl")
    (tmp_path / "ref.txt").write_text(_lines(refs), encoding="utf-8")
    out = _perl([str(script), str(tmp_path / "ref.txt")], _lines(hyps), tmp_path)
    return float(re.match(r"BLEU = ([0-9.]+),", out).group(1))


@pytest.fixture(autouse=True)
def _moses_reference():
    if importlib.util.find_spec("mosestokenizer") is None:
        pytest.skip("needs the mosestokenizer package (the dev extra) for tokenizer.perl")


@needs_perl
@pytest.mark.parametrize(("lines", "lang"), [(GERMAN_REFS + GERMAN_HYPS, "de"), (FRENCH_REFS + FRENCH_HYPS, "fr")])
def test_moses_tokenization_equals_tokenizer_perl(lines, lang):
    assert [moses_tokenize(line, lang) for line in lines] == perl_tokenize(lines, lang)


@needs_perl
@pytest.mark.parametrize("line", [
    "Nord-Süd-Verbindung", "a-b-c-d", "x-ä-y", "ü-ü-ü", "Ö-Ü-Verhältnis", "5-6-7", "a - b", "-a- b-", "a--b",
    "x\u00a0-y", "ab-\u3000-cd", "e-mail-Adresse ##AT##-##AT## x", "", "€-€-€",
])
def test_compound_splitting_equals_perl(line):
    assert split_compounds(line) == _perl(["-ple", T2T_ATAT], line + "\n")[:-1]


def test_compound_splitting_resumes_after_each_match():
    # the closed form of Perl's /g on a chain: non-overlapping matches, left to right
    assert split_compounds("Nord-Süd-Verbindung") == "Nord ##AT##-##AT## Süd ##AT##-##AT## Verbindung"
    assert split_compounds("a-b-c") == "a ##AT##-##AT## b-c"
    assert split_compounds("a - b") == "a - b"


@needs_perl
def test_german_bleu_equals_tokenizer_atat_multi_bleu(tmp_path):
    hyps = [_perl(["-ple", T2T_ATAT], line + "\n")[:-1] for line in perl_tokenize(GERMAN_HYPS, "de")]
    refs = [_perl(["-ple", T2T_ATAT], line + "\n")[:-1] for line in perl_tokenize(GERMAN_REFS, "de")]
    expected = perl_multi_bleu(hyps, refs, tmp_path)
    ours = tokenized_bleu(GERMAN_HYPS, GERMAN_REFS, "de").score
    assert ours == pytest.approx(expected, abs=0.0051)  # multi-bleu.perl prints two decimals
    # the sentences are ones where the old 13a stand-in tokenized differently
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    differing = [line for line, perl in zip(GERMAN_REFS, perl_tokenize(GERMAN_REFS, "de"), strict=True)
                 if Tokenizer13a()(line) != perl]
    assert len(differing) >= len(GERMAN_REFS) - 2


@needs_perl
def test_french_bleu_is_moses_tokenized_without_splitting(tmp_path):
    expected = perl_multi_bleu(perl_tokenize(FRENCH_HYPS, "fr"), perl_tokenize(FRENCH_REFS, "fr"), tmp_path)
    assert tokenized_bleu(FRENCH_HYPS, FRENCH_REFS, "fr").score == pytest.approx(expected, abs=0.0051)
    assert "##AT##" not in paper_tokenize("Arc-en-ciel", "fr")
    assert "##AT##" in paper_tokenize("Nord-Süd", "de")


@needs_perl
def test_multi_bleu_semantics_on_edge_cases(tmp_path):
    # a corpus with no matching 4-gram: multi-bleu.perl gives 0 (no smoothing); closest reference length
    hyps, refs = ["a b c d", "x y"], ["a b c e", "x y z"]
    assert tokenized_bleu(hyps, refs, "de").score == pytest.approx(perl_multi_bleu(hyps, refs, tmp_path), abs=0.0051)
    hyps, refs = ["das ist ein kleiner Test", "noch ein Test hier"], ["das ist ein kleiner Test", "noch ein Satz hier"]
    assert tokenized_bleu(hyps, refs, "de").score == pytest.approx(perl_multi_bleu(hyps, refs, tmp_path), abs=0.0051)


@pytest.mark.parametrize("bad", ["German", "", None, "d e"])
def test_tokenized_bleu_refuses_a_language_that_is_not_a_code(bad):
    with pytest.raises(ValueError, match="tgt_lang must be a language code"):
        tokenized_bleu(["a"], ["a"], bad)


@pytest.mark.parametrize(("hyps", "refs"), [(["a", "b"], ["a"]), ([], ["a"])])
def test_tokenized_bleu_refuses_unequal_lengths(hyps, refs):
    with pytest.raises(ValueError, match="hypotheses but"):
        tokenized_bleu(hyps, refs, "de")


@needs_perl
@pytest.mark.parametrize(("hyps", "refs", "lang"), [(GERMAN_HYPS, GERMAN_REFS, "de"), (FRENCH_HYPS, FRENCH_REFS, "fr")])
def test_evaluate_hyp_ref_gives_the_perl_pipelines_bleu(tmp_path, hyps, refs, lang):
    """The command line: `evaluate hyp= ref= tgt_lang= output=` against tokenizer.perl (+ ##AT## for German)
    + multi-bleu.perl, run on the same files."""
    import json
    import sys

    hyp, ref = tmp_path / f"hyp.{lang}", tmp_path / f"ref.{lang}"
    hyp.write_text(_lines(hyps), encoding="utf-8")
    ref.write_text(_lines(refs), encoding="utf-8")
    out = tmp_path / "OUT.json"
    subprocess.run([sys.executable, "-m", "transformer_lab.evaluate", f"hyp={hyp}", f"ref={ref}", f"tgt_lang={lang}",
                    f"output={out}", f"hydra.run.dir={tmp_path / 'run'}"], check=True, capture_output=True, timeout=300)
    record = json.loads(out.read_text())
    tok_hyps, tok_refs = perl_tokenize(hyps, lang), perl_tokenize(refs, lang)
    if lang == "de":
        tok_hyps = [_perl(["-ple", T2T_ATAT], line + "\n")[:-1] for line in tok_hyps]
        tok_refs = [_perl(["-ple", T2T_ATAT], line + "\n")[:-1] for line in tok_refs]
    assert record["paper_bleu"] == pytest.approx(perl_multi_bleu(tok_hyps, tok_refs, tmp_path), abs=0.01)
    assert record["sacrebleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert {"sacrebleu_signature", "chrf", "n_sentences"} <= set(record) and record["n_sentences"] == len(hyps)
