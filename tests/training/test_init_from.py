"""`init_from=CKPT` (issue 28): a new run starts from a trained model's weights and tokenizer, with a fresh
optimizer, schedule and step count; architecture and vocabulary mismatches are refused by key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from training_helpers import FAST, run_cli

from transformer_lab.config.checks import ConfigError
from transformer_lab.training.init_from import InitSource
from transformer_lab.training.preflight import check_job_config, data_settings, module_settings

CONF = str(Path(__file__).resolve().parents[2] / "conf")
SMALL_VOCAB = ["data.vocab_size=1000", "logger=none", "trainer.log_every_n_steps=1"]


def train_config(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=["debug=tiny", *overrides])


def losses(run_dir: Path) -> dict[int, float]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["train/loss"] for r in records if "train/loss" in r}


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    """A tiny model trained 60 updates, logging every update's loss."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    run_cli("transformer_lab.train", *FAST, *SMALL_VOCAB, "trainer.max_steps=60", "trainer.val_check_interval=60",
            "callbacks.periodic_checkpoint.every_n_train_steps=60", f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.mark.slow
def test_a_run_started_from_a_checkpoint_continues_from_its_loss_not_a_fresh_models(source_run, tmp_path):
    source = losses(source_run)
    # The source's first update is a fresh model's (same seed, same first batch): a fresh run's first loss.
    fresh_first, source_last = source[1], source[60]
    assert fresh_first - source_last > 0.7  # the source learned something to continue from
    run_dir = tmp_path / "fine-tune"
    checkpoint = source_run / "checkpoints" / "last.ckpt"
    command = [*FAST, *SMALL_VOCAB, "trainer.val_check_interval=2", f"init_from={checkpoint}", f"hydra.run.dir={run_dir}"]
    run_cli("transformer_lab.train", *command, "trainer.max_steps=2")
    tuned = losses(run_dir)
    assert sorted(tuned) == [1, 2]  # a fresh step count
    assert abs(tuned[1] - source_last) < 0.3 and fresh_first - tuned[1] > 0.5
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["init_from"]["path"] == str(checkpoint.resolve()) and summary["init_from"]["global_step"] == 60
    assert len(summary["init_from"]["md5"]) == 32 and summary["init_from"]["size"] == checkpoint.stat().st_size
    # relaunched with more steps (ckpt_path=auto), it resumes its own last.ckpt instead of starting over
    run_cli("transformer_lab.train", *command, "trainer.max_steps=3")
    assert json.loads((run_dir / "summary.json").read_text())["global_step"] == 3
    assert sorted(losses(run_dir)) == [1, 2, 3] and losses(run_dir)[1] == tuned[1]


@pytest.mark.parametrize("overrides, named", [
    (["model.d_model=64"], r"model\.d_model: 32 in the checkpoint, 64 in the config"),
    (["model.n_layers=2", "model.positional.name=learned"],
     r"model\.n_layers: 1 in the checkpoint, 2 in the config\n  model\.positional\.name: 'sinusoidal' in the "
     r"checkpoint, 'learned' in the config\nMake them match: add `model\.n_layers=1 model\.positional\.name=sinusoidal`"),
])
def test_an_architecture_other_than_the_checkpoints_is_refused_naming_each_key(finished_run, overrides, named):
    source = InitSource.read(finished_run / "checkpoints" / "last.ckpt")
    cfg = train_config(*overrides)
    settings = module_settings(cfg, vocab_size=source.tokenizer.vocab_size, pad_id=source.tokenizer.pad_id)
    with pytest.raises(ConfigError, match=named):
        source.check_architecture(settings.to_plain()["model"])


def test_dropout_may_differ_from_the_checkpoints(finished_run):
    source = InitSource.read(finished_run / "checkpoints" / "last.ckpt")
    cfg = train_config("model.dropout=0.3", "model.attention_dropout=0.1")
    settings = module_settings(cfg, vocab_size=source.tokenizer.vocab_size, pad_id=source.tokenizer.pad_id)
    source.check_architecture(settings.to_plain()["model"])  # no error


def test_another_vocabulary_size_is_refused(finished_run):
    source = InitSource.read(finished_run / "checkpoints" / "last.ckpt")
    with pytest.raises(ConfigError, match=r"data\.vocab_size is 4000 in the checkpoint, 2000 now.*data\.vocab_size=4000"):
        source.check_vocabulary(data_settings(train_config("data.vocab_size=2000")))
    source.check_vocabulary(data_settings(train_config()))  # the same size: accepted


@pytest.mark.parametrize("tokenizer_file", ["tok.json", "spm.model"])
def test_a_tokenizer_file_alongside_init_from_is_refused(finished_run, tmp_path, tokenizer_file):
    (tmp_path / tokenizer_file).write_text("{}")
    cfg = train_config(f"init_from={finished_run / 'checkpoints' / 'last.ckpt'}",
                       f"data.tokenizer_file={tmp_path / tokenizer_file}")
    with pytest.raises(ConfigError, match=r"together with data\.tokenizer_file=.*data\.tokenizer_file=null"):
        check_job_config(cfg, multirun=False)


@pytest.mark.parametrize("ckpt_path", ["last", "/some/run/checkpoints/last.ckpt"])
def test_init_from_with_a_resume_checkpoint_is_refused(finished_run, ckpt_path):
    cfg = train_config(f"init_from={finished_run / 'checkpoints' / 'last.ckpt'}", f"ckpt_path={ckpt_path}")
    with pytest.raises(ConfigError, match=rf"together with ckpt_path={ckpt_path}: a run either resumes"):
        check_job_config(cfg, multirun=False)


@pytest.mark.parametrize("make, named", [
    (lambda d: d / "nothing.ckpt", r"init_from=.*nothing\.ckpt: no such file"),
    (lambda d: d, r"init_from=.*: a directory; give a checkpoint file"),
])
def test_init_from_a_missing_path_is_refused_before_the_job_starts(tmp_path, make, named):
    with pytest.raises(ConfigError, match=named):
        check_job_config(train_config(f"init_from={make(tmp_path)}"), multirun=False)


@pytest.mark.parametrize("content, why", [(b"", r"empty: 0 bytes"), (b"step,loss\n1,2.0\n", r"not a torch file")])
def test_init_from_a_file_that_is_not_a_checkpoint_is_refused_naming_it(tmp_path, content, why):
    path = tmp_path / "model.ckpt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=rf"init_from: .*model\.ckpt.*{why}"):
        InitSource.read(path)


@pytest.mark.slow
def test_evaluate_encodes_a_fine_tuned_runs_data_with_the_checkpoints_tokenizer(source_run, tmp_path):
    # other training data than the source's: a BPE trained on it would differ from the checkpoint's
    run_dir = tmp_path / "fine-tune"
    run_cli("transformer_lab.train", *FAST, *SMALL_VOCAB, "data.corpus.train_size=20000", "trainer.max_steps=2",
            "trainer.val_check_interval=2", f"init_from={source_run / 'checkpoints' / 'last.ckpt'}",
            f"hydra.run.dir={run_dir}")
    proc = run_cli("transformer_lab.evaluate", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", "split=valid",
                   f"hydra.run.dir={tmp_path / 'evaluation'}")
    assert "(800 sentences)" in proc.stdout + proc.stderr
