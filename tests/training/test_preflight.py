"""The config boundary: the module's settings are typed once, sized by the tokenizer, and refused with the key
named when they contradict it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from transformer_lab.config.checks import ConfigError
from transformer_lab.training.preflight import check_job_config, module_settings, planned_vocab_size

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def train_config(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides))


def test_settings_take_the_tokenizers_vocabulary_size_and_pad_id():
    cfg = train_config("debug=tiny")
    settings = module_settings(cfg, vocab_size=777, pad_id=0)
    assert settings.model.vocab_size == 777 and settings.model.pad_id == 0
    assert settings.model.d_model == cfg.model.d_model and settings.decoding.test.beam_size == cfg.decoding.test.beam_size
    assert settings.to_plain()["model"]["vocab_size"] == 777  # what checkpoints store


def test_a_pad_id_other_than_the_tokenizers_is_refused_naming_the_key():
    cfg = train_config("debug=tiny", "model.pad_id=5")
    with pytest.raises(ConfigError, match=r"model\.pad_id=5 but the tokenizer's <pad> is id 0.*model\.pad_id=0"):
        check_job_config(cfg, multirun=False)


def test_a_vocabulary_size_other_than_the_tokenizers_is_refused():
    cfg = train_config("debug=tiny", "model.vocab_size=500")
    assert planned_vocab_size(cfg) == 500
    with pytest.raises(ConfigError, match=r"model\.vocab_size=500 but the data's tokenizer has 400 entries"):
        module_settings(cfg, vocab_size=400, pad_id=0)


@pytest.mark.parametrize("devices", [1, 2])
def test_lightning_distributed_sampler_is_refused_naming_the_key(devices):
    """The datamodule shards its own token-bucket batches: Lightning's distributed sampler would shard them again
    under DDP. Refused from the config (the trainer's own flag is private), on one device or several."""
    cfg = train_config("debug=tiny", "trainer.use_distributed_sampler=true", f"trainer.devices={devices}")
    with pytest.raises(ConfigError, match="trainer.use_distributed_sampler=false"):
        check_job_config(cfg, multirun=False)


def test_lightning_distributed_sampler_must_be_false_not_a_string():
    cfg = train_config("debug=tiny", "trainer.use_distributed_sampler=no")
    with pytest.raises(ConfigError, match=r"trainer\.use_distributed_sampler='no' is not valid"):
        check_job_config(cfg, multirun=False)
