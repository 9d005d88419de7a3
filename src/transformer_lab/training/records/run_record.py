"""What a run directory records about each attempt to run it: the configuration it runs with (`.hydra/`),
how the attempt ended (`summary.json`), and every failure (`summary.json` and `train.log`).

A relaunch in an existing run directory (to resume it) must not overwrite what the directory says its
checkpoints were trained with until the relaunch is accepted: Hydra's own copy is switched off in
conf/train.yaml (`hydra.output_subdir: null`) and `RunConfigRecord` writes the same three files instead,
at once for a new directory, after the resume checks for an existing one; a refused relaunch leaves its
configuration beside them as `*.rejected.yaml`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from transformer_lab.checkpointing.layout import RunLayout

log = logging.getLogger(__name__)


class RunConfigRecord:
    """Writes `.hydra/{config,hydra,overrides}.yaml` of this attempt once it may claim the run directory."""

    def __init__(self, output_dir: Path, cfg: DictConfig) -> None:
        self.directory = RunLayout(output_dir).config_dir
        self.cfg = cfg
        self.active = rank_zero_only.rank == 0 and HydraConfig.initialized()
        self.pending = self.active and (self.directory / "config.yaml").exists()
        if self.active and not self.pending:
            self._write("")  # a new run directory: nothing to protect

    def accept(self) -> None:
        """The attempt runs in this directory (a fresh start or an accepted resume): record its config."""
        if self.pending:
            self._write("")
            self.pending = False

    def reject(self) -> None:
        """The attempt failed before it was accepted: keep the directory's record, put this one beside it."""
        if self.pending:
            self._write(".rejected")
            self.pending = False

    def _write(self, suffix: str) -> None:
        hydra_cfg = HydraConfig.get()
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, content in (("config", self.cfg), ("hydra", OmegaConf.create({"hydra": hydra_cfg})),
                              ("overrides", hydra_cfg.overrides.task)):
            OmegaConf.save(content, self.directory / f"{name}{suffix}.yaml")  # unresolved, as Hydra saves them


def failure_message(error: BaseException) -> str:
    """The line the console ends with, as summary.json and train.log record it."""
    return f"{type(error).__name__}: {error}"


def read_summary(output_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads((RunLayout(output_dir).summary).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def write_summary(output_dir: Path, summary: dict[str, Any]) -> None:
    """Replaces summary.json atomically (a kill mid-write leaves the previous one)."""
    path = RunLayout(output_dir).summary
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    tmp.replace(path)


def record_failure(output_dir: Path, error: BaseException) -> None:
    """summary.json gets the failure's status and message, train.log its traceback (Hydra prints it to the
    console only). A summary of an earlier attempt keeps its results; its status becomes this failure's."""
    if rank_zero_only.rank != 0:
        return
    message = failure_message(error)
    _log_to_files(error)
    summary = read_summary(output_dir)
    if summary.get("error") != message[:2000]:  # RunSummaryCallback may have recorded it already
        summary.update(status=getattr(error, "run_status", "failed"), error=message[:2000])
    try:
        write_summary(output_dir, summary)
    except OSError as write_error:  # a full disk can refuse the summary too; the console still has it all
        log.warning("could not record the failure in %s: %s", RunLayout(output_dir).summary, write_error)


def _log_to_files(error: BaseException) -> None:
    """The traceback into the log files (train.log) only: Hydra already prints it to the console."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, "the job failed:", (),
                            (type(error), error, error.__traceback__))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def mark_interrupted_attempt(output_dir: Path) -> None:
    """A relaunch that finds summary.json saying `running` found an attempt that never ended (killed,
    machine lost): its status becomes `interrupted`, with the step it had reached."""
    if rank_zero_only.rank != 0:
        return
    summary = read_summary(output_dir)
    if summary.get("status") != "running":
        return
    step = summary.get("global_step")
    summary["status"] = "interrupted"
    summary["interrupted_at_steps"] = [*summary.get("interrupted_at_steps", []), step]
    log.warning("the previous attempt in %s did not end (killed at or after step %s); its summary now says "
                "`interrupted`", output_dir, step)
    write_summary(output_dir, summary)
