import math

import pytest
import torch

from transformer_lab.training.module.schedule import inverse_sqrt_lr, inverse_sqrt_scheduler


def paper_lrate(step: int, d_model: int, warmup: int) -> float:
    # §5.3, written out independently of the implementation
    return d_model ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5))


@pytest.mark.parametrize("step", [1, 2, 100, 3999, 4000, 4001, 10000, 100000])
def test_schedule_equals_paper_formula(step):
    assert inverse_sqrt_lr(step, 512, 4000) == pytest.approx(paper_lrate(step, 512, 4000), rel=1e-12)


def test_schedule_peaks_at_warmup():
    peak = inverse_sqrt_lr(4000, 512, 4000)
    assert peak == pytest.approx(512**-0.5 * 4000**-0.5)
    assert inverse_sqrt_lr(3999, 512, 4000) < peak and inverse_sqrt_lr(4001, 512, 4000) < peak


def test_scheduler_gives_the_formula_at_each_optimizer_update():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = inverse_sqrt_scheduler(optimizer, d_model=256, warmup_steps=10, scale=2.0)
    seen = []
    for _ in range(25):
        seen.append(optimizer.param_groups[0]["lr"])  # the lr used by this update
        optimizer.step()
        scheduler.step()
    expected = [2.0 * paper_lrate(step, 256, 10) for step in range(1, 26)]
    assert seen == pytest.approx(expected, rel=1e-12)


def test_scheduler_refuses_a_base_lr_other_than_one():
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(ValueError, match="1.0"):
        inverse_sqrt_scheduler(optimizer, 512, 4000)


def test_warmup_must_be_positive():
    with pytest.raises(ValueError, match="warmup_steps"):
        inverse_sqrt_lr(1, 512, 0)
    assert math.isfinite(inverse_sqrt_lr(0, 512, 4000))
