"""Real WMT data: the file formats of the WMT releases and the WMT14 download and preparation.

    formats   read_sgm_pair, read_wmt_xml, read_tsv: WMT's SGML, XML and TSV files
    prepare   the WMT14 EN-DE / EN-FR download and preparation (`python -m transformer_lab.prepare`)
    download  Downloader, ARCHIVES: verified downloads (published sizes and checksums, retries, resume)
    extract   extract: the wanted files of an archive, renamed into place only when all were read
    manifest  Manifest: RAW/manifest.json, what was verified and extracted, so a re-run redoes the rest
"""
