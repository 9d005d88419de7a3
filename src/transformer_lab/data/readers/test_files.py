"""A test set given as files (`evaluate src=FILE ref=FILE`), in the formats WMT ships them.

- plain text: `src` and `ref` one sentence per line, line i of `ref` translating line i of `src`;
- SGML (`.sgm`, WMT <= 2020): the source and the reference `.sgm` files;
- XML (`.xml`, WMT >= 2021): one file holding both sides; `ref` may be left out (or be the same file).
The readers are the corpus readers' (`wmt_formats.py`, `textio.py`); references get the same whitespace
normalization as the dev and test splits of a corpus. Lines end at "\\n" only (a CRLF file reads as its LF
twin); files of unequal line counts, a source that is empty or blank only, and bytes that are not UTF-8 are
refused naming the file (and line).
"""

from __future__ import annotations

from pathlib import Path

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.cleaning import normalize_whitespace
from transformer_lab.data.readers.corpora import check_aligned
from transformer_lab.data.readers.textio import read_lines
from transformer_lab.data.wmt.formats import read_sgm_pair, read_wmt_xml


def read_test_set(src: str | None, ref: str | None, src_lang: str | None = None,
                  tgt_lang: str | None = None) -> tuple[list[str], list[str]]:
    """(sources, references) of a test set in files; DataError naming the file and the fix otherwise."""
    if src is None:
        raise DataError(f"evaluate: ref={ref} needs src=FILE too (the source sentences to translate).")
    src_path = Path(src).expanduser()
    if not src_path.is_file():
        raise DataError(f"evaluate: src={src_path}: file not found.")
    if src_path.suffix == ".xml":
        if ref is not None and Path(ref).expanduser().resolve() != src_path.resolve():
            raise DataError(f"evaluate: src={src_path} is a WMT XML test set, which holds the references too; "
                            f"leave ref out (got ref={ref}).")
        if not src_lang or not tgt_lang:
            raise DataError(f"evaluate: src={src_path} is a WMT XML test set: give src_lang=.. and tgt_lang=.. "
                            "(the <src lang> and <ref lang> to read).")
        sources, references = read_wmt_xml(src_path, src_lang, tgt_lang)
    else:
        if ref is None:
            raise DataError(f"evaluate: src={src_path} needs ref=FILE (the reference translations).")
        ref_path = Path(ref).expanduser()
        if not ref_path.is_file():
            raise DataError(f"evaluate: ref={ref_path}: file not found.")
        if (src_path.suffix == ".sgm") != (ref_path.suffix == ".sgm"):
            raise DataError(f"evaluate: src={src_path} and ref={ref_path}: give both as WMT .sgm files or both "
                            "as plain text.")
        if src_path.suffix == ".sgm":
            sources, references = read_sgm_pair(src_path, ref_path)
        else:
            sources, references = read_lines(src_path), read_lines(ref_path)
            check_aligned(sources, references, str(src_path), str(ref_path))
    if not sources:
        raise DataError(f"evaluate: src={src_path} holds no sentences (the file is empty); give the test set's "
                        "source file.")
    if not any(line.strip() for line in sources):  # all blank: a BLEU of nothing against the references
        raise DataError(f"evaluate: src={src_path} holds no sentences: its {len(sources)} lines are all empty; "
                        "give the test set's source file.")
    return sources, [normalize_whitespace(line) for line in references]
