"""The one checkpoint reader: `torch.load(weights_only=True)`, never unpickling arbitrary objects, with
every way a file can fail to be a checkpoint said as `UnreadableCheckpointError` naming the file.

The file's own first bytes decide what it is (`file_kind`) before torch is asked: only a real torch file
(zip archive or legacy pickle) whose pickle names a foreign global gets the unsafe-pickle message, and
torch's advice to retry with `weights_only=False` is never passed on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from transformer_lab.checkpointing.errors import (
    CheckpointNotFoundError,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
)
from transformer_lab.checkpointing.file_kind import FileKind, describe_other, file_kind

_FOREIGN_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # torch: "unsupported GLOBAL posix.system whose module ..."


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False,
                         required: tuple[str, ...] = ()) -> dict[str, Any]:
    """`torch.load(weights_only=True)` with messages a user can act on. `mmap=True` maps the file instead
    of reading it: tensors are only read when touched (for looking at metadata of big checkpoints).

    Every way a file can fail to be a checkpoint (a directory, empty, truncated, not a torch file, written
    by another program) raises `UnreadableCheckpointError` naming the file; `required` names keys that
    must be present. A torch file carrying pickled objects beyond tensors raises `UnsafeCheckpointError`.
    """
    path = Path(path)
    kind = file_kind(path)
    if kind is FileKind.MISSING:
        raise CheckpointNotFoundError(f"checkpoint not found: {path}")
    if kind is FileKind.OTHER:
        raise UnreadableCheckpointError(path, "not a torch file", describe_other(path))
    if kind is not FileKind.ZIP and kind is not FileKind.LEGACY_TORCH:
        raise UnreadableCheckpointError(path, _reason(path, kind))
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True,
                                mmap=mmap and kind is FileKind.ZIP)  # torch maps zip archives only
    except OSError:  # permissions, I/O errors: the file system's own message says it
        raise
    except Exception as error:  # noqa: BLE001  torch's text names no file and advises weights_only=False
        foreign = _FOREIGN_GLOBAL.search(str(error))
        if foreign is not None:
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it is a torch file whose pickle names {foreign.group(1)}, a Python "
                f"object beyond tensors and plain containers, which could run arbitrary code when loaded. Only "
                f"checkpoints written by transformer_lab (or re-saved with plain state) are accepted."
            ) from None
        raise UnreadableCheckpointError(path, _damaged_reason(path, kind)) from None
    if not isinstance(checkpoint, dict):
        raise UnreadableCheckpointError(path, f"written by another program: it holds a {type(checkpoint).__name__}, "
                                              "not a checkpoint dictionary")
    missing = [key for key in required if key not in checkpoint]
    if missing:
        raise UnreadableCheckpointError(path, f"written by another program: no {', '.join(missing)} in it")
    return checkpoint


def _reason(path: Path, kind: FileKind) -> str:
    """Why a directory, an empty file or a cut zip archive cannot be read."""
    if kind is FileKind.DIRECTORY:
        return ("a directory, not a file: pass one of the .ckpt files inside it, e.g. "
                f"{path / 'checkpoints' / 'last.ckpt'}")
    if kind is FileKind.EMPTY:
        return "empty: 0 bytes"
    size = path.stat().st_size  # FileKind.TRUNCATED_ZIP
    return f"truncated: the archive ends after {size:,} bytes, before its index (an interrupted copy or a full disk)"


def _damaged_reason(path: Path, kind: FileKind) -> str:
    """Why torch could not read a file that starts as a torch file."""
    if kind is FileKind.LEGACY_TORCH:
        return (f"a damaged torch file in the legacy format: its data ends or breaks off within "
                f"{path.stat().st_size:,} bytes (an interrupted copy?)")
    return "a zip archive, but not a torch checkpoint or a damaged one (no readable data.pkl inside)"
