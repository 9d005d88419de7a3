"""The run directory's layout: the one place that names its files.

    <run dir>/
      .hydra/                     config.yaml, hydra.yaml, overrides.yaml (training/records/run_record.py)
      checkpoints/
        last.ckpt                 the full resumable state (policy.ResumeCheckpoint)
        best-*.ckpt               the best by dev BLEU (Lightning's ModelCheckpoint, conf/callbacks)
        periodic/step*.ckpt       kept for averaging (Lightning's ModelCheckpoint, conf/callbacks)
      summary.json                how the run went and ended (RunSummaryCallback, training/records/run_record.py)
      metrics.jsonl               one record per logged update or evaluation (RunSummaryCallback)
      wandb_run_id.txt            the W&B run this directory continues on a relaunch
      .lock                       held (flock) by the job running in it; its pid inside (training/runtime/run_lock.py)

Every writer and reader of these paths asks a `RunLayout`; the Hydra config of the two ModelCheckpoint
callbacks spells the same names (`dirpath`, `filename`), checked against this module by the tests.
The module imports nothing heavy, so the report and the sweep validator can use it without torch.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
PERIODIC_DIR = "periodic"
BEST_CHECKPOINT_PATTERN = "best-*.ckpt"
CHECKPOINT_PATTERN = "*.ckpt"
CONFIG_DIR = ".hydra"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
WANDB_ID_FILE = "wandb_run_id.txt"
LOCK_FILE = ".lock"
ATTENTION_DIR = "attention"
TRANSLATIONS_DIR = "translations"


class RunLayout:
    """Paths inside one run directory (nothing is created or checked here)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @classmethod
    def of_trainer(cls, trainer) -> RunLayout:
        """The run directory a Lightning Trainer writes into (its `default_root_dir`)."""
        return cls(trainer.default_root_dir)

    def __repr__(self) -> str:
        return f"RunLayout({str(self.root)!r})"

    @property
    def attention_dir(self) -> Path:
        return self.root / ATTENTION_DIR

    @property
    def translations_dir(self) -> Path:
        return self.root / TRANSLATIONS_DIR

    @property
    def checkpoints_dir(self) -> Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints_dir / LAST_CHECKPOINT

    @property
    def periodic_dir(self) -> Path:
        return self.checkpoints_dir / PERIODIC_DIR

    @property
    def config_dir(self) -> Path:
        return self.root / CONFIG_DIR

    @property
    def summary(self) -> Path:
        return self.root / SUMMARY_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def wandb_id_file(self) -> Path:
        return self.root / WANDB_ID_FILE

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    def best_checkpoints(self) -> list[Path]:
        return sorted(self.checkpoints_dir.glob(BEST_CHECKPOINT_PATTERN))

    def periodic_checkpoints(self) -> list[Path]:
        return sorted(self.periodic_dir.glob(CHECKPOINT_PATTERN))

    def all_checkpoints(self) -> list[Path]:
        """Every checkpoint file of the run: last, best and periodic ones."""
        return sorted(self.checkpoints_dir.rglob(CHECKPOINT_PATTERN))
