"""Why a file cannot be used as a checkpoint, or could not be written: messages a user can act on."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from transformer_lab.checkpointing.layout import CHECKPOINTS_DIR


class CheckpointError(ValueError):
    """A file that cannot be used as a transformer_lab checkpoint; the message says why and what to do."""


class UnreadableCheckpointError(CheckpointError):
    def __init__(self, path: Path, reason: str, what: str | None = None) -> None:
        """`reason`: why it cannot be read; `what`: what the file is instead, where its bytes tell."""
        it_is = f"; it is {what}" if what else ""
        super().__init__(
            f"{path} is not a readable transformer_lab checkpoint ({reason}){it_is}. Checkpoints are the .ckpt files "
            f"that transformer_lab.train writes under <run dir>/{CHECKPOINTS_DIR}/ (or average_checkpoints writes)."
        )
        self.path = path


class UnsafeCheckpointError(CheckpointError):
    """Pickled Python objects beyond tensors and plain containers: loading them could run arbitrary code."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    pass


class CheckpointContentError(CheckpointError):
    """A readable checkpoint whose content cannot be used (a `_target_` inside, other parameters)."""


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
