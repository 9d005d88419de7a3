"""Checkpoint files that are never half-written, and loading that never unpickles arbitrary objects."""

from __future__ import annotations

import errno
import os
import tempfile
import zipfile
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


class CheckpointWriteError(OSError):
    """An operating-system error while saving a checkpoint, said plainly: "No space left on device while
    writing PATH" rather than torch's "[enforce fail at inline_container.cc:672] unexpected pos"."""

    def __init__(self, cause: OSError, path: Path) -> None:
        reason = cause.strerror or os.strerror(cause.errno or 0) or str(cause)
        hint = (" Free space there (or point hydra.run.dir at a larger disk), then relaunch the same command: it "
                "resumes from the newest complete checkpoint (a failed save never replaces one)."
                if cause.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        super().__init__(cause.errno, f"{reason} while writing {path}.{hint}")
        self.path = path


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


class CheckpointError(ValueError):
    """A file that cannot be used as a transformer_lab checkpoint; the message says why and what to do."""


class UnreadableCheckpointError(CheckpointError):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(
            f"{path} is not a readable transformer_lab checkpoint ({reason}). Checkpoints are the .ckpt files "
            "that transformer_lab.train writes under <run dir>/checkpoints/ (or average_checkpoints writes)."
        )
        self.path = path


class UnsafeCheckpointError(CheckpointError):
    pass


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


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    pass
