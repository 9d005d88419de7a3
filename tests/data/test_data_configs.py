"""Every conf/data/*.yaml instantiates the data module; its keys are the constructor's arguments."""

import inspect
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from transformer_lab.config.directory import config_dir
from transformer_lab.data import TranslationDataModule

CONF = config_dir() / "data"
REQUIRED = {  # the overrides a user must give on the command line
    "parallel_text": ["data.dir=/some/corpus"],
    "tsv": ["data.corpus.train=a.tsv", "data.corpus.valid=b.tsv", "data.corpus.test=c.tsv"],
    "hf": ["data.corpus.path=/some/dataset"],
}


def compose(name: str, overrides: list[str], tmp_path: Path):
    cfg = OmegaConf.create({"seed": 7, "paths": {"cache_dir": str(tmp_path / "cache"), "data_dir": "/data"},
                            "data": OmegaConf.load(CONF / f"{name}.yaml")})
    return OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_data_config_instantiates(name: str, tmp_path: Path) -> None:
    cfg = compose(name, REQUIRED.get(name, []), tmp_path)
    parameters = set(inspect.signature(TranslationDataModule).parameters)
    assert set(cfg.data) - {"_target_", "_convert_"} <= parameters
    dm = instantiate(cfg.data)
    assert isinstance(dm, TranslationDataModule)
    assert dm.seed == 7 and dm.cache_dir == str(tmp_path / "cache")
    assert isinstance(dm.corpus_spec, (str, dict))  # plain containers, no DictConfig


def test_wmt_configs_follow_the_paper(tmp_path: Path) -> None:
    de = instantiate(compose("wmt14_en_de", [], tmp_path).data)
    fr = instantiate(compose("wmt14_en_fr", [], tmp_path).data)
    assert (de.settings.vocab_size, de.dir, de.tgt_lang) == (37000, "/data/wmt14_en_de", "de")
    assert (fr.settings.vocab_size, fr.dir, fr.tgt_lang) == (32000, "/data/wmt14_en_fr", "fr")


def test_parallel_text_command_line_shape(tiny_corpus: Path, tmp_path: Path) -> None:
    cfg = compose("parallel_text", [f"data.dir={tiny_corpus}", "data.src_lang=en", "data.tgt_lang=de",
                                    "data.vocab_size=300", "data.min_frequency=1", "data.max_length_ratio=3"],
                  tmp_path)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    batch = next(iter(dm.val_dataloader()))
    assert batch["src"].dtype.is_floating_point is False and len(dm.split_texts("valid")[0]) == 6
