"""The resume checkpoint's own cadence (updates or minutes) and the non-finite guard, on real tensors and a
real Lightning Trainer."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import pytest
import torch

from transformer_lab.checkpointing.policy import ResumeCheckpoint
from transformer_lab.training.module.nonfinite import DivergedError, NonFiniteConfig, NonFiniteGuard


class SlowRegression(L.LightningModule):
    """One weight, a fixed input, `step_s` seconds per batch, and a pause of `pause_s` at batch `pause_at`."""

    def __init__(self, step_s: float = 0.0, pause_at: int = -1, pause_s: float = 0.0) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))
        self.step_s, self.pause_at, self.pause_s = step_s, pause_at, pause_s

    def training_step(self, batch, batch_idx):
        time.sleep(self.pause_s if batch_idx == self.pause_at else self.step_s)
        return (self.weight * batch[0]).pow(2).sum()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(256, 2)), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class SavedSteps(L.Callback):
    """Records the step stored in last.ckpt whenever the file changed since the previous update."""

    def __init__(self, path: Path) -> None:
        self.path, self.steps, self.batches, self._mtime = path, [], [], None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.path.exists() and self.path.stat().st_mtime_ns != self._mtime:
            self._mtime = self.path.stat().st_mtime_ns
            checkpoint = torch.load(self.path, weights_only=True)
            self.steps.append(checkpoint["global_step"])
            self.batches.append(checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["ready"])


def saved_steps(tmp_path: Path, resume: ResumeCheckpoint, max_steps: int, step_s: float = 0.0,
                accumulate: int = 1, **pause) -> list[int]:
    observer = SavedSteps(tmp_path / "checkpoints" / "last.ckpt")
    trainer = L.Trainer(default_root_dir=tmp_path, max_steps=max_steps, callbacks=[resume, observer], logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        accumulate_grad_batches=accumulate)
    trainer.fit(SlowRegression(step_s, **pause))
    # saved at the end of an update, never between the batches that accumulate into the next one
    assert observer.batches == [accumulate * step for step in observer.steps]
    return observer.steps


def test_resume_checkpoint_every_n_updates(tmp_path):
    assert saved_steps(tmp_path, ResumeCheckpoint(every_n_train_steps=4, every_n_minutes=None), 10) == [4, 8]


def test_resume_checkpoint_by_time_is_decided_at_the_check_cadence(tmp_path):
    check = ResumeCheckpoint.TIME_CHECK_EVERY_N_STEPS
    # 20 ms per update, a save due every 0.3 s of training: saves come, at check steps only.
    steps = saved_steps(tmp_path, ResumeCheckpoint(every_n_minutes=0.005), 4 * check, step_s=0.02)
    assert steps and all(step % check == 0 for step in steps), steps
    assert saved_steps(tmp_path / "never", ResumeCheckpoint(every_n_minutes=60.0), check + 1) == []
    # Accumulating 3 batches per update, the time runs out during the batch after update `check` (0-based
    # batch 3 x check): the save waits for the next check at an update's end instead of cutting update check+1.
    steps = saved_steps(tmp_path / "accumulating", ResumeCheckpoint(every_n_minutes=0.05), 2 * check + 1,
                        accumulate=3, pause_at=3 * check, pause_s=3.5)
    assert steps == [2 * check]


@pytest.mark.parametrize("arguments, message", [
    ({"every_n_train_steps": 0}, "every_n_train_steps must be >= 1 or null, got 0"),
    ({"every_n_minutes": 0}, "every_n_minutes must be > 0 or null, got 0"),
])
def test_a_bad_resume_cadence_is_refused_by_key(arguments, message):
    with pytest.raises(ValueError, match=message):
        ResumeCheckpoint(**arguments)


def _parameters(bad: bool) -> list[torch.nn.Parameter]:
    parameters = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))]
    for p in parameters:
        p.grad = torch.ones_like(p)
    if bad:
        parameters[1].grad[0] = float("inf")
    return parameters


def test_the_guard_skips_a_bad_update_and_stops_after_too_many(tmp_path):
    guard = NonFiniteGuard(NonFiniteConfig(policy="skip", max_consecutive=2))
    assert guard.check(_parameters(bad=False), 1, tmp_path / "last.ckpt")
    bad = _parameters(bad=True)
    assert not guard.check(bad, 2, tmp_path / "last.ckpt") and all(p.grad is None for p in bad)
    (tmp_path / "last.ckpt").write_bytes(b"")
    with pytest.raises(DivergedError, match=f"step 3; last good checkpoint: {tmp_path / 'last.ckpt'}"):
        guard.check(_parameters(bad=True), 3, tmp_path / "last.ckpt")


def test_the_guard_names_no_checkpoint_that_does_not_exist(tmp_path):
    guard = NonFiniteGuard(NonFiniteConfig(policy="stop"))
    with pytest.raises(DivergedError) as error:
        guard.check(_parameters(bad=True), 5, tmp_path / "last.ckpt")
    assert "last good checkpoint" not in str(error.value)


def test_policy_off_checks_nothing():
    parameters = _parameters(bad=True)
    assert NonFiniteGuard(NonFiniteConfig(policy="off")).check(parameters, 1, None)
    assert parameters[1].grad is not None  # left as they were


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="nonfinite.policy must be 'skip', 'stop' or 'off', got 'ignore'"):
        NonFiniteConfig(policy="ignore")
