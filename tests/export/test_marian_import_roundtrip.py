"""Export, then import: the lab checkpoint's weights and tokenizer come back exactly (`export_hf` then
`import_marian`), for a model trained here (BPE tokenizer) and for an imported OPUS-MT one (sentencepiece pair)."""

from __future__ import annotations

import pytest
import torch
from marian_fixtures import ENGLISH, GERMAN, write_marian_dir

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from transformer_lab.data.tokenizers.bpe import Tokenizer
from transformer_lab.export.hf import export_hf
from transformer_lab.export.import_hf import import_marian, imported_module
from transformer_lab.inference.loading import module_from_checkpoint
from transformer_lab.training.module.lightning_module import TranslationModule
from transformer_lab.training.module.run_context import RunContext
from transformer_lab.training.module.settings import ModuleSettings


def lab_module(**model) -> TranslationModule:
    """A random-weight module (biases and LayerNorms too) with a BPE tokenizer trained on a few sentences."""
    tokenizer = Tokenizer.train(ENGLISH + GERMAN, vocab_size=300, min_frequency=1)
    torch.manual_seed(0)
    settings = ModuleSettings.from_plain({"model": dict(vocab_size=tokenizer.vocab_size, n_encoder_layers=2,
                                                        n_decoder_layers=1, d_model=16, d_ff=32, n_heads=4,
                                                        dropout=0.0, **model)})
    module = TranslationModule(settings, RunContext(tokenizer=tokenizer))
    with torch.no_grad():
        for name, parameter in module.model.named_parameters():
            if "norm" in name or "bias" in name:
                parameter.add_(torch.randn_like(parameter) * 0.5)
    return module.eval()


def assert_same_weights(a: TranslationModule, b: TranslationModule) -> None:
    ours, theirs = a.model.state_dict(), b.model.state_dict()
    assert sorted(ours) == sorted(theirs)
    different = [name for name in ours if not torch.equal(ours[name], theirs[name])]
    assert not different, different


@pytest.mark.parametrize("model", [dict(layer_norm_eps=1e-5),
                                   dict(layer_norm_eps=1e-5, activation="swish", output_bias=True)],
                         ids=["paper", "swish+bias"])
def test_a_lab_checkpoint_comes_back_exactly(model, tmp_path):
    module = lab_module(**model)
    export_hf(module, tmp_path / "hf")
    back = imported_module(tmp_path / "hf")
    assert_same_weights(module, back)
    assert back.tokenizer.to_json() == module.tokenizer.to_json()
    for key in ("activation", "output_bias", "layer_norm_eps", "d_model", "encoder_layers", "decoder_layers"):
        assert getattr(back.model.config, key) == getattr(module.model.config, key), key


def test_the_export_writes_the_activation(tmp_path):
    import json

    export_hf(lab_module(layer_norm_eps=1e-5, activation="gelu"), tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["activation_function"] == "gelu"


def test_an_imported_opus_model_exports_and_comes_back_exactly(tmp_path):
    marian_dir = write_marian_dir(tmp_path / "opus")
    checkpoint = import_marian(marian_dir, tmp_path / "opus.ckpt")
    module, _ = module_from_checkpoint(checkpoint)
    export_hf(module, tmp_path / "hf")
    assert {"source.spm", "target.spm", "vocab.json"} <= {p.name for p in (tmp_path / "hf").iterdir()}
    back = imported_module(tmp_path / "hf")
    assert_same_weights(module, back)
    assert back.tokenizer.to_json() == module.tokenizer.to_json()
    assert back.tokenizer.vocab_size == module.tokenizer.vocab_size  # no second bos row


def test_the_export_of_an_imported_model_generates_as_ours(tmp_path):
    from transformers import MarianMTModel, MarianTokenizer

    from transformer_lab.decoding.config import SearchConfig
    from transformer_lab.inference.translation import translate_lines

    module, _ = module_from_checkpoint(import_marian(write_marian_dir(tmp_path / "opus"), tmp_path / "o.ckpt"))
    export_hf(module, tmp_path / "hf")
    marian = MarianMTModel.from_pretrained(str(tmp_path / "hf")).eval()
    tokenizer = MarianTokenizer.from_pretrained(str(tmp_path / "hf"))
    with torch.no_grad():
        ids = marian.generate(**tokenizer(ENGLISH[:3], return_tensors="pt", padding=True), num_beams=1,
                              do_sample=False, max_new_tokens=10)
    search = SearchConfig(strategy="greedy", beam_size=1, max_len_a=0.0, max_len_b=10)
    assert translate_lines(module, ENGLISH[:3], search) == tokenizer.batch_decode(ids, skip_special_tokens=True)


def test_with_the_default_eps_the_import_of_an_export_computes_the_same_logits(tmp_path):
    """layer_norm_eps 1e-6: the export rescales weights to absorb Marian's fixed 1e-5 (export/marian.py), so the
    weights cannot come back bit for bit; the imported (eps 1e-5) model computes the same function."""
    module = lab_module()  # the default layer_norm_eps=1e-6
    export_hf(module, tmp_path / "hf")
    back = imported_module(tmp_path / "hf")
    assert back.model.config.layer_norm_eps == 1e-5
    src, tgt = torch.tensor([[5, 9, 30, 7, 2]]), torch.tensor([[1, 12, 40, 8, 2]])
    with torch.no_grad():
        torch.testing.assert_close(back.model(src, tgt), module.model(src, tgt), rtol=0, atol=1e-4)
