"""A persistent Optuna study (issue 26): `hydra.sweeper.storage=sqlite:///F` with `hydra.sweeper.study_name=S`
continues across launches; two launches of 2 trials leave one study of 4 complete trials."""

from __future__ import annotations

import pytest
from training_helpers import FAST, run_cli

optuna = pytest.importorskip("optuna")
pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")

TRIAL = [*FAST, "trainer.max_steps=2", "trainer.val_check_interval=2", "callbacks.periodic_checkpoint.every_n_train_steps=2",
         "logger=none"]


@pytest.mark.slow  # two Optuna launches of two trials each (~35 s on 2 cores): pytest -m slow
def test_two_launches_of_two_trials_leave_one_study_of_four_complete_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for launch in (1, 2):  # each launch in its own sweep directory (the default's timestamp does the same)
        run_cli("transformer_lab.train", "hparams_search=optuna", *TRIAL, "hydra.sweeper.n_trials=2",
                       f"hydra.sweeper.storage={storage}", "hydra.sweeper.study_name=table3-search",
                       f"hydra.sweep.dir={tmp_path / f'launch{launch}'}", timeout=600)
    (summary,) = optuna.get_all_study_summaries(storage=storage)
    assert summary.study_name == "table3-search"
    study = optuna.load_study(study_name="table3-search", storage=storage)
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert all(t.value is not None and 0.0 <= t.value <= 100.0 for t in study.trials)  # best dev BLEU
    assert all("model.n_heads" in t.params for t in study.trials)
    for launch in (1, 2):
        assert sorted(p.name for p in (tmp_path / f"launch{launch}").iterdir() if p.is_dir()) == ["0", "1"]
