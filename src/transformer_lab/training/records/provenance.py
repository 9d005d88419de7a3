"""Where a result came from: library versions, the git commit of the code, the device and the precision.

`collect_provenance(trainer)` returns a plain dict of strings, bools and None (so checkpoints that carry it
still load with `torch.load(weights_only=True)`); `summary.json`, the W&B config and every checkpoint
record it, and the report shows a row's versions when they differ across its runs.
"""

from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

# Distribution names (as pip knows them) of the libraries a number depends on.
TRACKED_DISTRIBUTIONS = ("torch", "lightning", "hydra-core", "sacrebleu", "transformer_lab")


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str | None]:
    """{distribution: version}, None for one that is not installed (transformer_lab run from a source tree)."""
    versions: dict[str, str | None] = {}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions["transformer_lab"] is None:
        import transformer_lab

        versions["transformer_lab"] = transformer_lab.__version__
    return versions


PACKAGE_DIR = Path(__file__).resolve().parents[2]  # .../src/transformer_lab in a checkout


@functools.lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """The git state of the running code (read once per process)."""
    return read_git_state(PACKAGE_DIR)


def read_git_state(package_dir: Path) -> dict[str, Any]:
    """{"commit": sha, "dirty": bool} when `package_dir` is `src/transformer_lab` of a git checkout of this
    project; both None otherwise (an installed package, a virtual environment inside some other
    repository, no git). Dirty means tracked files differ from the commit; untracked files do not count.
    """
    package_dir = Path(package_dir).resolve()
    unknown = {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(package_dir), *args], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() / "src" / "transformer_lab" != package_dir:
        return unknown
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return unknown
    return {"commit": commit, "dirty": bool(status)}


def describe_device(device: torch.device) -> str:
    """`cpu`, or `cuda:0 (NVIDIA H100 80GB HBM3)`."""
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def collect_provenance(trainer: Any | None = None) -> dict[str, Any]:
    """Versions, git commit and dirty flag, and, given a Lightning Trainer, its device, device count,
    node count and precision (e.g. `bf16-mixed`)."""
    provenance: dict[str, Any] = {"versions": dict(library_versions()), "git": dict(git_state())}
    if trainer is not None:
        provenance.update(
            device=describe_device(trainer.strategy.root_device),
            num_devices=int(trainer.num_devices),
            num_nodes=int(trainer.num_nodes),
            precision=str(trainer.precision),
        )
    return provenance
