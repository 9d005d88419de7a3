"""The training module's search: `decoding.*.cuda_graphs` takes the CUDA-graph path on a GPU only, with the
plain search's tokens, and the graphs are released when an evaluation epoch ends."""

from __future__ import annotations

import pytest
import torch

from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.decoding import beam_search, greedy_search
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.static_decoding import release_static_decoders
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings

MODEL = dict(vocab_size=30, n_layers=2, d_model=16, d_ff=32, n_heads=2, dropout=0.0)


def tiny_module(device: str) -> TranslationModule:
    torch.manual_seed(0)
    context = RunContext(tokenizer=Tokenizer.train(["a b c d e f"] * 5, vocab_size=30))
    return TranslationModule(ModuleSettings.from_plain({"model": MODEL}), context).to(device).eval()


def sources(device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    src = torch.randint(4, 30, (3, 7), generator=g)
    src[:, -1] = 2  # eos
    src[0, 4:] = 0  # one padded sentence (pad 0, eos before it)
    src[0, 3] = 2
    return src.to(device)


def test_cuda_graphs_are_not_used_on_cpu():
    module = tiny_module("cpu")
    search = SearchConfig(beam_size=3, max_len_b=6, cuda_graphs=True)
    with_flag = module.search(sources("cpu"), search).tokens
    assert release_static_decoders(module.model) == 0  # the plain search ran: no static decoder was built
    without = module.search(sources("cpu"), SearchConfig(beam_size=3, max_len_b=6, cuda_graphs=False)).tokens
    assert torch.equal(with_flag, without)


@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_min_len_reaches_the_search_and_holds_back_eos(strategy):
    """`decoding.*.min_len` gives the model's search its `min_len`: the same tokens as calling the search
    directly, and no hypothesis is shorter than min_len tokens, eos included (without it, all end at once)."""
    module = tiny_module("cpu")
    def eos_first(generator, inputs, logits):  # eos (id 2) wins every step unless held back
        return logits + torch.nn.functional.one_hot(torch.tensor(2), logits.size(-1)) * 50.0

    module.model.generator.register_forward_hook(eos_first)
    src = sources("cpu")
    search = SearchConfig(strategy=strategy, beam_size=3, max_len_b=6, min_len=4)
    tokens = module.search(src, search).tokens
    plain = (greedy_search(module.model, src, alpha=0.6, max_len_a=1.0, max_len_b=6, min_len=4) if strategy == "greedy"
             else beam_search(module.model, src, beam_size=3, alpha=0.6, max_len_a=1.0, max_len_b=6, min_len=4))
    assert torch.equal(tokens, plain.tokens)
    assert all(row.index(2) == 3 for row in tokens.tolist())  # 4 tokens: 3, then eos (id 2)
    unconstrained = module.search(src, SearchConfig(strategy=strategy, beam_size=3, max_len_b=6)).tokens
    assert all(row[0] == 2 for row in unconstrained.tolist())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("strategy", ["beam", "greedy"])
def test_cuda_graphs_on_a_gpu_give_the_plain_search_tokens_and_are_released(strategy):
    module = tiny_module("cuda")
    src = sources("cuda")
    plain = module.search(src, SearchConfig(strategy=strategy, beam_size=3, max_len_b=6, cuda_graphs=False))
    assert release_static_decoders(module.model) == 0
    graphed = module.search(src, SearchConfig(strategy=strategy, beam_size=3, max_len_b=6, cuda_graphs=True))
    assert torch.equal(graphed.tokens, plain.tokens)
    torch.testing.assert_close(graphed.scores, plain.scores, atol=1e-5, rtol=1e-5)
    assert release_static_decoders(module.model) == 1  # one static decoder was built, and is now dropped
