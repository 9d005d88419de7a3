"""Real WMT data: the file formats of the WMT releases and the WMT14 download and preparation.

    formats   read_sgm_pair, read_wmt_xml, read_tsv: WMT's SGML, XML and TSV files
    prepare   the WMT14 EN-DE / EN-FR download and preparation (`python -m transformer_lab.prepare`)
"""
