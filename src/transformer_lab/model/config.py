"""Model configuration: the Hydra `model` group maps onto these dataclasses one to one.

`TransformerConfig.validate()` is the single place that rejects impossible settings; every message names the
offending key and value so that a bad command-line override is easy to spot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from transformer_lab.special_tokens import PAD_ID

POSITIONAL_SCHEMES = ("sinusoidal", "learned", "none", "rope", "alibi")
NORM_PLACEMENTS = ("post", "pre")
WEIGHT_SHARING = ("all", "decoder", "none")
ACTIVATIONS = ("relu", "gelu", "swish")  # the feed-forward's nonlinearity (layers.py)


@dataclass
class PositionalConfig:
    """How position enters the model (`conf/model/positional/*.yaml`)."""

    name: str = "sinusoidal"  # one of POSITIONAL_SCHEMES
    max_len: int = 1024  # rows of the learned table; precomputed rows for sinusoidal/rope (extended on demand)
    base: float = 10000.0  # wavelength base of sinusoidal (§3.5) and rope

    def validate(self) -> None:
        if self.name not in POSITIONAL_SCHEMES:
            raise ValueError(
                f"model.positional.name={self.name!r} is not a known scheme; choose one of {POSITIONAL_SCHEMES}"
            )
        if not isinstance(self.max_len, int) or self.max_len <= 0:
            raise ValueError(f"model.positional.max_len={self.max_len!r} must be a positive integer")
        if not self.base > 0:
            raise ValueError(f"model.positional.base={self.base!r} must be positive")


@dataclass
class TransformerConfig:
    """Hyperparameters of the encoder-decoder Transformer (paper §3, Table 3). Defaults = base model."""

    vocab_size: int | None = None  # shared BPE vocabulary (§3.4); filled from the tokenizer
    src_vocab_size: int | None = None  # null -> vocab_size
    tgt_vocab_size: int | None = None  # null -> vocab_size
    n_layers: int = 6  # N
    n_encoder_layers: int | None = None  # null -> n_layers
    n_decoder_layers: int | None = None  # null -> n_layers
    d_model: int = 512
    d_ff: int = 2048
    n_heads: int = 8  # h
    d_k: int | None = None  # per-head query/key width; null -> d_model // n_heads
    d_v: int | None = None  # per-head value width; null -> d_model // n_heads
    dropout: float = 0.1  # P_drop: sub-layer outputs and embedding+position sums (§5.4)
    attention_dropout: float = 0.0  # on attention probabilities (not in the paper)
    activation_dropout: float = 0.0  # after the FFN activation (not in the paper)
    activation: str = "relu"  # the FFN's nonlinearity (§3.3: ReLU); "gelu" (erf form) and "swish" (SiLU) are variants
    norm: str = "post"  # "post": LayerNorm(x + Dropout(sublayer(x))) as in §3.1; "pre": variant
    weight_sharing: str = "all"  # "all": src emb = tgt emb = pre-softmax (§3.4); "decoder"; "none"
    positional: PositionalConfig = field(default_factory=PositionalConfig)
    layer_norm_eps: float = 1e-6  # tensor2tensor's value (torch's default is 1e-5)
    output_bias: bool = False  # a bias on the pre-softmax map (the paper has none; Marian's final_logits_bias)
    pad_id: int = PAD_ID

    # ---- resolved values (null -> default) ----
    @property
    def src_vocab(self) -> int:
        return self.src_vocab_size if self.src_vocab_size is not None else self.vocab_size

    @property
    def tgt_vocab(self) -> int:
        return self.tgt_vocab_size if self.tgt_vocab_size is not None else self.vocab_size

    @property
    def encoder_layers(self) -> int:
        return self.n_encoder_layers if self.n_encoder_layers is not None else self.n_layers

    @property
    def decoder_layers(self) -> int:
        return self.n_decoder_layers if self.n_decoder_layers is not None else self.n_layers

    @property
    def head_dim_k(self) -> int:
        return self.d_k if self.d_k is not None else self.d_model // self.n_heads

    @property
    def head_dim_v(self) -> int:
        return self.d_v if self.d_v is not None else self.d_model // self.n_heads

    @classmethod
    def from_mapping(cls, cfg: Mapping[str, Any]) -> TransformerConfig:
        """Build from a mapping (the plain `model` section); unknown keys raise."""
        cfg = _to_plain_dict(cfg, "model")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s) {unknown}; known keys are {sorted(known)}")
        positional = cfg.pop("positional", None)
        if positional is None:
            positional = PositionalConfig()
        elif not isinstance(positional, PositionalConfig):
            positional = _to_plain_dict(positional, "model.positional")
            known_pos = {f.name for f in dataclasses.fields(PositionalConfig)}
            unknown_pos = sorted(set(positional) - known_pos)
            if unknown_pos:
                raise ValueError(
                    f"unknown model.positional key(s) {unknown_pos}; known keys are {sorted(known_pos)}"
                )
            positional = PositionalConfig(**positional)
        return cls(positional=positional, **cfg)

    def validate(self) -> TransformerConfig:
        """Raise ValueError naming the key and value of the first impossible setting; return self."""
        for key in ("vocab_size", "src_vocab_size", "tgt_vocab_size"):
            _check_positive_int(key, getattr(self, key), allow_none=True)
        if self.src_vocab is None or self.tgt_vocab is None:
            raise ValueError(
                "model.vocab_size is null: set it (the training app fills it from the tokenizer) "
                "or set both model.src_vocab_size and model.tgt_vocab_size"
            )
        for key in ("n_layers", "d_model", "d_ff", "n_heads"):
            _check_positive_int(key, getattr(self, key))
        for key in ("n_encoder_layers", "n_decoder_layers", "d_k", "d_v"):
            _check_positive_int(key, getattr(self, key), allow_none=True)
        if (self.d_k is None or self.d_v is None) and self.d_model % self.n_heads != 0:
            raise ValueError(
                f"model.d_model={self.d_model} is not divisible by model.n_heads={self.n_heads}; "
                "change one of them or set model.d_k and model.d_v explicitly"
            )
        for key in ("dropout", "attention_dropout", "activation_dropout"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"model.{key}={value!r} must be a probability in [0, 1)")
        if self.norm not in NORM_PLACEMENTS:
            raise ValueError(f"model.norm={self.norm!r} must be one of {NORM_PLACEMENTS}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"model.activation={self.activation!r} must be one of {ACTIVATIONS}")
        if not isinstance(self.output_bias, bool):
            raise ValueError(f"model.output_bias={self.output_bias!r} must be true or false")
        if self.weight_sharing not in WEIGHT_SHARING:
            raise ValueError(f"model.weight_sharing={self.weight_sharing!r} must be one of {WEIGHT_SHARING}")
        if self.weight_sharing == "all" and self.src_vocab != self.tgt_vocab:
            raise ValueError(
                f"model.weight_sharing='all' needs one shared vocabulary, but src_vocab_size={self.src_vocab} "
                f"and tgt_vocab_size={self.tgt_vocab}; use weight_sharing='decoder' or 'none'"
            )
        if not self.layer_norm_eps > 0:
            raise ValueError(f"model.layer_norm_eps={self.layer_norm_eps!r} must be positive")
        if not isinstance(self.pad_id, int) or not 0 <= self.pad_id < min(self.src_vocab, self.tgt_vocab):
            raise ValueError(f"model.pad_id={self.pad_id!r} must be a token id inside the vocabulary")
        if not isinstance(self.positional, PositionalConfig):
            raise ValueError(f"model.positional={self.positional!r} must be a PositionalConfig")
        self.positional.validate()
        if self.positional.name == "rope" and self.head_dim_k % 2 != 0:
            raise ValueError(
                f"model.d_k={self.head_dim_k} (per-head key width) must be even for model.positional.name='rope': "
                "rotary encoding rotates pairs of dimensions"
            )
        return self


def _check_positive_int(key: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"model.{key}={value!r} must be a positive integer")


def _to_plain_dict(cfg: Any, where: str) -> dict[str, Any]:
    """A shallow dict of a mapping section (the job turns its config files into plain mappings before this)."""
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{where} must be a mapping, got {type(cfg).__name__}")
    return dict(cfg)
