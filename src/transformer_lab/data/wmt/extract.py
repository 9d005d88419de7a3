"""Extraction of the wanted files from a WMT archive, all-or-nothing.

Members are written into a temporary directory `RAW/.extract-<archive>/` and renamed into RAW only once
the whole archive was read; the manifest then records the extraction. An interrupted run leaves the
temporary directory (removed and redone by the next run) and no manifest entry, so nothing half-written
is ever taken for a finished extraction. A damaged archive is one `DataError`.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import zlib
from pathlib import Path

from transformer_lab.data.errors import DataError


def extract(archive: Path, names: set[str], directory: Path) -> list[Path]:
    """Extract the members of `archive` whose base name is in `names`, flat into `directory`."""
    staging = directory / f".extract-{archive.name}"
    if staging.exists():
        shutil.rmtree(staging)  # left by an interrupted run
    staging.mkdir(parents=True)
    found: list[str] = []
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in names and name not in found:
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file always has a body
                    with source, open(staging / name, "wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)
                    found.append(name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{archive}: damaged archive ({type(err).__name__}: {err}); delete it and run prepare "
                        f"again to download it anew.") from None
    if not found:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{archive}: none of the expected files ({', '.join(sorted(names)[:4])}, ...) is in "
                        f"this archive; is it the right file? Delete it and run prepare again.")
    for name in found:
        os.replace(staging / name, directory / name)
    shutil.rmtree(staging, ignore_errors=True)
    return [directory / name for name in found]
