"""Which trained models MarianMT (and so CTranslate2) can express, checked before anything is written."""

from __future__ import annotations

from transformer_lab.model.config import TransformerConfig
from transformer_lab.special_tokens import PAD_ID

EXPORTABLE = (
    "exportable: post-norm (model.norm=post), sinusoidal positions with base 10000 "
    "(model.positional.name=sinusoidal), one matrix shared by both embeddings and the output layer "
    "(model.weight_sharing=all), d_k = d_v = d_model / n_heads (model.d_k and model.d_v null); "
    "encoder and decoder depths may differ"
)


# model.activation -> transformers' `activation_function` computing the same function (ACT2FN: "gelu" is the
# erf form, "swish" is SiLU); an activation missing here is refused by check_exportable
MARIAN_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "swish": "swish"}


class UnexportableModelError(ValueError):
    """The checkpoint's model uses a setting MarianMT cannot express."""


def check_exportable(cfg: TransformerConfig) -> None:
    """Raise UnexportableModelError naming every setting MarianMT cannot express, and what can be exported."""
    problems = []
    if cfg.norm != "post":
        problems.append(f"model.norm={cfg.norm!r}: MarianMT layers are post-norm only")
    if cfg.positional.name != "sinusoidal":
        problems.append(
            f"model.positional.name={cfg.positional.name!r}: MarianMT adds a fixed sinusoidal table to the "
            "embeddings and has no learned, rotary (RoPE) or ALiBi positions"
        )
    elif cfg.positional.base != 10000.0:
        problems.append(f"model.positional.base={cfg.positional.base!r}: MarianMT's sinusoids use base 10000")
    if cfg.weight_sharing != "all":
        problems.append(
            f"model.weight_sharing={cfg.weight_sharing!r}: the export keeps MarianMT's tied embeddings, "
            "which needs one matrix for source embeddings, target embeddings and the output layer"
        )
    head_dim = cfg.d_model // cfg.n_heads
    if cfg.d_model % cfg.n_heads or cfg.head_dim_k != head_dim or cfg.head_dim_v != head_dim:
        problems.append(
            f"model.d_k={cfg.head_dim_k}, model.d_v={cfg.head_dim_v} with model.d_model={cfg.d_model}, "
            f"model.n_heads={cfg.n_heads}: MarianMT's heads are d_model / n_heads wide"
        )
    if cfg.activation not in MARIAN_ACTIVATIONS:
        problems.append(f"model.activation={cfg.activation!r}: MarianMT's activations here are "
                        f"{sorted(MARIAN_ACTIVATIONS)}")
    if cfg.pad_id != PAD_ID:
        problems.append(f"model.pad_id={cfg.pad_id}: the exported tokenizer's <pad> is id {PAD_ID}")
    if problems:
        raise UnexportableModelError(
            "this model cannot be exported to MarianMT: " + "; ".join(problems) + f". ({EXPORTABLE})"
        )
