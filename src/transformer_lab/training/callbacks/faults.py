"""Fault injection for exercising failure handling end to end (tests, and users checking their setup).

Enable from the command line, e.g. `+callbacks.fault._target_=transformer_lab.training.callbacks.faults.RaiseAtStep
+callbacks.fault.step=5`.
"""

from __future__ import annotations

import os
import signal

import lightning as L
import torch


class InjectedFault(RuntimeError):
    pass


class RaiseAtStep(L.Callback):
    """Raises `InjectedFault` when training reaches `step` (optimizer updates) on rank `rank` (-1 = all)."""

    def __init__(self, step: int, rank: int = -1, message: str = "injected fault") -> None:
        self.step, self.rank, self.message = step, rank, message

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step >= self.step and self.rank in (-1, trainer.global_rank):
            raise InjectedFault(f"{self.message} at step {trainer.global_step} on rank {trainer.global_rank}")


class NonFiniteGradientsAtSteps(L.Callback):
    """Makes one parameter's gradient NaN in the backward pass at the given optimizer steps (on `rank`,
    -1 = all): before DDP reduces the gradients, as a NaN arising on one rank would, so it reaches every rank."""

    def __init__(self, steps: list[int], rank: int = -1) -> None:
        self.steps, self.rank = set(steps), rank

    def on_before_backward(self, trainer: L.Trainer, pl_module, loss) -> None:
        if trainer.global_step in self.steps and self.rank in (-1, trainer.global_rank):
            parameter = next(p for p in pl_module.parameters() if p.requires_grad)

            def poison(grad: torch.Tensor) -> torch.Tensor:
                handle.remove()  # this backward only
                return torch.full_like(grad, float("nan"))

            handle = parameter.register_hook(poison)


class KillDuringValidation(L.Callback):
    """SIGKILLs its own process during the validation at optimizer step `step`: no hook, no save, as when a
    machine is lost or the OOM killer strikes."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit" and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class SignalsAtStep(L.Callback):
    """Sends `signals` (names, in order) to its own process when training reaches optimizer step `step`, on
    every rank at the same point of the loop: a scheduler's preemption (SLURM: SIGUSR1 before the time
    limit, then SIGTERM when it requeues the job), delivered reproducibly."""

    def __init__(self, step: int, signals: list[str]) -> None:
        self.step, self.signals = step, [signal.Signals[name] for name in signals]
        self._sent = False

    def on_train_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step >= self.step and not self._sent:
            self._sent = True
            for signum in self.signals:
                os.kill(os.getpid(), signum)


class SignalDuringTest(L.Callback):
    """Sends `signal_name` (SIGTERM by default) to its own process at test batch `batch` of the first test pass
    after training: a preemption that arrives while the test split is being decoded."""

    def __init__(self, batch: int = 0, signal_name: str = "SIGTERM") -> None:
        self.batch, self.signum = batch, signal.Signals[signal_name]
        self._sent = False

    def on_test_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if batch_idx == self.batch and not self._sent:
            self._sent = True
            os.kill(os.getpid(), self.signum)
