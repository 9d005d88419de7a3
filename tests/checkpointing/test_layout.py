"""The run directory's layout is defined once: the Hydra config of the checkpoint callbacks agrees with it."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import get_class

from transformer_lab.checkpointing.layout import BEST_CHECKPOINT_PATTERN, PERIODIC_DIR, RunLayout
from transformer_lab.checkpointing.policy import ResumeCheckpoint
from transformer_lab.config.directory import config_dir
from transformer_lab.training.records.resume_validation import ValidateWhatWasDue


def default_callbacks(run_dir: Path):
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"paths.output_dir={run_dir}"])
    return cfg.callbacks


def test_the_configured_checkpoint_directories_are_the_layouts(tmp_path):
    callbacks, layout = default_callbacks(tmp_path), RunLayout(tmp_path)
    assert Path(callbacks.best_checkpoint.dirpath) == layout.checkpoints_dir
    assert Path(callbacks.periodic_checkpoint.dirpath) == layout.checkpoints_dir
    periodic_file = layout.checkpoints_dir / callbacks.periodic_checkpoint.filename.format(step=1000)
    assert periodic_file.parent == layout.periodic_dir and layout.periodic_dir.name == PERIODIC_DIR
    best_file = layout.checkpoints_dir / (callbacks.best_checkpoint.filename.format(**{"step": 8, "val/bleu": 1.5}) + ".ckpt")
    assert best_file.match(BEST_CHECKPOINT_PATTERN) and best_file.parent == layout.checkpoints_dir


def test_the_configured_checkpoint_callbacks_are_the_packages(tmp_path):
    callbacks = default_callbacks(tmp_path)
    assert get_class(callbacks.resume_checkpoint._target_) is ResumeCheckpoint
    assert get_class(callbacks.validate_what_was_due._target_) is ValidateWhatWasDue


def test_a_run_directorys_checkpoints_are_found_where_they_are_written(tmp_path):
    layout = RunLayout(tmp_path)
    files = [layout.last_checkpoint, layout.checkpoints_dir / "best-step0000008-bleu1.50.ckpt",
             layout.periodic_dir / "step0000004.ckpt", layout.periodic_dir / "step0000008.ckpt"]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    assert layout.last_checkpoint == tmp_path / "checkpoints" / "last.ckpt"
    assert layout.best_checkpoints() == [files[1]]
    assert layout.periodic_checkpoints() == files[2:]
    assert layout.all_checkpoints() == sorted(files)
