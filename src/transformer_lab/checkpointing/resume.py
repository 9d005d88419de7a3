"""Before a run starts: which checkpoint it resumes from (`ckpt_path`), and whether it may.

`ckpt_path` is `auto` (the default: resume from the run directory's last.ckpt when there is one), `last`
(require it), a file's path, or null (start over). Resuming with another model or other data, or from an
unreadable file, fails here with the differing keys or the newest readable checkpoint named, instead of a
shape mismatch deep inside `load_state_dict` (or silently training on other data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformer_lab.checkpointing.errors import UnreadableCheckpointError
from transformer_lab.checkpointing.layout import RunLayout
from transformer_lab.checkpointing.reading import load_checkpoint_file
from transformer_lab.config.checks import ConfigError

log = logging.getLogger(__name__)

# Data settings that may change between the interrupted run and its resumption (they don't change the data).
# pad_to_multiple_of changes only how much pad the batches carry (the same sentences, the same loss), so a run
# may resume with it changed, or from a checkpoint written before the key existed.
RESUMABLE_DATA_KEYS = frozenset({"num_workers", "pin_memory", "cache_dir", "pad_to_multiple_of"})


def resolve_ckpt_path(ckpt_path: str | None, run_dir: str | os.PathLike) -> str | None:
    """`last` means the run directory's last.ckpt (`RunLayout.last_checkpoint`), not the newest file by
    modification time; `auto` (the default) resumes from it when it exists, so relaunching a preempted
    command in its run directory resumes."""
    if ckpt_path is None:
        return None
    last = RunLayout(run_dir).last_checkpoint
    if ckpt_path == "auto":
        if last.is_file():
            log.info("resuming from %s (ckpt_path=auto; ckpt_path=null starts over)", last)
            return str(last)
        return None
    if ckpt_path == "last":
        if not last.is_file():
            raise FileNotFoundError(
                f"ckpt_path=last: no {last}. Relaunch in the run directory that holds it with "
                f"hydra.run.dir=<that directory>, or give the checkpoint's path: ckpt_path=/path/to/x.ckpt"
            )
        return str(last)
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return ckpt_path


def check_resume_compatible(ckpt_path: str | os.PathLike, *, model: Mapping[str, Any], data: Mapping[str, Any],
                            run_dir: str | os.PathLike) -> None:
    """Compares the plain `model` and `data` settings of this launch with those stored in the checkpoint
    (`hyper_parameters.model`, `data_config`); raises `ConfigError` naming every differing key. An unreadable
    checkpoint (truncated, empty) fails here too, naming the newest readable one of `run_dir` as the way on."""
    try:
        checkpoint = load_checkpoint_file(ckpt_path, mmap=True, required=("state_dict",))  # metadata only
    except UnreadableCheckpointError as error:
        raise ConfigError(f"cannot resume: {error}\n{_way_on_from(RunLayout(run_dir), Path(ckpt_path))}") from None
    saved_model = checkpoint.get("hyper_parameters", {}).get("model", {})
    saved = {"model": model_with_defaults(saved_model), "data": checkpoint.get("data_config", {})}
    current = {"model": model_with_defaults(model), "data": data or {}}
    differences = [
        f"{section}.{key}: {saved[section].get(key)!r} in the checkpoint, {current[section].get(key)!r} now"
        for section in ("model", "data")
        for key in sorted(set(saved[section]) | set(current[section]))
        if key not in RESUMABLE_DATA_KEYS and saved[section].get(key) != current[section].get(key)
    ]
    if differences:
        raise ConfigError(
            f"cannot resume from {ckpt_path}: the configuration differs from the one it was trained with:\n  "
            + "\n  ".join(differences)
            + "\nResume with the original settings, or start a new run (ckpt_path=null or a new hydra.run.dir)."
        )


def model_with_defaults(model: Mapping[str, Any]) -> Mapping[str, Any]:
    """Every field of the model's settings, defaults filled in, so that a checkpoint that stored only the
    keys its config file spelled compares equal to the same settings spelled in full."""
    from transformer_lab.config.parsing import as_plain_dict
    from transformer_lab.model.config import TransformerConfig

    try:
        return as_plain_dict(TransformerConfig.from_mapping(model))
    except (TypeError, ValueError):  # settings of another version: compare them as stored
        return model


def newest_resumable_checkpoint(layout: RunLayout, excluding: Path | None = None) -> tuple[int, Path] | None:
    """(step, path) of the run's readable checkpoint with full training state and the highest stored step."""
    candidates = []
    for path in layout.all_checkpoints():
        if excluding is not None and path.resolve() == excluding.resolve():
            continue
        try:
            checkpoint = load_checkpoint_file(path, mmap=True, required=("state_dict", "loops"))
        except (UnreadableCheckpointError, OSError):
            continue
        candidates.append((int(checkpoint.get("global_step", 0)), path))
    return max(candidates, key=lambda candidate: (candidate[0], str(candidate[1])), default=None)


def _way_on_from(layout: RunLayout, unreadable: Path) -> str:
    """Names the newest readable, resumable checkpoint of the run directory (by the step stored inside)."""
    newest = newest_resumable_checkpoint(layout, excluding=unreadable)
    if newest is None:
        return "No other readable checkpoint is in the run directory: start over with ckpt_path=null."
    step, path = newest
    return (f"The newest readable checkpoint in the run directory is {path} (step {step}): resume from it with "
            f"ckpt_path={path}, or start over with ckpt_path=null.")
