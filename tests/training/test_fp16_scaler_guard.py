"""Issue 26: under `16-mixed` the GradScaler skips the steps whose float16 gradients overflow; the non-finite
guard must not count those as bad updates (five in a row ended runs as diverged), yet must still count
non-finite losses. Built on CPU with Lightning's real MixedPrecision plugin and torch's real GradScaler (the
configuration Lightning builds for `16-mixed` on a GPU), float16 autocast, and the real TranslationModule."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.plugins.precision import MixedPrecision

from transformer_lab.data.batching.encoding import make_batch
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.nonfinite import DivergedError
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings

MODEL = dict(vocab_size=30, n_layers=1, d_model=16, d_ff=32, n_heads=2, dropout=0.0)
OPTIM = dict(warmup_steps=4, lr_scale=1.0, betas=[0.9, 0.98], eps=1e-9, weight_decay=0.0)


class ScalerRecord(L.Callback):
    """The scale after every update and the steps whose optimizer step the scaler skipped."""

    def __init__(self) -> None:
        self.scales: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.scales.append(trainer.precision_plugin.scaler.get_scale())


class PoisonWeights(L.Callback):
    """Makes the output projection NaN from step `step` on: every loss after it is NaN (not an overflow)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                next(pl_module.model.parameters()).fill_(float("nan"))


def batches(n: int) -> list[dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    return [make_batch(sources=[torch.randint(4, 30, (6,), generator=generator).tolist() for _ in range(4)],
                       targets=[torch.randint(4, 30, (5,), generator=generator).tolist() for _ in range(4)],
                       indices=list(range(4))) for _ in range(n)]


def fit(tmp_path, steps: int, init_scale: float, nonfinite: dict, callbacks: list) -> tuple[TranslationModule, L.Trainer]:
    torch.manual_seed(0)
    context = RunContext(tokenizer=Tokenizer.train(["a b c d e f"] * 5, vocab_size=30))
    module = TranslationModule(ModuleSettings.from_plain({"model": MODEL, "optim": OPTIM, "nonfinite": nonfinite}),
                               context)
    scaler = torch.amp.GradScaler("cpu", init_scale=init_scale, growth_interval=1000)
    trainer = L.Trainer(accelerator="cpu", devices=1, plugins=[MixedPrecision("16-mixed", "cpu", scaler=scaler)],
                        max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=callbacks)
    trainer.fit(module, train_dataloaders=torch.utils.data.DataLoader(batches(steps), batch_size=None))
    return module, trainer


def test_scaler_skipped_overflow_steps_are_not_counted_as_bad_updates(tmp_path):
    record = ScalerRecord()
    # a scale of 2^60 overflows float16 gradients: the scaler halves it on each of the first steps it skips
    module, trainer = fit(tmp_path, steps=24, init_scale=2.0**60, nonfinite={"policy": "skip", "max_consecutive": 5},
                          callbacks=[record])
    skipped = sum(1 for before, after in zip([2.0**60, *record.scales], record.scales) if after < before)
    assert skipped > 5  # more overflow skips in a row than max_consecutive: the old guard stopped here
    assert trainer.global_step == 24 and module.nonfinite_guard.skipped_total == 0
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_non_finite_losses_are_still_counted_under_the_scaler(tmp_path):
    with pytest.raises(DivergedError, match=r"non-finite loss/gradients at optimizer step 4 \(3 bad update\(s\) in a row"):
        fit(tmp_path, steps=12, init_scale=2.0**8, nonfinite={"policy": "skip", "max_consecutive": 3},
            callbacks=[PoisonWeights(step=2)])


def test_non_finite_loss_stops_at_once_with_policy_stop_under_the_scaler(tmp_path):
    with pytest.raises(DivergedError, match=r"at optimizer step 3 \(1 bad update"):
        fit(tmp_path, steps=12, init_scale=2.0**8, nonfinite={"policy": "stop", "max_consecutive": 3},
            callbacks=[PoisonWeights(step=3)])
