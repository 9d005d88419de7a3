"""The lines a run prints first (run directory, parameter counts) and last (where its results are, test
scores beside the copy-the-source baseline, the sacreBLEU signature, how to upload an offline W&B run)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


@rank_zero_only
def print_start(module: L.LightningModule, output_dir: Path) -> None:
    counts = module.model.parameter_counts()
    log.info("run directory: %s", output_dir)
    log.info("parameters: %s", ", ".join(f"{k} {v:,}" for k, v in counts.items()))


@rank_zero_only
def print_end(trainer: L.Trainer, datamodule: Any, output_dir: Path, best_bleu: float | None) -> None:
    from rich.console import Console

    console = Console(stderr=False, highlight=False)
    metrics = trainer.callback_metrics
    lines = [f"[bold]run directory[/bold]: {output_dir}"]
    if best_bleu is not None:
        lines.append(f"best dev BLEU: {best_bleu:.2f}")
    for key in ("test/bleu", "test/chrf", "test/chrf++", "test/paper_bleu"):
        if key in metrics:
            lines.append(f"{key}: {float(metrics[key]):.2f}")
    if "test/bleu" in metrics:
        import sacrebleu

        sources, references = datamodule.split_texts("test")
        copy = sacrebleu.corpus_bleu(sources, [references]).score
        lines.append(f"copy-the-source baseline test BLEU: {copy:.2f}")
    lines.append(f"sacreBLEU signature: {trainer.lightning_module.bleu_signature}")
    offline_runs = sorted((output_dir / "wandb").glob("offline-run-*"))
    if offline_runs:
        lines.append(f"W&B ran offline; to upload: wandb sync {offline_runs[-1]}")
    console.print("\n".join(lines), soft_wrap=True)  # no wrapping: paths and commands stay copyable
