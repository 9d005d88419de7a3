from pathlib import Path

import pytest

from transformer_lab.data import DataError, read_sgm_pair, read_tsv, read_wmt_xml

SRC_SGM = """<srcset setid="newstest2014" srclang="any">
<doc sysid="ref" docid="1012-bbc" genre="news" origlang="en">
<hl>
<seg id="1">Gutach: Increased safety for pedestrians</seg>
</hl>
<p>
<seg id="2">They are not even 100 metres apart: On Tuesday, the new B 33 pedestrian lights &amp; more.</seg>
<seg id="3">  Spaces   inside \u2028 stay on one line </seg>
</p>
</doc>
<doc sysid="ref" docid="1013-x" genre="news" origlang="de">
<seg id="1">Second document.</seg>
</doc>
</srcset>
"""
REF_SGM = """<refset setid="newstest2014" srclang="any" trglang="de">
<doc sysid="ref" docid="1012-bbc" genre="news" origlang="en">
<hl>
<seg id="1">Gutach: Noch mehr Sicherheit für Fußgänger</seg>
</hl>
<p>
<seg id="2">Sie stehen keine 100 Meter voneinander entfernt: Am Dienstag ist in Gutach die neue B 33-Fußgängerampel.</seg>
<seg id="3">Dritte Zeile</seg>
</p>
</doc>
<doc sysid="ref" docid="1013-x" genre="news" origlang="de">
<seg id="1">Zweites Dokument.</seg>
</doc>
</refset>
"""

XML = """<?xml version="1.0" encoding="utf-8"?>
<dataset id="wmttest2022">
  <collection id="general">
    <doc id="test-en-news_a.1" origlang="en">
      <src lang="en"><p><seg id="1">Hello &amp; welcome.</seg><seg id="2">Second <b>bold</b> one.</seg></p></src>
      <ref lang="de" translator="A"><p><seg id="1">Hallo &amp; willkommen.</seg><seg id="2">Zweiter.</seg></p></ref>
      <ref lang="de" translator="B"><p><seg id="1">Hallo und willkommen.</seg><seg id="2">Zweites.</seg></p></ref>
    </doc>
    <doc id="test-en-news_b.2" origlang="en">
      <src lang="en"><p><seg id="1">No reference here.</seg></p></src>
    </doc>
    <doc id="test-en-news_c.3" origlang="en">
      <src lang="en"><p><seg id="1">Last.</seg></p></src>
      <ref lang="de" translator="A"><p><seg id="1">Zuletzt.</seg></p></ref>
    </doc>
  </collection>
</dataset>
"""


def test_sgm_pair_is_parsed_in_order(tmp_path: Path) -> None:
    (tmp_path / "src.sgm").write_text(SRC_SGM, encoding="utf-8")
    (tmp_path / "ref.sgm").write_text(REF_SGM, encoding="utf-8")
    sources, references = read_sgm_pair(tmp_path / "src.sgm", tmp_path / "ref.sgm")
    assert len(sources) == len(references) == 4
    assert sources[0] == "Gutach: Increased safety for pedestrians"
    assert references[1].startswith("Sie stehen keine 100 Meter")
    assert sources[1].endswith("&amp; more.")  # verbatim, like sacrebleu
    assert "\u2028" in sources[2]
    assert (sources[3], references[3]) == ("Second document.", "Zweites Dokument.")


def test_sgm_misaligned_documents_are_an_error(tmp_path: Path) -> None:
    (tmp_path / "src.sgm").write_text(SRC_SGM, encoding="utf-8")
    (tmp_path / "ref.sgm").write_text(REF_SGM.replace('<seg id="3">Dritte Zeile</seg>\n', ""), encoding="utf-8")
    with pytest.raises(DataError, match="has 4 segments but .*ref.sgm has 3"):
        read_sgm_pair(tmp_path / "src.sgm", tmp_path / "ref.sgm")


def test_wmt_xml_skips_docs_without_reference_and_picks_translator(tmp_path: Path) -> None:
    path = tmp_path / "wmttest2022.en-de.xml"
    path.write_text(XML, encoding="utf-8")
    sources, references = read_wmt_xml(path, "en", "de")
    assert sources == ["Hello & welcome.", "Second bold one.", "Last."]
    assert references == ["Hallo & willkommen.", "Zweiter.", "Zuletzt."]
    _, references_b = read_wmt_xml(path, "en", "de", translator="B")
    assert references_b == ["Hallo und willkommen.", "Zweites."]


def test_wmt_xml_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.xml"
    path.write_text(XML.replace("</collection>", "</collectio>"), encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.xml, line \d+, column \d+: not well-formed XML"):
        read_wmt_xml(path, "en", "de")
    path.write_text(XML, encoding="utf-8")
    with pytest.raises(DataError, match='no document has both <src lang="en"> and <ref lang="fr">'):
        read_wmt_xml(path, "en", "fr")


def test_tsv_pairs_and_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("a b\tA B\nc\u2028d\tC\r\n", encoding="utf-8")
    assert read_tsv(path) == (["a b", "c\u2028d"], ["A B", "C"])
    path.write_text("ok\tOK\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"pairs\.tsv, line 2: expected at least 2 tab-separated fields"):
        read_tsv(path)
