"""The data module under a real Lightning Trainer: mid-epoch resume continues with the next unseen batch."""

from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
import torch

from transformer_lab.data import TranslationDataModule


class Recorder(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[list[int]] = []

    def training_step(self, batch, batch_idx):
        self.seen.append(batch["index"].tolist())
        return (self.weight * batch["src"].float().mean()).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def run(corpus: Path, cache: Path, ckpt_path: str | None = None, callbacks=(), **trainer_args) -> Recorder:
    dm = TranslationDataModule("parallel_text", dir=str(corpus), src_lang="en", tgt_lang="de", vocab_size=300,
                               min_frequency=1, max_tokens=60, max_length_ratio=3.0, cache_dir=str(cache), seed=3)
    model = Recorder()
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, callbacks=list(callbacks),
                        enable_checkpointing=bool(callbacks),
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        use_distributed_sampler=False, **trainer_args)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return model


def test_mid_epoch_resume_continues_with_next_unseen_batch(tiny_corpus: Path, tmp_path: Path) -> None:
    full = run(tiny_corpus, tmp_path / "cache", max_epochs=2)
    per_epoch = len(full.seen) // 2
    assert per_epoch >= 4 and full.seen[:per_epoch] != full.seen[per_epoch:]  # reshuffled per epoch

    stop = per_epoch + 2  # a checkpoint inside the second epoch, as ModelCheckpoint writes it
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=stop, save_top_k=-1,
                                 filename="{step}")
    interrupted = run(tiny_corpus, tmp_path / "cache", callbacks=[checkpoint], max_epochs=2)
    assert interrupted.seen == full.seen
    resumed = run(tiny_corpus, tmp_path / "cache", ckpt_path=str(tmp_path / "ckpt" / f"step={stop}.ckpt"),
                  max_epochs=2)
    assert resumed.seen == full.seen[stop:]
