"""Checkpoint files that are never half-written, and loading that never unpickles arbitrary objects."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same directory, then renames it into place.

    A process killed mid-write leaves the previous file intact and, at worst, one `.tmp` file that the
    next save removes (deviation from Lightning's default, which writes the target file directly).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
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
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint_file(path, map_location=map_location)


class UnsafeCheckpointError(RuntimeError):
    pass


def load_checkpoint_file(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """`torch.load(weights_only=True)` with messages a user can act on."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises UnpicklingError with a long generic text
        if "weights_only" in str(error) or "Unsupported global" in str(error):
            raise UnsafeCheckpointError(
                f"refusing to load {path}: it contains pickled Python objects beyond tensors and plain "
                f"containers, which could run arbitrary code. Only checkpoints written by transformer_lab "
                f"(or re-saved with plain state) are accepted. Detail: {str(error).splitlines()[0]}"
            ) from error
        raise
