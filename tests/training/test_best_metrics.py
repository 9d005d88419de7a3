"""Best dev metrics and their steps: max for BLEU/chrF, min for perplexity, kept across checkpoint loads."""

from __future__ import annotations

import math

import pytest

from transformer_lab.training.records.best_metrics import BestTracker


def test_best_is_the_max_of_bleu_and_the_min_of_perplexity_with_the_first_step_reaching_it():
    tracker = BestTracker()
    for step, bleu, ppl in ((10, 1.0, 90.0), (20, 3.0, 50.0), (30, 3.0, 60.0), (40, 2.0, 40.0)):
        tracker.update({"val/bleu": bleu, "val/ppl": ppl}, step)
    assert tracker.best["val/bleu"] == {"value": 3.0, "step": 20}
    assert tracker.best["val/ppl"] == {"value": 40.0, "step": 40}


def test_non_finite_values_never_count_as_best():
    tracker = BestTracker()
    tracker.update({"val/bleu": 1.0, "val/ppl": 5.0}, 1)
    assert tracker.update({"val/bleu": math.inf, "val/ppl": math.nan}, 2) == []


def test_loading_an_earlier_checkpoint_does_not_roll_later_bests_back():
    early = BestTracker()
    early.update({"val/bleu": 2.0, "val/ppl": 90.0}, 10)
    tracker = BestTracker()
    tracker.update({"val/bleu": 2.0, "val/ppl": 90.0}, 10)
    tracker.update({"val/bleu": 1.0, "val/ppl": 40.0}, 30)
    tracker.load_state_dict(early.state_dict())  # e.g. testing the best-BLEU checkpoint after training
    assert tracker.best["val/ppl"] == {"value": 40.0, "step": 30}
    resumed = BestTracker()
    resumed.load_state_dict(tracker.state_dict())  # a resumed run starts from the checkpoint's bests
    assert resumed.state_dict() == tracker.state_dict()


def test_an_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="must be 'max' or 'min'"):
        BestTracker({"val/bleu": "up"})
