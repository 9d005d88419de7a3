"""WMT14 preparation on small local files in the real formats (no network)."""

from pathlib import Path

import pytest

from transformer_lab import prepare as prepare_cli
from transformer_lab.data import DataError, ParallelTextCorpus
from transformer_lab.data.wmt.prepare import TASKS, write_layout


def sgm(kind: str, lang: str, segments: list[str]) -> str:
    body = "\n".join(f'<seg id="{i}">{text}</seg>' for i, text in enumerate(segments, start=1))
    return (f'<{kind}set setid="x" srclang="any" trglang="{lang}">\n<doc sysid="ref" docid="d1" origlang="en">\n'
            f"<p>\n{body}\n</p>\n</doc>\n</{kind}set>\n")


def write_raw(raw: Path) -> None:
    task = TASKS["wmt14_en_de"]
    raw.mkdir()
    rows = {  # each training corpus: (English, German) with one empty pair and odd whitespace
        task.train[0]: (["Resumption of the session", "", "I declare  resumed\tthe session"],
                        ["Wiederaufnahme der Sitzungsperiode", "Leer", "Ich erkläre die Sitzung für  wieder aufgenommen"]),
        task.train[1]: (["Line\u2028with separator", "Second\r"], ["Zeile mit Trenner", "Zweite"]),
        task.train[2]: (["News one"], ["Nachricht eins"]),
    }
    for stem, (en, de) in rows.items():
        (raw / f"{stem}.en").write_text("".join(x + "\n" for x in en), encoding="utf-8")
        (raw / f"{stem}.de").write_text("".join(x + "\n" for x in de), encoding="utf-8")
    for name, kind, lang, segments in (
        (task.dev[0], "src", "en", ["A dev sentence.", "   "]),
        (task.dev[1], "ref", "de", ["Ein Dev-Satz.", "   "]),
        (task.test[0], "src", "en", ["Gutach: Increased safety for pedestrians", "Two"]),
        (task.test[1], "ref", "de", ["Gutach: Noch mehr Sicherheit für Fußgänger", "Zwei"]),
    ):
        (raw / name).write_text(sgm(kind, lang, segments), encoding="utf-8")


def test_write_layout_parses_cleans_and_writes(tmp_path: Path) -> None:
    write_raw(tmp_path / "raw")
    counts = write_layout(TASKS["wmt14_en_de"], tmp_path / "raw", tmp_path / "out")
    assert counts == {"train": 5, "valid": 2, "test": 2}
    corpus = ParallelTextCorpus(tmp_path / "out", "en", "de")
    sources, targets = corpus.read("train")
    assert sources[1] == "I declare resumed the session"  # whitespace normalized
    assert (sources[2], targets[2]) == ("Line with separator", "Zeile mit Trenner")
    assert corpus.read("valid") == (["A dev sentence.", ""], ["Ein Dev-Satz.", ""])  # dev keeps every line
    assert corpus.read("test")[1][0] == "Gutach: Noch mehr Sicherheit für Fußgänger"


def test_misaligned_training_files_are_refused(tmp_path: Path) -> None:
    write_raw(tmp_path / "raw")
    stem = TASKS["wmt14_en_de"].train[0]
    (tmp_path / "raw" / f"{stem}.de").write_text("only one line\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{stem}\.en has 3 lines but .*{stem}\.de has 1"):
        write_layout(TASKS["wmt14_en_de"], tmp_path / "raw", tmp_path / "out")
    assert not (tmp_path / "out" / "train.en").exists()  # nothing half-written


def test_cli_without_download_prints_the_config(tmp_path: Path, capsys) -> None:
    write_raw(tmp_path / "raw")
    out = tmp_path / "wmt14_en_de"
    code = prepare_cli.main(["wmt14_en_de", "--out", str(out), "--raw", str(tmp_path / "raw"), "--no-download"])
    printed = capsys.readouterr().out
    assert code == 0 and (out / "test.de").is_file()
    assert f"data=wmt14_en_de paths.data_dir={tmp_path}" in printed
    assert f"data=parallel_text data.dir={out}" in printed


def test_cli_reports_missing_raw_files(tmp_path: Path, capsys) -> None:
    (tmp_path / "raw").mkdir()
    code = prepare_cli.main(["wmt14_en_de", "--out", str(tmp_path / "o"), "--raw", str(tmp_path / "raw"),
                             "--no-download"])
    assert code == 1 and "Missing" in capsys.readouterr().err
