"""The best value of each dev metric over a run, and the step where it occurred.

The W&B summary of a run would otherwise hold the last dev BLEU. `define_wandb_best_metrics` asks W&B to
keep the maximum of BLEU/chrF/chrF++ and the minimum of perplexity (`define_metric(summary=...)`), and
`BestTracker` records the step of each best value, for `summary.json` and the W&B summary
(`<metric>_best_step`, e.g. `val/bleu_best_step`).
"""

from __future__ import annotations

import math
from typing import Any

# metric -> "max" (higher is better) or "min"
BEST_OF: dict[str, str] = {"val/bleu": "max", "val/chrf": "max", "val/chrf++": "max", "val/ppl": "min"}
STEP_METRIC = "trainer/global_step"  # the x-axis Lightning's WandbLogger logs


class BestTracker:
    """Best value and its step for each metric of `best_of`; non-finite values never count as best."""

    def __init__(self, best_of: dict[str, str] | None = None) -> None:
        self.best_of = dict(BEST_OF if best_of is None else best_of)
        for key, mode in self.best_of.items():
            if mode not in ("max", "min"):
                raise ValueError(f"best_of[{key!r}] must be 'max' or 'min', got {mode!r}")
        self.best: dict[str, dict[str, float | int]] = {}  # metric -> {"value": v, "step": s}

    def update(self, metrics: dict[str, float], step: int) -> list[str]:
        """Takes one evaluation's metrics; returns the metrics that reached a new best."""
        improved = []
        for key, mode in self.best_of.items():
            value = metrics.get(key)
            if value is None or not math.isfinite(value):
                continue
            old = self.best.get(key)
            if old is None or (value > old["value"] if mode == "max" else value < old["value"]):
                self.best[key] = {"value": float(value), "step": int(step)}
                improved.append(key)
        return improved

    def state_dict(self) -> dict[str, Any]:
        return {key: dict(entry) for key, entry in self.best.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Takes a checkpoint's bests where they beat (or fill in) the ones held: a resumed run starts from
        the checkpoint's, and testing the best checkpoint (an earlier step) does not roll later bests back."""
        for key, entry in state.items():
            mode, old = self.best_of.get(key, "max"), self.best.get(key)
            value = float(entry["value"])
            if old is None or (value > old["value"] if mode == "max" else value < old["value"]):
                self.best[key] = {"value": value, "step": int(entry["step"])}


def define_wandb_best_metrics(run: Any, best_of: dict[str, str] | None = None) -> None:
    """`run.define_metric` for every tracked metric: the summary keeps its max (or min), not its last value."""
    for key, mode in (BEST_OF if best_of is None else best_of).items():
        run.define_metric(key, summary=mode, step_metric=STEP_METRIC)
