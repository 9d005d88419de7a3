from pathlib import Path

import pytest

from transformer_lab.data import DataError, ParallelTextCorpus, read_lines


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.en"
    path.write_bytes(b"fine\nstill fine\nbad \xff byte\n")
    with pytest.raises(DataError, match=r"train\.en, line 3: invalid UTF-8"):
        read_lines(path)


def test_unicode_line_separators_and_cr_do_not_split_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes("one\u2028still one\r\ntwo\u2029two\x85two\rtwo\nthree\r\n".encode())
    assert read_lines(path) == ["one\u2028still one", "two\u2029two\x85two\rtwo", "three"]


def test_pairing_survives_separators_inside_lines(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for split in ("train", "valid", "test"):
        (corpus / f"{split}.en").write_bytes("a\u2028b\nc\rd\ne\n".encode())
        (corpus / f"{split}.de").write_bytes("A B\nC D\r\nE\n".encode())
    sources, targets = ParallelTextCorpus(corpus, "en", "de").read("train")
    assert len(sources) == len(targets) == 3
    assert sources[2] == "e" and targets[2] == "E"


def test_file_without_final_newline_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xef\xbb\xbfa\nb")
    assert read_lines(path) == ["a", "b"]
