"""`evaluate src=FILE ref=FILE`: one test set in plain text, WMT SGML and WMT XML reads the same."""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from transformer_lab.data import DataError
from transformer_lab.data.readers.test_files import read_test_set

SOURCES = ["The dog sees the cat.", "A  small house.", "Größe: 5 km² — “Zürich”"]
REFERENCES = ["Der Hund sieht die Katze.", "Ein kleines\tHaus.", "Größe: 5 km² — „Zürich“"]


def write_formats(directory: Path) -> dict[str, Path]:
    """The same three segments as plain text, SGML (two documents) and WMT XML."""
    (directory / "test.en").write_text("".join(s + "\n" for s in SOURCES), encoding="utf-8")
    (directory / "test.de").write_text("".join(r + "\n" for r in REFERENCES), encoding="utf-8")
    for name, kind, lines in (("src.sgm", "srcset", SOURCES), ("ref.sgm", "refset", REFERENCES)):
        segs = [f'<seg id="{i}">{line}</seg>' for i, line in enumerate(lines, start=1)]
        (directory / name).write_text(
            f'<{kind} setid="t" srclang="en">\n<doc docid="a" genre="news">\n' + "\n".join(segs[:2])
            + '\n</doc>\n<doc docid="b">\n' + segs[2] + f"\n</doc>\n</{kind}>\n", encoding="utf-8")
    def side(tag: str, lang: str, lines: list[str]) -> str:
        segs = "".join(f'<seg id="{i}">{escape(line)}</seg>' for i, line in enumerate(lines, start=1))
        return f'<{tag} lang="{lang}"><p>{segs}</p></{tag}>'
    (directory / "test.xml").write_text(
        f'<dataset id="t"><collection id="general"><doc id="a">{side("src", "en", SOURCES)}'
        f'{side("ref", "de", REFERENCES)}</doc></collection></dataset>', encoding="utf-8")
    return {"text": directory / "test.en", "sgm": directory / "src.sgm", "xml": directory / "test.xml"}


def test_every_format_gives_the_same_test_set(tmp_path: Path) -> None:
    paths = write_formats(tmp_path)
    expected = (SOURCES, ["Der Hund sieht die Katze.", "Ein kleines Haus.", "Größe: 5 km² — „Zürich“"])
    assert read_test_set(str(paths["text"]), str(tmp_path / "test.de")) == expected
    assert read_test_set(str(paths["sgm"]), str(tmp_path / "ref.sgm")) == expected
    assert read_test_set(str(paths["xml"]), None, "en", "de") == expected


@pytest.mark.parametrize("src, ref, langs, message", [
    (None, "test.de", (None, None), r"ref=.*test\.de needs src=FILE"),
    ("missing.en", "test.de", (None, None), r"src=.*missing\.en: file not found"),
    ("test.en", None, (None, None), r"src=.*test\.en needs ref=FILE"),
    ("test.en", "missing.de", (None, None), r"ref=.*missing\.de: file not found"),
    ("src.sgm", "test.de", (None, None), r"both as WMT \.sgm files or both as plain text"),
    ("test.xml", None, ("en", None), r"give src_lang=\.\. and tgt_lang=\.\."),
    ("test.xml", "test.de", ("en", "de"), r"holds the references too; leave ref out"),
])
def test_bad_test_files_are_named(tmp_path: Path, src, ref, langs, message) -> None:
    write_formats(tmp_path)
    with pytest.raises(DataError, match=message):
        read_test_set(src and str(tmp_path / src), ref and str(tmp_path / ref), *langs)


def test_plain_files_of_different_length_are_refused(tmp_path: Path) -> None:
    write_formats(tmp_path)
    (tmp_path / "short.de").write_text("eine Zeile\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"test\.en has 3 lines but .*short\.de has 1"):
        read_test_set(str(tmp_path / "test.en"), str(tmp_path / "short.de"))


@pytest.mark.parametrize("ref_lines", [["eine Zeile"], REFERENCES + ["eine Zeile zu viel"], REFERENCES[:2] + ["", ""]],
                         ids=["shorter", "longer", "trailing blank lines"])
def test_unequal_plain_files_name_both_counts(tmp_path: Path, ref_lines) -> None:
    write_formats(tmp_path)
    (tmp_path / "ref.de").write_bytes("".join(line + "\n" for line in ref_lines).encode())
    with pytest.raises(DataError, match=rf"test\.en has 3 lines but .*ref\.de has {len(ref_lines)}"):
        read_test_set(str(tmp_path / "test.en"), str(tmp_path / "ref.de"))


def test_crlf_files_read_as_their_lf_twins(tmp_path: Path) -> None:
    write_formats(tmp_path)
    expected = read_test_set(str(tmp_path / "test.en"), str(tmp_path / "test.de"))
    crlf = {name: (tmp_path / name).read_bytes().replace(b"\n", b"\r\n") for name in ("test.en", "test.de")}
    for src_bytes, ref_bytes in ((crlf["test.en"], crlf["test.de"]),  # both CRLF
                                 (crlf["test.en"], (tmp_path / "test.de").read_bytes()),  # mixed
                                 (crlf["test.en"].rstrip(b"\r\n"), crlf["test.de"])):  # no final line break
        (tmp_path / "c.en").write_bytes(src_bytes)
        (tmp_path / "c.de").write_bytes(ref_bytes)
        assert read_test_set(str(tmp_path / "c.en"), str(tmp_path / "c.de")) == expected


@pytest.mark.parametrize("src_bytes, ref_bytes, message", [
    (b"", b"", r"src=.*empty\.en holds no sentences \(the file is empty\)"),
    (b"\n\n  \n\t\n", b"a\nb\nc\nd\n", r"src=.*empty\.en holds no sentences: its 4 lines are all empty"),
    (b"\r\n\r\n", b"a\nb\n", r"src=.*empty\.en holds no sentences: its 2 lines are all empty"),
    (b"one\ntwo\n", b"", r"empty\.en has 2 lines but .*empty\.de has 0"),  # an empty reference
], ids=["both empty", "blank lines", "blank CRLF lines", "empty reference"])
def test_empty_or_blank_files_are_refused(tmp_path: Path, src_bytes, ref_bytes, message) -> None:
    (tmp_path / "empty.en").write_bytes(src_bytes)
    (tmp_path / "empty.de").write_bytes(ref_bytes)
    with pytest.raises(DataError, match=message):
        read_test_set(str(tmp_path / "empty.en"), str(tmp_path / "empty.de"))


@pytest.mark.parametrize("side, data, where", [
    ("src", "Größe\nok\n".encode("latin-1"), r"bad\.en, line 1: invalid UTF-8 \(byte 0xf6 at column 3\)"),
    ("ref", b"fine\n\x80\x81 bytes\n", r"bad\.de, line 2: invalid UTF-8 \(byte 0x80 at column 1\)"),
    ("src", "a\nb\n".encode("utf-16"), r"bad\.en, line 1: invalid UTF-8 \(byte 0xff at column 1\)"),
], ids=["latin-1 source", "stray bytes in the reference", "UTF-16 source"])
def test_non_utf8_files_name_the_file_and_line(tmp_path: Path, side, data, where) -> None:
    (tmp_path / "bad.en").write_bytes(b"one\ntwo\n")
    (tmp_path / "bad.de").write_bytes(b"eins\nzwei\n")
    (tmp_path / ("bad.en" if side == "src" else "bad.de")).write_bytes(data)
    with pytest.raises(DataError, match=where + r".*iconv"):
        read_test_set(str(tmp_path / "bad.en"), str(tmp_path / "bad.de"))
