"""What a file is, from its own first bytes, before torch is asked to read it: a directory, empty, a zip
archive (whole or cut short), torch's legacy pickle format, or something else (text, JSON, gzip, ...).

torch's `weights_only` unpickler reports every failure, including a text file whose first bytes happen to
parse as pickle opcodes, as "Weights only load failed ... re-run with weights_only=False": its message
cannot tell a non-checkpoint from a checkpoint carrying foreign objects. These bytes can.
"""

from __future__ import annotations

import enum
import zipfile
from pathlib import Path

# torch.serialization's legacy (pre-1.6, `_use_new_zipfile_serialization=False`) files start with the
# pickled magic number 0x1950a86a20f9469cfc6c: PROTO <n>, (protocol 4+: FRAME <8-byte length>), LONG1 of
# 10 bytes (little-endian), STOP.
_LEGACY_MAGIC_PICKLE = b"\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little") + b"."
_ZIP_LOCAL_HEADER = b"PK\x03\x04"
_GZIP = b"\x1f\x8b"
_HEAD_BYTES = 64


class FileKind(enum.Enum):
    MISSING = "missing"
    DIRECTORY = "directory"
    EMPTY = "empty"
    ZIP = "zip"                # a whole zip archive: torch's format since 1.6 (or another program's zip)
    TRUNCATED_ZIP = "truncated zip"  # starts as a zip, no end-of-central-directory record: cut short
    LEGACY_TORCH = "legacy torch"    # torch's legacy pickle header
    OTHER = "other"


def file_kind(path: Path) -> FileKind:
    """The kind of `path` from its first bytes (and, for zips, whether the archive's index is there)."""
    if path.is_dir():
        return FileKind.DIRECTORY
    if not path.is_file():
        return FileKind.MISSING
    head = read_head(path)
    if not head:
        return FileKind.EMPTY
    if head.startswith(_ZIP_LOCAL_HEADER):
        return FileKind.ZIP if zipfile.is_zipfile(path) else FileKind.TRUNCATED_ZIP
    if _is_legacy_torch_header(head):
        return FileKind.LEGACY_TORCH
    return FileKind.OTHER


def _is_legacy_torch_header(head: bytes) -> bool:
    if head[:1] != b"\x80":  # PROTO
        return False
    body = head[2:]
    if body[:1] == b"\x95":  # FRAME, protocol 4 and later
        body = body[9:]
    return body.startswith(_LEGACY_MAGIC_PICKLE)


def read_head(path: Path, size: int = _HEAD_BYTES) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def describe_other(path: Path) -> str:
    """What a file that is neither a zip archive nor torch's legacy format looks like, in a few words."""
    head = read_head(path, 256)
    if head.startswith(_GZIP):
        return f"gzip-compressed data (if it holds a checkpoint, decompress it first: gunzip -k {path})"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:  # a multi-byte character cut at byte 256 still counts as text
        text = head[:error.start].decode("utf-8") if error.start > len(head) - 4 else ""
    first_line = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if first_line and all(c.isprintable() or c == "\t" for c in first_line):
        shown = first_line if len(first_line) <= 40 else first_line[:40] + "..."
        what = "JSON text" if first_line.lstrip()[:1] in ("{", "[") else "text"
        return f"{what} starting {shown!r}"
    return f"binary data starting {head[:8].hex(' ')}, neither a torch zip archive nor torch's legacy format"
