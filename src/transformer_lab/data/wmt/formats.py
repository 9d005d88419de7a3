"""Parsers for the file formats WMT ships test sets in, and for tab-separated pairs.

- SGML (WMT <= 2020): `newstest2014-deen-src.en.sgm` + `newstest2014-deen-ref.de.sgm`, one
  `<seg id=N>text</seg>` per line inside `<doc docid=.. >`. Like sacrebleu, segment text is taken verbatim
  (no entity unescaping), so references match what sacrebleu scores against.
- XML (WMT >= 2021): one file per language pair,
  `<dataset><collection><doc><src lang=xx><p><seg id=N>..` and `<ref lang=yy translator=A>..`.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from transformer_lab.data.errors import DataError
from transformer_lab.data.readers.textio import decode_lines, read_lines

log = logging.getLogger(__name__)

_DOC = re.compile(r"<doc\b[^>]*?\bdocid\s*=\s*\"?([^\"\s>]+)", re.IGNORECASE)
_SEG = re.compile(r"<seg\b[^>]*?\bid\s*=\s*\"?([^\"\s>]+)\"?[^>]*>(.*?)</seg>", re.IGNORECASE | re.DOTALL)


def read_sgm(path: str | Path) -> list[tuple[tuple[str, str], str]]:
    """((docid, segid), text) for every segment of a WMT .sgm file, in file order."""
    lines = read_lines(path)
    segments: list[tuple[tuple[str, str], str]] = []
    docid = ""
    for line in lines:
        for doc in _DOC.finditer(line):
            docid = doc.group(1)
        for seg in _SEG.finditer(line):
            segments.append(((docid, seg.group(1)), seg.group(2).strip()))
    if not segments:
        raise DataError(f"{path}: no <seg id=..>...</seg> elements found; is this a WMT .sgm file?")
    return segments


def read_sgm_pair(src_path: str | Path, ref_path: str | Path) -> tuple[list[str], list[str]]:
    """Aligned (sources, references) from a WMT source .sgm and its reference .sgm."""
    src, ref = read_sgm(src_path), read_sgm(ref_path)
    if len(src) != len(ref):
        raise DataError(
            f"{src_path} has {len(src)} segments but {ref_path} has {len(ref)}; "
            f"they must be the source and reference of the same test set."
        )
    for number, ((src_key, _), (ref_key, _)) in enumerate(zip(src, ref), start=1):
        if src_key != ref_key:
            raise DataError(
                f"Segment {number}: {src_path} has doc/seg {src_key} but {ref_path} has {ref_key}; "
                f"the files are not aligned."
            )
    return [text for _, text in src], [text for _, text in ref]


def read_wmt_xml(
    path: str | Path, src_lang: str, tgt_lang: str, translator: str | None = None
) -> tuple[list[str], list[str]]:
    """Aligned (sources, references) from a WMT XML test set.

    Documents without a `<ref lang=tgt_lang>` (some WMT sets have source-only documents) are skipped and
    counted in the log. With several references per document, `translator` picks one; default: the first.
    """
    path = Path(path)
    raw = path.read_bytes() if path.is_file() else None
    if raw is None:
        raise DataError(f"File not found: {path}")
    decode_lines(raw, str(path))  # precise file/line message for invalid UTF-8
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as err:
        line, column = err.position
        raise DataError(f"{path}, line {line}, column {column}: not well-formed XML ({err.msg}).") from None
    sources: list[str] = []
    references: list[str] = []
    skipped = 0
    for doc in root.iter("doc"):
        src = next((s for s in doc.findall("src") if s.get("lang") == src_lang), None)
        refs = [r for r in doc.findall("ref") if r.get("lang") == tgt_lang]
        if translator is not None:
            refs = [r for r in refs if r.get("translator") == translator]
        if src is None or not refs:
            skipped += 1
            continue
        src_segs = _segments(src)
        ref_segs = _segments(refs[0])
        if [k for k, _ in src_segs] != [k for k, _ in ref_segs]:
            raise DataError(
                f"{path}: document {doc.get('id')!r} has different segment ids in <src lang={src_lang}> "
                f"and <ref lang={tgt_lang}>."
            )
        sources += [t for _, t in src_segs]
        references += [t for _, t in ref_segs]
    if skipped:
        log.info("%s: skipped %d documents without both %s source and %s reference", path, skipped,
                 src_lang, tgt_lang)
    if not sources:
        raise DataError(
            f"{path}: no document has both <src lang=\"{src_lang}\"> and <ref lang=\"{tgt_lang}\">; "
            f"check src_lang/tgt_lang (and translator={translator!r})."
        )
    return sources, references


def _segments(element: ET.Element) -> list[tuple[str, str]]:
    return [(seg.get("id", ""), "".join(seg.itertext()).strip()) for seg in element.iter("seg")]


def read_tsv(path: str | Path, src_column: int = 0, tgt_column: int = 1) -> tuple[list[str], list[str]]:
    """Aligned (sources, targets) from a file with one tab-separated pair per line."""
    sources: list[str] = []
    targets: list[str] = []
    need = max(src_column, tgt_column) + 1
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) < need:
            raise DataError(
                f"{path}, line {number}: expected at least {need} tab-separated fields, found "
                f"{len(fields)}. Each line must be `source<TAB>target`."
            )
        sources.append(fields[src_column])
        targets.append(fields[tgt_column])
    return sources, targets
