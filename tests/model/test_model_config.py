"""Config: every impossible setting is refused naming its key; the Hydra files compose and build."""

import dataclasses

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from transformer_lab.config.directory import config_dir
from transformer_lab.model import PositionalConfig, TransformerConfig, build_transformer

CONF_DIR = config_dir()
MODELS = ("transformer_base", "transformer_big", "transformer_small")
SCHEMES = ("sinusoidal", "learned", "none", "rope", "alibi")
TINY = dict(vocab_size=20, n_layers=1, d_model=8, d_ff=16, n_heads=2)

INVALID = [
    (dict(vocab_size=None), "vocab_size"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(n_layers=0), "n_layers"),
    (dict(n_encoder_layers=-1), "n_encoder_layers"),
    (dict(n_decoder_layers=0), "n_decoder_layers"),
    (dict(d_model=-8), "d_model"),
    (dict(d_ff=0), "d_ff"),
    (dict(n_heads=0), "n_heads"),
    (dict(d_model=10, n_heads=4), "d_model=10"),
    (dict(d_model=10, n_heads=4, d_k=3), "d_model=10"),  # d_v still derived
    (dict(d_k=0, d_v=4), "d_k"),
    (dict(d_v=-1), "d_v"),
    (dict(dropout=-0.1), "dropout"),
    (dict(dropout=1.0), "dropout"),
    (dict(attention_dropout=1.5), "attention_dropout"),
    (dict(activation_dropout=-1), "activation_dropout"),
    (dict(norm="sandwich"), "norm"),
    (dict(weight_sharing="encoder"), "weight_sharing"),
    (dict(weight_sharing="all", src_vocab_size=30), "weight_sharing"),
    (dict(layer_norm_eps=0.0), "layer_norm_eps"),
    (dict(pad_id=20), "pad_id"),
    (dict(positional=dict(name="t5")), "positional.name"),
    (dict(positional=dict(name="learned", max_len=0)), "positional.max_len"),
    (dict(positional=dict(name="rope", base=-1.0)), "positional.base"),
    (dict(positional=dict(name="rope"), d_k=3, d_v=4), "d_k=3"),  # rotary needs an even head dim
    (dict(positional=dict(name="rope"), d_model=6, n_heads=2), "d_k=3"),
    (dict(n_layer=3), "n_layer"),  # unknown key (typo)
    (dict(positional=dict(name="rope", theta=1.0)), "theta"),  # unknown nested key
]


@pytest.mark.parametrize("override,key", INVALID, ids=[key for _, key in INVALID])
def test_invalid_config_raises_naming_key(override, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        build_transformer({**TINY, **override})


def test_valid_variants_pass_validation():
    TransformerConfig(vocab_size=10, d_model=10, n_heads=4, d_k=3, d_v=5).validate()  # d_k, d_v free
    TransformerConfig(src_vocab_size=10, tgt_vocab_size=12, weight_sharing="decoder").validate()
    TransformerConfig(vocab_size=10, positional=PositionalConfig(name="alibi"), n_heads=6, d_model=12).validate()


def test_from_mapping_accepts_dictconfig_with_nested_positional():
    cfg = OmegaConf.create({**TINY, "positional": {"name": "learned", "max_len": 32}, "d_k": "${d_model}"})
    parsed = TransformerConfig.from_mapping(cfg)
    assert parsed.positional == PositionalConfig(name="learned", max_len=32)
    assert parsed.d_k == 8 and parsed.head_dim_v == 4
    assert TransformerConfig.from_mapping(dataclasses.asdict(parsed)) == parsed  # plain-dict round trip (checkpoints)


@pytest.mark.parametrize("model_name", MODELS)
def test_hydra_configs_compose_and_build(model_name):
    expected = {
        "transformer_base": (6, 512, 2048, 8, 0.1),
        "transformer_big": (6, 1024, 4096, 16, 0.3),
        "transformer_small": (3, 256, 1024, 4, 0.1),
    }[model_name]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for scheme in SCHEMES:
            cfg = compose(overrides=[f"+model={model_name}", f"model/positional={scheme}", "model.vocab_size=100"])
            with torch.device("meta"):  # full-size shapes without allocating or initializing them
                model = build_transformer(cfg.model)
            c = model.config
            assert (c.n_layers, c.d_model, c.d_ff, c.n_heads, c.dropout) == expected
            assert c.positional.name == scheme and c.norm == "post" and c.weight_sharing == "all"
            assert type(model.encoder.positional).__name__.lower().startswith(
                {"sinusoidal": "sinus", "learned": "learn", "none": "nopos", "rope": "rotary", "alibi": "alibi"}[scheme]
            )
    # the config's keys are exactly the dataclass's fields (nothing silently ignored or missing)
    fields = set(TransformerConfig.__dataclass_fields__)
    assert set(cfg.model.keys()) == fields


def test_small_config_builds_and_runs_for_real():
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(overrides=["+model=transformer_small", "model/positional=rope", "model.vocab_size=50"])
    model = build_transformer(cfg.model).eval()
    logits = model(torch.tensor([[5, 6, 2]]), torch.tensor([[1, 5]]))
    assert logits.shape == (1, 2, 50) and torch.isfinite(logits).all()
