"""Lightning's model summary counts the FLOPs of one forward pass over the module's example sentence pair,
the count the shapes give, without drawing from the run's random stream."""

from __future__ import annotations

import torch
from lightning.pytorch.utilities.model_summary import ModelSummary

from transformer_lab.benchmark.measure import analytic_train_flops
from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.model import build_transformer
from transformer_lab.training.module.lightning_module import SUMMARY_EXAMPLE_TOKENS, TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings

MODEL = dict(vocab_size=30, n_layers=2, d_model=16, d_ff=32, n_heads=2, dropout=0.1)


def tiny_module() -> TranslationModule:
    context = RunContext(tokenizer=Tokenizer.train(["a b c d"] * 5, vocab_size=30))
    return TranslationModule(ModuleSettings.from_plain({"model": MODEL}), context)


def test_summary_flops_are_one_forward_pass_over_the_example_pair():
    summary = ModelSummary(tiny_module(), max_depth=1)
    T = SUMMARY_EXAMPLE_TOKENS
    # the training count (6 FLOPs per weight per token, attention 3 x its forward) is 3 forward passes
    assert summary.total_flops * 3 == analytic_train_flops(16, 2, 32, 30, sentences=1, src_len=T, tgt_len=T)
    assert summary.in_sizes[summary.layer_names.index("model")] == [[1, T], [1, T]]


def test_the_summary_leaves_the_random_stream_and_the_training_mode_as_they_were():
    module = tiny_module()
    torch.manual_seed(7)
    ModelSummary(module, max_depth=1)
    after_summary = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(torch.rand(3), after_summary)
    assert module.training and all(m.training for m in module.modules())


def test_building_the_example_draws_nothing_beyond_the_models_initialization():
    torch.manual_seed(3)
    tiny_module()
    after_module = torch.rand(3)
    torch.manual_seed(3)
    Tokenizer.train(["a b c d"] * 5, vocab_size=30)
    build_transformer(ModuleSettings.from_plain({"model": MODEL}).model)
    assert torch.equal(torch.rand(3), after_module)
