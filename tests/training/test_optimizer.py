"""The training module's optimizer: fused Adam, which must update like the plain per-tensor Adam."""

from __future__ import annotations

import torch

from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings

MODEL = dict(vocab_size=30, n_layers=1, d_model=16, d_ff=32, n_heads=2)
OPTIM = dict(warmup_steps=4, lr_scale=1.0, betas=[0.9, 0.98], eps=1e-9, weight_decay=0.0)


def test_fused_adam_updates_like_the_plain_per_tensor_adam():
    torch.manual_seed(0)
    context = RunContext(tokenizer=Tokenizer.train(["a b c d"] * 5, vocab_size=30))
    module = TranslationModule(ModuleSettings.from_plain({"model": MODEL, "optim": OPTIM}), context)
    fused = module.configure_optimizers()["optimizer"]
    assert fused.defaults["fused"] is True
    plain_params = [p.detach().clone().requires_grad_() for p in module.parameters()]
    plain = torch.optim.Adam(plain_params, lr=1.0, betas=(0.9, 0.98), eps=1e-9, foreach=False)
    for step in range(3):
        lr = 1e-2 * (step + 1)
        for opt in (fused, plain):
            opt.param_groups[0]["lr"] = lr
        for p, q in zip(module.parameters(), plain_params):
            g = torch.randn_like(p)
            p.grad, q.grad = g, g.clone()
        fused.step()
        plain.step()
    for p, q in zip(module.parameters(), plain_params):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
