"""Reading text files line by line without letting Unicode line separators break sentence pairing.

`str.splitlines()` and text-mode `open()` also split on U+2028, U+2029, U+0085, \\x1c-\\x1e and a lone \\r.
Those characters occur inside real WMT sentences, and splitting on them silently shifts every later line
of one side against the other. Here a line ends at b"\\n" only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from transformer_lab.data.errors import DataError

# Files up to this size are fingerprinted by content; larger ones by size + mtime + head/tail content.
FULL_HASH_LIMIT = 256 * 1024 * 1024
_EDGE = 1024 * 1024
_BOM = b"\xef\xbb\xbf"


def _decode(chunk: bytes, number: int, origin: str) -> str:
    if chunk.endswith(b"\r"):
        chunk = chunk[:-1]
    try:
        return chunk.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{origin}, line {number}: invalid UTF-8 (byte {chunk[err.start]:#04x} at column "
            f"{err.start + 1}). Convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`) or fix "
            f"that line."
        ) from None


def decode_lines(raw: bytes, origin: str) -> list[str]:
    """Split `raw` on b"\\n" only, drop one trailing \\r per line, decode each line as UTF-8."""
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    chunks = raw.split(b"\n")
    if chunks and chunks[-1] == b"":  # file ends with a newline: no extra empty line
        chunks.pop()
    return [_decode(chunk, number, str(origin)) for number, chunk in enumerate(chunks, start=1)]


def iter_lines(path: str | os.PathLike) -> Iterator[str]:
    """The lines of a UTF-8 text file (`.gz` decompressed on the fly), one at a time: memory does not
    grow with the file. Same lines as `read_lines` (binary-mode iteration splits on b"\\n" only)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"File not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        for number, chunk in enumerate(handle, start=1):
            if number == 1 and chunk.startswith(_BOM):  # UTF-8 byte-order mark
                chunk = chunk[len(_BOM):]
            yield _decode(chunk[:-1] if chunk.endswith(b"\n") else chunk, number, str(path))


def read_lines(path: str | os.PathLike) -> list[str]:
    """All lines of a UTF-8 text file (see module docstring for what counts as a line)."""
    return list(iter_lines(path))


def file_fingerprint(path: str | os.PathLike) -> str:
    """A key that changes whenever the file's content changes.

    Small files: hash of the whole content. Large files (> FULL_HASH_LIMIT): path, size, mtime_ns and
    the first and last MiB, so that multi-GB WMT training files are not re-read on every start.
    """
    path = Path(path).resolve()
    stat = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{path}|{stat.st_size}".encode())
    with open(path, "rb") as handle:
        if stat.st_size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        else:
            digest.update(f"|{stat.st_mtime_ns}".encode())
            digest.update(handle.read(_EDGE))
            handle.seek(stat.st_size - _EDGE)
            digest.update(handle.read(_EDGE))
    return digest.hexdigest()


def stable_hash(*parts: object) -> str:
    """Short hex hash of the repr of `parts` (used for cache keys)."""
    digest = hashlib.blake2b(digest_size=10)
    for part in parts:
        digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()
