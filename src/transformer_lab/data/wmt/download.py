"""Verified downloads of the WMT archives: sizes and checksums on record, retries, resume, atomic rename.

`Downloader(base_url, records).fetch(relpath, directory)` returns `directory/<file name>` only once the
bytes received equal the server's Content-Length and the recorded size, and the file's md5 / sha256 equal
the recorded ones. Until then the bytes live in `<file name>.part` beside it (a later run resumes it with
an HTTP Range request where the server answers 206, else starts over). 503s, connection errors, timeouts
and bodies cut short are retried with exponential backoff; every failure that remains is one `DataError`
naming the file, what was wrong and what to do.

`ARCHIVES` is the record: one entry per statmt.org path, each value with where it was published. Nothing
here was computed by this project (it had no access to the files); a value nobody published is None, and
that file is then checked by Content-Length only for its size (its checksum still is).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from transformer_lab.data.errors import DataError

log = logging.getLogger(__name__)

STATMT = "https://www.statmt.org"
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

# Sources of the recorded values (each value below names one):
_HF = ("Hugging Face datasets, datasets/wmt14/dataset_infos.json (commit 22d3b80586cab756b70d6c939ceace94bb356a8c), "
       "download_checksums: num_bytes and sha256")
_SOCKEYE = "sockeye, sockeye_contrib/autopilot/tasks.py RAW_FILES: md5"
_SACREBLEU = "sacreBLEU 2.6.0, sacrebleu/dataset/__init__.py, DATASETS['wmt14/full']: md5"


@dataclass(frozen=True)
class ArchiveRecord:
    """What a correct copy of one archive is: its size in bytes and checksums (None: not published)."""

    size: int | None
    md5: str | None
    sha256: str | None = None
    source: str = ""  # where each value was published

    def checksums(self) -> dict[str, str]:
        return {name: value for name, value in (("md5", self.md5), ("sha256", self.sha256)) if value}


ARCHIVES: dict[str, ArchiveRecord] = {
    "wmt13/training-parallel-europarl-v7.tgz": ArchiveRecord(
        657632379, "c52404583294a1b609e56d45b2ed06f5",
        "0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7", f"size, sha256: {_HF}; md5: {_SOCKEYE}"),
    "wmt13/training-parallel-commoncrawl.tgz": ArchiveRecord(
        918311367, "7e0acbe86b0d7816300e14650f5b2bd4",
        "c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5", f"size, sha256: {_HF}; md5: {_SOCKEYE}"),
    "wmt14/training-parallel-nc-v9.tgz": ArchiveRecord(
        80418416, "92e42b68f9d3c2ae9722e6d1c2623e21",
        "cb8953f292298e6877ae433c98912b927cb0766b303f4540512ddd286c748485", f"size, sha256: {_HF}; md5: {_SOCKEYE}"),
    # Sizes below: no published value found; the size is checked against Content-Length only.
    "wmt13/training-parallel-un.tgz": ArchiveRecord(None, "bb25a213ba9140023e4cc82c778bef53", None,
                                                    f"md5: {_SOCKEYE}; size: none published"),
    "wmt10/training-giga-fren.tar": ArchiveRecord(None, "0b12e20027d5b5f0dfcca290c72c8953", None,
                                                  f"md5: {_SOCKEYE}; size: none published"),
    "wmt14/dev.tgz": ArchiveRecord(None, "88ba3fc60b2278d59277122e1c7dd6e7", None,
                                   f"md5: {_SOCKEYE}; size: none published"),
    "wmt14/test-full.tgz": ArchiveRecord(None, "a8cd784e006feb32ac6f3d9ec7eb389a", None,
                                         f"md5: {_SACREBLEU}; size: none published"),
}


def file_checksums(path: Path, names: tuple[str, ...] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file, read in 1 MiB blocks."""
    hashes = {name: hashlib.new(name) for name in names}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            for h in hashes.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashes.items()}


class _Retry(Exception):
    """A failure worth another try (server busy, connection lost, timeout, body cut short)."""


class Downloader:
    """Downloads `base_url/relpath` into a directory and accepts it only when it matches `records[relpath]`.

    records: relative path -> ArchiveRecord; a path without a record is refused (nothing unverified is
    downloaded). timeout: seconds for the connection and for each read (a stalled server counts as a
    failure). retries: further attempts after the first; attempt k waits backoff * 2**k seconds.
    """

    def __init__(self, base_url: str = STATMT, records: Mapping[str, ArchiveRecord] | None = None,
                 timeout: float = 60.0, retries: int = 5, backoff: float = 2.0, block_size: int = 1 << 20,
                 progress: bool = True, sleep: Callable[[float], None] = time.sleep) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise DataError(f"--mirror {base_url!r}: not an http(s) URL; give the base URL that serves the "
                            f"statmt.org paths, e.g. {STATMT} (which serves {STATMT}/wmt14/dev.tgz).")
        self.base_url = base_url.rstrip("/")
        self.records = dict(ARCHIVES if records is None else records)
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.block_size, self.progress, self.sleep = block_size, progress, sleep

    def url(self, relpath: str) -> str:
        return f"{self.base_url}/{relpath}"

    def record(self, relpath: str) -> ArchiveRecord:
        if relpath not in self.records:
            raise DataError(f"{relpath}: no recorded size/checksum, so it cannot be verified; add it to "
                            f"transformer_lab.data.wmt.download.ARCHIVES with the published values.")
        return self.records[relpath]

    def verify(self, relpath: str, path: Path, expected_size: int | None = None) -> dict[str, str]:
        """The file's checksums if its size and checksums match the record, else DataError (the file is left as is)."""
        record = self.record(relpath)
        size = path.stat().st_size
        for what, want in (("recorded size", record.size), ("Content-Length", expected_size)):
            if want is not None and size != want:
                raise DataError(f"{self.url(relpath)}: got {size} bytes but the {what} is {want}")
        sums = file_checksums(path)
        for name, want in record.checksums().items():
            if sums[name] != want.lower():
                raise DataError(f"{self.url(relpath)}: {name} {sums[name]} does not match the published "
                                f"{want} ({record.source}), so it is a different or damaged file")
        return sums

    def fetch(self, relpath: str, directory: Path) -> tuple[Path, dict[str, str]]:
        """Download and verify; returns (final path, its checksums). The final name exists only when verified."""
        self.record(relpath)
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / relpath.rsplit("/", 1)[-1]
        part = target.with_name(target.name + ".part")
        url = self.url(relpath)
        for attempt in range(self.retries + 1):
            try:
                total = self._attempt(url, part, self.records[relpath])
                break
            except _Retry as why:
                if attempt == self.retries:
                    raise DataError(f"{url}: {why} (after {self.retries + 1} attempts). The partial download "
                                    f"{part} is kept: run prepare again to resume, or use --mirror URL.") from None
                wait = self.backoff * 2 ** attempt
                log.warning("%s: %s; retrying in %.1f s (%d/%d)", url, why, wait, attempt + 1, self.retries)
                self.sleep(wait)
        try:
            sums = self.verify(relpath, part, expected_size=total)
        except DataError as err:
            part.unlink(missing_ok=True)  # a complete but wrong file: resuming it cannot help
            raise DataError(f"{err}; the download was deleted: run prepare again later, or use --mirror URL "
                            f"for another copy.") from None
        os.replace(part, target)
        return target, sums

    def _attempt(self, url: str, part: Path, record: ArchiveRecord) -> int | None:
        """One request; appends to `part` (resume) or rewrites it. Returns the full size the server announced."""
        have = part.stat().st_size if part.exists() else 0
        request = urllib.request.Request(url, headers={"User-Agent": "transformer_lab"})
        if have:
            request.add_header("Range", f"bytes={have}-")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # the partial file is not a prefix the server knows: start over
                part.unlink()
                raise _Retry(f"HTTP 416 for a resume from byte {have}; starting over") from None
            if err.code in RETRYABLE_STATUS:
                raise _Retry(f"HTTP {err.code} {err.reason}") from None
            raise DataError(f"{url}: HTTP {err.code} {err.reason}; check the URL (and --mirror, which "
                            f"replaces {STATMT}).") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError since Python 3.10
                raise _Retry(f"timeout: no answer within {self.timeout:g} s") from None
            raise _Retry(f"no connection ({reason})") from None
        with response:
            offset, total = self._resume_offset(response, have)
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            if total is None and expected is not None:
                total = offset + expected
            if record.size is not None and total is not None and total != record.size:
                part.unlink(missing_ok=True)
                raise DataError(f"{url}: the server announces {total} bytes but the recorded size is "
                                f"{record.size} ({record.source}); it serves a different file. Use --mirror URL "
                                f"for a copy of the original release.")
            mode = "ab" if offset else "wb"
            with open(part, mode) as out:
                received = self._copy(response, out, offset, total, part.name[: -len(".part")])
        if expected is not None and received != expected:
            # deviation from http.client: it returns a short body without raising; we count the bytes.
            raise _Retry(f"body cut short: {received} of {expected} bytes")
        return total

    @staticmethod
    def _resume_offset(response: http.client.HTTPResponse, have: int) -> tuple[int, int | None]:
        """(byte the body starts at, full size) from a 206's Content-Range; (0, None) for a plain 200."""
        if response.status != 206:
            return 0, None
        content_range = response.headers.get("Content-Range", "")  # "bytes START-END/TOTAL"
        try:
            start = int(content_range.split()[1].split("-")[0])
            total_text = content_range.rsplit("/", 1)[1]
        except (IndexError, ValueError):
            raise _Retry(f"unreadable Content-Range {content_range!r} on a resume") from None
        if start != have:
            raise _Retry(f"resume asked for byte {have} but the server sent from {start}")
        return start, (int(total_text) if total_text.isdigit() else None)

    def _copy(self, source: BinaryIO, out: BinaryIO, offset: int, total: int | None, label: str) -> int:
        """Copy the body to `out` with a progress bar; returns the bytes received (a stall raises _Retry)."""
        received = 0
        try:
            if not self.progress:
                for block in iter(lambda: source.read(self.block_size), b""):
                    out.write(block)
                    received += len(block)
                return received
            from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

            columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task(f"downloading {label}", total=total, completed=offset)
                for block in iter(lambda: source.read(self.block_size), b""):
                    out.write(block)
                    received += len(block)
                    progress.update(task, advance=len(block))
            return received
        except TimeoutError:
            raise _Retry(f"timeout: no data for {self.timeout:g} s after {offset + received} bytes") from None
        except (ConnectionError, http.client.HTTPException) as err:
            raise _Retry(f"connection lost after {offset + received} bytes ({type(err).__name__}: {err})") from None
