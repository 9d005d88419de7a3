"""Checkpoint files that are never half-written: a temporary file in the same directory, renamed into place."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from transformer_lab.checkpointing.errors import CheckpointWriteError
from transformer_lab.checkpointing.reading import load_checkpoint_file


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same directory, then renames it into place.

    A process killed mid-write leaves the previous file intact and, at worst, one `.tmp` file that the
    next save removes (deviation from Lightning's default, which writes the target file directly).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(target.parent, target.name)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        except OSError as error:
            raise OSError(
                f"cannot write checkpoints to {target.parent}: {error}. Training stops here rather than "
                "continue without checkpoints; point `paths.output_dir` (or hydra.run.dir) at a writable place."
            ) from error
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException as error:
            Path(tmp_name).unlink(missing_ok=True)
            os_error = _os_error_in_chain(error)
            if os_error is not None:  # torch reports a failed write as "[enforce fail at inline_container.cc]"
                raise CheckpointWriteError(os_error, target) from error
            raise

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location=map_location)


def _temporary_pattern(name: str = "*") -> str:
    return f".{name}.*.tmp"


def remove_stale_temporaries(directory: Path, name: str = "*") -> list[Path]:
    """Deletes temporary files a killed writer left in `directory` (only this module's own pattern)."""
    removed = []
    for stale in Path(directory).glob(_temporary_pattern(name)):
        stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed


def ensure_writable_directory(directory: Path, what: str = "checkpoints") -> None:
    """Fails before training, not hours later at the first save, when `directory` cannot take files."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(directory)
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise OSError(
            f"cannot write {what} to {directory}: {error}. Training stops here rather than run without "
            "checkpoints; choose a writable place with hydra.run.dir=... (or paths.log_dir=...)."
        ) from error


def _os_error_in_chain(error: BaseException) -> OSError | None:
    """The OSError that caused `error` (itself, its cause or context), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno is not None:
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
