"""One job per run directory at a time (issue 25): an exclusive, non-blocking `flock` on `<run dir>/.lock`,
held for the whole job.

Two launches into one directory (the same command started twice, a requeued job whose previous attempt
still runs) would interleave their checkpoints, metrics and summary. The second one refuses at once with
one line on stderr (the directory, the holder's pid when it recorded one, what to do) and exit status
`RUN_DIRECTORY_BUSY_EXIT_CODE`, before it writes anything there. The kernel releases a flock when its
holder dies, so a lock file left by a killed process never blocks (nothing stale to clean up). Only the
global rank 0 locks: the other ranks of a DDP job share the directory with it by design.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from transformer_lab.checkpointing.layout import RunLayout

try:
    import fcntl
except ImportError:  # Windows has no flock: runs there are not protected against a second launch (no lock)
    fcntl = None

RUN_DIRECTORY_BUSY_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): a temporary failure, try again later


class RunDirectoryBusy(SystemExit):
    """Another process holds the run directory. A `SystemExit`: Hydra passes it through without logging
    it (a log record would land in the other job's train.log), and the job writes no failure record."""

    def __init__(self, message: str) -> None:
        super().__init__(RUN_DIRECTORY_BUSY_EXIT_CODE)
        self.message = message


def busy_message(run_dir: Path, holder: str) -> str:
    who = f"process {holder}" if holder.isdigit() else "another process (its pid is not recorded yet)"
    return (f"run directory {run_dir} is in use by {who}, which holds {RunLayout(run_dir).lock_file}: wait for it "
            f"to end (or stop it) and relaunch to resume, or launch into another directory with hydra.run.dir=...")


@contextmanager
def run_directory_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Holds `<run_dir>/.lock` exclusively while the block runs; raises `RunDirectoryBusy` (after printing
    its line to stderr) when another process holds it. Writes this process's pid into the file."""
    if fcntl is None or rank_zero_only.rank != 0:
        yield
        return
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)  # Hydra made it already; a direct caller may not have
    fd = os.open(RunLayout(run_dir).lock_file, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            busy = RunDirectoryBusy(busy_message(run_dir, os.pread(fd, 32, 0).decode(errors="replace").strip()))
            print(busy.message, file=sys.stderr, flush=True)
            raise busy from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            # LOCK_UN releases it even while forked DataLoader workers still hold a copy of the descriptor
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
