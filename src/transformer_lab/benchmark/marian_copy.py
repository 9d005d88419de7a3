"""Our trained Transformer as a Hugging Face MarianMT with the same weights, for decoding side by side.

The weights are mapped by the exporter (`transformer_lab.export.marian`: the hidden dimensions re-based for
Marian's sines-then-cosines position table, its fixed LayerNorm epsilon absorbed into the weights), so the
benchmark's peer is exactly what `tlab-export --to hf` writes. Only models of that family convert: other
norms, positions or untied weights are refused.
"""

from __future__ import annotations

from transformer_lab.export.compatibility import UnexportableModelError, check_exportable
from transformer_lab.export.marian import marian_model
from transformer_lab.model import Transformer


def marian_copy(model: Transformer, attn: str = "sdpa"):
    """A MarianMTModel (eval mode) that computes what `model` computes, with `attn` as its attention kernel."""
    cfg = model.config
    try:
        check_exportable(cfg)
    except UnexportableModelError as error:
        raise ValueError(f"marian_copy needs a post-norm, sinusoidal, fully weight-shared model: {error}") from None
    # no forced eos at the maximum length: the benchmark forces output lengths itself (min_new_tokens)
    peer = marian_model(model, attn_implementation=attn, forced_eos_token_id=None)
    if peer.config._attn_implementation != attn:
        raise ValueError(f"MarianMT did not take attn_implementation={attn!r} (got {peer.config._attn_implementation!r})")
    return peer
