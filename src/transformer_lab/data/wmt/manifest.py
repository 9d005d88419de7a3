"""The raw directory's manifest: which archives were verified and which files were extracted from them.

`RAW/manifest.json` beside the raw files:

    {"archives":  {"dev.tgz": {"url": .., "size": N, "mtime_ns": T, "md5": .., "sha256": ..}},
     "extracted": {"dev.tgz": {"wanted": [names asked for], "files": {"newstest2013-src.en.sgm": N, ..}}}}

A file counts as done only while it still has the size and modification time the manifest recorded when
it was verified (archives) or written (extracted files); anything else is verified or redone. An
unreadable manifest counts as empty (everything is verified again). The file
is rewritten atomically (temporary name, then rename), so an interruption leaves the previous version.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


class Manifest:
    def __init__(self, directory: Path) -> None:
        self.path = directory / MANIFEST
        self.data: dict[str, dict[str, Any]] = {"archives": {}, "extracted": {}}
        if self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                log.warning("%s: unreadable (%s); every file is verified again", self.path, err)
                loaded = None
            if isinstance(loaded, dict):
                for key in self.data:
                    if isinstance(loaded.get(key), dict):
                        self.data[key] = loaded[key]

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    # ---- archives ----
    def archive_verified(self, path: Path, checksums: dict[str, str]) -> bool:
        """True when `path` is the file recorded as verified, with the checksums the record asks for now."""
        entry = self.data["archives"].get(path.name)
        if not entry or not path.is_file() or not _same_file(path, entry):
            return False
        return all(entry.get(name) == value.lower() for name, value in checksums.items())

    def record_archive(self, path: Path, url: str, checksums: dict[str, str]) -> None:
        self.data["archives"][path.name] = {"url": url, **_stamp(path), **checksums}
        self.data["extracted"].pop(path.name, None)  # a new archive: its files are extracted again
        self.save()

    # ---- extracted files ----
    def extracted(self, archive: Path, wanted: set[str]) -> bool:
        """True when an extraction of `archive` for (at least) `wanted` finished and its files are unchanged."""
        entry = self.data["extracted"].get(archive.name)
        if not entry or not wanted <= set(entry.get("wanted", ())):
            return False
        files = entry.get("files", {})
        return all(_same_file(archive.parent / name, stamp) for name, stamp in files.items())

    def record_extracted(self, archive: Path, wanted: set[str], files: list[Path]) -> None:
        self.data["extracted"][archive.name] = {"wanted": sorted(wanted), "files": {p.name: _stamp(p) for p in files}}
        self.save()


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _same_file(path: Path, stamp: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    stat = path.stat()
    return stat.st_size == stamp.get("size") and stat.st_mtime_ns == stamp.get("mtime_ns")
