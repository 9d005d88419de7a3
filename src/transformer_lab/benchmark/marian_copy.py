"""Our trained Transformer as a Hugging Face MarianMT with the same weights, for decoding side by side.

Both are post-norm encoder-decoders with sinusoidal positions, sqrt(d_model)-scaled embeddings shared by
encoder, decoder and output projection, and ReLU feed-forward layers; the copy maps our fused Q/K/V and
cross K/V projections onto Marian's separate ones, writes our position table (interleaved sin/cos, §3.5)
over Marian's (sin half, cos half), and sets Marian's LayerNorm epsilon to ours. Only models of that family
convert: other norms, positions or untied weights are refused.
"""

from __future__ import annotations

import torch
from torch import nn

from transformer_lab.benchmark.workloads import Shape, marian_config
from transformer_lab.model import Transformer
from transformer_lab.model.positional import sinusoid_table


def marian_copy(model: Transformer, attn: str = "sdpa"):
    """A MarianMTModel (eval mode) that computes what `model` computes."""
    from transformers import MarianMTModel

    cfg = model.config
    if cfg is None or cfg.norm != "post" or cfg.positional.name != "sinusoidal" or cfg.weight_sharing != "all":
        raise ValueError("marian_copy needs a post-norm, sinusoidal, fully weight-shared model "
                         f"(got norm={getattr(cfg, 'norm', None)}, positional={getattr(cfg, 'positional', None)}, "
                         f"weight_sharing={getattr(cfg, 'weight_sharing', None)})")
    n_layers = len(model.encoder.layers)
    if len(model.decoder.layers) != n_layers or cfg.activation_dropout or cfg.attention_dropout:
        raise ValueError("marian_copy needs equal encoder/decoder depth and no attention/activation dropout")
    D = cfg.d_model
    shape = Shape(d_model=D, layers=n_layers, heads=cfg.n_heads, d_ff=cfg.d_ff,
                  vocab=model.generator.out_features, dropout=cfg.dropout)
    if (cfg.d_k or D // cfg.n_heads) * cfg.n_heads != D or (cfg.d_v or D // cfg.n_heads) * cfg.n_heads != D:
        raise ValueError("marian_copy needs d_k = d_v = d_model / n_heads")
    peer = MarianMTModel(marian_config(shape, attn)).eval()
    ours = model.state_dict()
    theirs: dict[str, torch.Tensor] = {"model.shared.weight": ours["encoder.embedding.weight"]}
    for stack in ("encoder", "decoder"):
        theirs[f"model.{stack}.embed_tokens.weight"] = ours[f"{stack}.embedding.weight"]
        theirs[f"model.{stack}.embed_positions.weight"] = sinusoid_table(1024, D)
        for i in range(n_layers):
            o, t = f"{stack}.layers.{i}.", f"model.{stack}.layers.{i}."
            for part in ("weight", "bias"):
                q, k, v = ours[o + f"self_attn.qkv.{part}"].split(D)
                theirs.update({t + f"self_attn.q_proj.{part}": q, t + f"self_attn.k_proj.{part}": k,
                               t + f"self_attn.v_proj.{part}": v,
                               t + f"self_attn.out_proj.{part}": ours[o + f"self_attn.out.{part}"],
                               t + f"fc1.{part}": ours[o + f"feed_forward.w1.{part}"],
                               t + f"fc2.{part}": ours[o + f"feed_forward.w2.{part}"]})
                first, last = ("attn_residual", "ff_residual") if stack == "encoder" else ("self_residual", "ff_residual")
                theirs[t + f"self_attn_layer_norm.{part}"] = ours[o + f"{first}.norm.{part}"]
                theirs[t + f"final_layer_norm.{part}"] = ours[o + f"{last}.norm.{part}"]
                if stack == "decoder":
                    k, v = ours[o + f"cross_attn.kv.{part}"].split(D)
                    theirs.update({t + f"encoder_attn.q_proj.{part}": ours[o + f"cross_attn.q.{part}"],
                                   t + f"encoder_attn.k_proj.{part}": k, t + f"encoder_attn.v_proj.{part}": v,
                                   t + f"encoder_attn.out_proj.{part}": ours[o + f"cross_attn.out.{part}"],
                                   t + f"encoder_attn_layer_norm.{part}": ours[o + f"cross_residual.norm.{part}"]})
    theirs["lm_head.weight"] = ours["generator.weight"]
    theirs["final_logits_bias"] = torch.zeros(1, shape.vocab)
    missing, unexpected = peer.load_state_dict(theirs, strict=False)
    if unexpected or [m for m in missing if not m.endswith("embed_positions.weight")]:
        raise RuntimeError(f"marian_copy: state dict mismatch, missing {missing}, unexpected {unexpected}")
    with torch.no_grad():  # the position tables are buffers-like frozen embeddings: write them in place
        for stack in (peer.model.encoder, peer.model.decoder):
            stack.embed_positions.weight.copy_(sinusoid_table(1024, D))
    for module in peer.modules():
        if isinstance(module, nn.LayerNorm):
            module.eps = cfg.layer_norm_eps  # Marian hard-codes 1e-5
    return peer
