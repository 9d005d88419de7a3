"""The one checkpoint reader: `torch.load(weights_only=True)`, never unpickling arbitrary objects, with
every way a file can fail to be a checkpoint said as `UnreadableCheckpointError` naming the file."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from transformer_lab.checkpointing.errors import (
    CheckpointNotFoundError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
)


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False,
                         required: tuple[str, ...] = ()) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with messages a user can act on. `mmap=True` maps the file instead
    of reading it: tensors are only read when touched (for looking at metadata of big checkpoints).

    Every way a file can fail to be a checkpoint (empty, truncated, not a torch file, written by another
    program) raises `UnreadableCheckpointError` naming the file; `required` names keys that must be present.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except OSError:  # permissions, I/O errors: the file system's own message says it
        raise
    except Exception as error:  # torch raises UnpicklingError with a long generic text
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it contains pickled Python objects beyond tensors and plain "
                f"containers, which could run arbitrary code. Only checkpoints written by transformer_lab "
                f"(or re-saved with plain state) are accepted. Detail: {str(error).splitlines()[0]}"
            ) from error
        raise UnreadableCheckpointError(path, _unreadable_reason(path)) from None  # torch's text names no file
    if not isinstance(checkpoint, dict):
        raise UnreadableCheckpointError(path, f"written by another program: it holds a {type(checkpoint).__name__}, "
                                              "not a checkpoint dictionary")
    missing = [key for key in required if key not in checkpoint]
    if missing:
        raise UnreadableCheckpointError(path, f"written by another program: no {', '.join(missing)} in it")
    return checkpoint


def _unreadable_reason(path: Path) -> str:
    """Why torch could not read `path`, from its first bytes: empty, truncated zip, or something else."""
    size = path.stat().st_size
    if size == 0:
        return "empty: 0 bytes"
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"truncated: the archive ends after {size:,} bytes, before its index (an interrupted copy or a full disk)"
    if head == b"PK\x03\x04":
        return "a damaged torch archive"
    return "not a torch file"
