"""A `transformers` MarianMT model as our Transformer: its config and its weights, computing the same function
(the inverse of `export/marian.py`).

Shapes: D d_model, V Marian's vocabulary, V' ours.

What is mapped, exactly:
1. Sinusoid layout. Marian's table puts all sines first, then all cosines; ours interleaves (§3.5). Every
   hidden (D-sized) axis is re-based by the inverse of the export's permutation: our h = Marian's h'[inv],
   inv = argsort([0, 2, 4, ..., 1, 3, 5, ...]). Then our interleaved table is Marian's, permuted (no
   `halves` layout is needed in the model).
2. LayerNorm eps: Marian's are torch's default 1e-5, so the imported model has `layer_norm_eps: 1e-5`.
3. Vocabulary. Our special ids are fixed (pad 0, bos 1, eos 2, unk 3); Marian's come from its vocab.json
   (OPUS-MT: </s> 0, <unk> 1, <pad> last) and its decoder starts from pad.
   deviation: our decoder starts from bos, so the import adds a bos row (V' = V + 1) whose embedding is
   Marian's decoder-start (pad) row: the first decoder input is the same vector. Its logit (and pad's,
   both the pad row's under tied weights) is never emitted: our searches ban pad and bos
   (`decoding/limits.py`), as transformers bans pad through `bad_words_ids`. Every other row keeps its
   order after the four special ids. A model whose decoder starts from its own `<s>` (our export) gets no
   extra row: its vocabulary is re-ordered only.
4. `final_logits_bias` -> `model.output_bias: true` with the same values (re-ordered as the vocabulary),
   unless it is all zeros (no bias, as the paper).
5. `activation_function`: relu, gelu (erf form) and swish/silu (OPUS-MT's) -> `model.activation`.
Anything else is refused by `marian_refusals` (import_hf.py) before this runs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from transformer_lab.export.marian import MARIAN_LAYER_NORM_EPS, hidden_permutation

# transformers' activation_function -> model.activation (the same function)
LAB_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "swish": "swish", "silu": "swish"}


def vocabulary_rows(*, size: int, pad_id: int, start_id: int, eos_id: int, unk_id: int) -> list[int]:
    """For each of our ids, the Marian id whose row (embedding, logit bias, piece) it takes: pad, the
    decoder start (pad again for OPUS-MT: the added bos row), eos, unk, then every other id in order."""
    specials = [pad_id, start_id, eos_id, unk_id]
    return specials + [i for i in range(size) if i not in set(specials)]


def lab_model_config(config: dict[str, Any], *, vocab_size: int, output_bias: bool) -> dict[str, Any]:
    """The `model` section (TransformerConfig fields) of a checked Marian config.json."""
    return dict(
        vocab_size=vocab_size,
        n_layers=config["encoder_layers"],
        n_encoder_layers=config["encoder_layers"],
        n_decoder_layers=config["decoder_layers"],
        d_model=config["d_model"],
        d_ff=config["encoder_ffn_dim"],
        n_heads=config["encoder_attention_heads"],
        dropout=float(config.get("dropout", 0.1)),
        attention_dropout=float(config.get("attention_dropout", 0.0)),
        activation_dropout=float(config.get("activation_dropout", 0.0)),
        activation=LAB_ACTIVATIONS[config.get("activation_function", "gelu")],
        norm="post",
        weight_sharing="all",
        positional=dict(name="sinusoidal", max_len=int(config.get("max_position_embeddings", 1024)), base=10000.0),
        layer_norm_eps=MARIAN_LAYER_NORM_EPS,
        output_bias=output_bias,
    )


def lab_state_dict(marian: dict[str, Tensor], rows: list[int], *, d_model: int, encoder_layers: int,
                   decoder_layers: int, output_bias: bool) -> dict[str, Tensor]:
    """Our Transformer's state dict (names of `build_transformer`'s model) from a MarianMTModel's."""
    inv = torch.argsort(hidden_permutation(d_model))  # our dim d = Marian's dim inv[d]
    index = torch.tensor(rows)
    embedding = marian["model.shared.weight"][index][:, inv]  # (V', D)
    out: dict[str, Tensor] = {"encoder.embedding.weight": embedding, "decoder.embedding.weight": embedding,
                              "generator.weight": embedding}
    if output_bias:
        out["generator.bias"] = marian["final_logits_bias"][0, index]  # (V',)

    def reading(name: str) -> tuple[Tensor, Tensor]:  # a projection reading the hidden stream
        return marian[name + ".weight"][:, inv], marian[name + ".bias"]

    def writing(ours: str, name: str) -> None:  # a projection (or LayerNorm) writing the hidden stream
        out[ours + ".weight"] = marian[name + ".weight"][inv]  # output rows (a LayerNorm's only axis)
        out[ours + ".bias"] = marian[name + ".bias"][inv]

    def fused(ours: str, names: list[str]) -> None:
        parts = [reading(name) for name in names]
        out[ours + ".weight"] = torch.cat([w for w, _ in parts])
        out[ours + ".bias"] = torch.cat([b for _, b in parts])

    for stack, n_layers in (("encoder", encoder_layers), ("decoder", decoder_layers)):
        for i in range(n_layers):
            ours, theirs = f"{stack}.layers.{i}.", f"model.{stack}.layers.{i}."
            fused(ours + "self_attn.qkv", [theirs + f"self_attn.{p}_proj" for p in "qkv"])
            writing(ours + "self_attn.out", theirs + "self_attn.out_proj")
            first = "attn_residual" if stack == "encoder" else "self_residual"
            writing(ours + f"{first}.norm", theirs + "self_attn_layer_norm")
            if stack == "decoder":
                fused(ours + "cross_attn.q", [theirs + "encoder_attn.q_proj"])
                fused(ours + "cross_attn.kv", [theirs + "encoder_attn.k_proj", theirs + "encoder_attn.v_proj"])
                writing(ours + "cross_attn.out", theirs + "encoder_attn.out_proj")
                writing(ours + "cross_residual.norm", theirs + "encoder_attn_layer_norm")
            fused(ours + "feed_forward.w1", [theirs + "fc1"])
            writing(ours + "feed_forward.w2", theirs + "fc2")
            writing(ours + "ff_residual.norm", theirs + "final_layer_norm")
    return {name: tensor.detach().float().contiguous().clone() for name, tensor in out.items()}


def used_marian_names(*, encoder_layers: int, decoder_layers: int) -> set[str]:
    """Every MarianMTModel tensor name `lab_state_dict` reads, plus those it may ignore (the tied copies of
    the shared embedding and the fixed sinusoid tables, which carry nothing of their own)."""
    names = {"model.shared.weight", "final_logits_bias", "lm_head.weight", "model.encoder.embed_tokens.weight",
             "model.decoder.embed_tokens.weight", "model.encoder.embed_positions.weight",
             "model.decoder.embed_positions.weight"}
    sub = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "self_attn_layer_norm",
           "fc1", "fc2", "final_layer_norm"}
    cross = {"encoder_attn.q_proj", "encoder_attn.k_proj", "encoder_attn.v_proj", "encoder_attn.out_proj",
             "encoder_attn_layer_norm"}
    for stack, n_layers, parts in (("encoder", encoder_layers, sub), ("decoder", decoder_layers, sub | cross)):
        for i in range(n_layers):
            names |= {f"model.{stack}.layers.{i}.{p}.{kind}" for p in parts for kind in ("weight", "bias")}
    return names
