"""What the import refuses, by name, before anything is written: settings our Transformer cannot represent,
missing or corrupt files, missing weights. Two differently shaped bad inputs per kind."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from marian_fixtures import edit_config, write_marian_dir

pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from transformer_lab.export.import_hf import UnimportableModelError, import_marian
from transformer_lab.import_model import main


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    return write_marian_dir(tmp_path_factory.mktemp("opus") / "opus-mt-en-de")


@pytest.fixture
def model_dir(pristine, tmp_path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "model"))


def refused(hf_dir: Path, tmp_path: Path, *fragments: str) -> str:
    out = tmp_path / "out.ckpt"
    with pytest.raises(UnimportableModelError) as error:
        import_marian(hf_dir, out)
    message = str(error.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "nothing was written" in message and "\n" not in message
    assert not out.exists() and not list(tmp_path.glob(".out.ckpt*"))
    return message


def test_the_command_writes_a_checkpoint_and_says_so(model_dir, tmp_path, capsys):
    assert main([str(model_dir), "-o", str(tmp_path / "m.ckpt")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "m.ckpt").is_file()


def test_the_command_reports_a_refusal_in_one_line(model_dir, tmp_path, capsys):
    edit_config(model_dir, activation_function="tanh")
    assert main([str(model_dir), "-o", str(tmp_path / "m.ckpt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tlab-import: error:") and "activation_function='tanh'" in err
    assert not (tmp_path / "m.ckpt").exists()


@pytest.mark.parametrize("make", ["a file", "no config.json"])
def test_not_a_model_directory(make, model_dir, tmp_path):
    if make == "a file":
        target = tmp_path / "weights.bin"
        target.write_bytes(b"x")
        refused(target, tmp_path, "is not a directory")
    else:
        (model_dir / "config.json").unlink()
        refused(model_dir, tmp_path, "config.json: file not found")


@pytest.mark.parametrize("text, fragment", [("{not json", "is not valid JSON"), ("[1, 2]", "not a JSON object")])
def test_corrupt_config(text, fragment, model_dir, tmp_path):
    (model_dir / "config.json").write_text(text)
    refused(model_dir, tmp_path, fragment)


@pytest.mark.parametrize("model_type", ["mbart", None])
def test_other_architectures(model_type, model_dir, tmp_path):
    edit_config(model_dir, model_type=model_type)
    refused(model_dir, tmp_path, f"model_type={model_type!r}", "only MarianMT")


@pytest.mark.parametrize("key", ["normalize_before", "layernorm_embedding"])
def test_layer_norm_variants(key, model_dir, tmp_path):
    edit_config(model_dir, **{key: True})
    refused(model_dir, tmp_path, f"{key}=True", "cannot be represented")


@pytest.mark.parametrize("value", [False, None])
def test_unscaled_embeddings(value, model_dir, tmp_path):
    edit_config(model_dir, scale_embedding=value)
    refused(model_dir, tmp_path, "scale_embedding=", "sqrt(d_model)")


@pytest.mark.parametrize("key", ["tie_word_embeddings", "share_encoder_decoder_embeddings"])
def test_untied_embeddings(key, model_dir, tmp_path):
    edit_config(model_dir, **{key: False})
    refused(model_dir, tmp_path, f"{key}=false")


@pytest.mark.parametrize("delta", [1, -5])
def test_different_encoder_and_decoder_vocabularies(delta, model_dir, tmp_path):
    size = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    edit_config(model_dir, decoder_vocab_size=size + delta)
    refused(model_dir, tmp_path, f"decoder_vocab_size={size + delta}", "one vocabulary")


@pytest.mark.parametrize("activation", ["tanh", "gelu_new"])
def test_unknown_activation(activation, model_dir, tmp_path):
    edit_config(model_dir, activation_function=activation)
    refused(model_dir, tmp_path, f"activation_function={activation!r}", "model.activation takes")


@pytest.mark.parametrize("key, value, fragment", [("decoder_attention_heads", 2, "model.n_heads"),
                                                  ("decoder_ffn_dim", 64, "model.d_ff")])
def test_stacks_of_different_widths(key, value, fragment, model_dir, tmp_path):
    edit_config(model_dir, **{key: value})
    refused(model_dir, tmp_path, f"{key}={value}", fragment)


def test_every_problem_is_named_at_once(model_dir, tmp_path):
    edit_config(model_dir, activation_function="tanh", scale_embedding=False, normalize_before=True)
    refused(model_dir, tmp_path, "activation_function", "scale_embedding", "normalize_before")


@pytest.mark.parametrize("missing", ["target.spm", "vocab.json"])
def test_a_missing_tokenizer_file(missing, model_dir, tmp_path):
    (model_dir / missing).unlink()
    refused(model_dir, tmp_path, f"{missing}: file not found")


def test_no_tokenizer_at_all(model_dir, tmp_path):
    for name in ("source.spm", "target.spm", "vocab.json"):
        (model_dir / name).unlink()
    refused(model_dir, tmp_path, "no tokenizer", "tokenizer.json")


@pytest.mark.parametrize("corrupt", ["cut", "text"])
def test_a_corrupt_sentencepiece_model(corrupt, model_dir, tmp_path):
    path = model_dir / "source.spm"
    path.write_bytes(path.read_bytes()[:50] if corrupt == "cut" else b"this is not a model\n" * 10)
    refused(model_dir, tmp_path, "source.spm is not a readable sentencepiece model")


def test_a_vocabulary_of_the_wrong_size(model_dir, tmp_path):
    vocab = json.loads((model_dir / "vocab.json").read_text())
    vocab.pop(next(piece for piece in vocab if piece not in ("</s>", "<unk>", "<pad>")))
    (model_dir / "vocab.json").write_text(json.dumps(vocab))
    refused(model_dir, tmp_path, "vocab.json has", "vocab_size=")


@pytest.mark.parametrize("key, value", [("pad_token_id", 3), ("eos_token_id", 1)])
def test_special_ids_that_are_not_their_pieces(key, value, model_dir, tmp_path):
    edit_config(model_dir, **{key: value})
    refused(model_dir, tmp_path, f"{key}={value}")


@pytest.mark.parametrize("start", [0, 5])
def test_a_decoder_start_that_is_neither_pad_nor_bos(start, model_dir, tmp_path):
    edit_config(model_dir, decoder_start_token_id=start)
    refused(model_dir, tmp_path, f"decoder_start_token_id={start}")


def test_no_weights_file(model_dir, tmp_path):
    (model_dir / "model.safetensors").unlink()
    refused(model_dir, tmp_path, "no weights", "model.safetensors")


def test_a_weight_missing_from_the_file(model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    tensors = load_file(model_dir / "model.safetensors")
    del tensors["model.decoder.layers.1.fc1.weight"], tensors["model.encoder.layers.0.self_attn.q_proj.bias"]
    save_file(tensors, model_dir / "model.safetensors", metadata={"format": "pt"})
    refused(model_dir, tmp_path, "model.decoder.layers.1.fc1.weight missing",
            "model.encoder.layers.0.self_attn.q_proj.bias missing")


def test_a_weight_with_no_place_in_our_model(model_dir, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    tensors = load_file(model_dir / "model.safetensors")
    tensors["model.encoder.layernorm_embedding.weight"] = torch.ones(16)
    save_file(tensors, model_dir / "model.safetensors", metadata={"format": "pt"})
    refused(model_dir, tmp_path, "model.encoder.layernorm_embedding.weight")


def test_a_corrupt_weights_file(model_dir, tmp_path):
    path = model_dir / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])
    refused(model_dir, tmp_path, "weights could not be read")


@pytest.mark.parametrize("existing", ["file", "directory"])
def test_an_existing_output_is_never_overwritten(existing, model_dir, tmp_path):
    out = tmp_path / "out.ckpt"
    out.mkdir() if existing == "directory" else out.write_bytes(b"mine")
    with pytest.raises(UnimportableModelError, match="already exists"):
        import_marian(model_dir, out)
    assert out.is_dir() if existing == "directory" else out.read_bytes() == b"mine"


@pytest.mark.parametrize("key, value", [("d_model", "16"), ("encoder_layers", 0)])
def test_sizes_that_are_not_positive_integers(key, value, model_dir, tmp_path):
    edit_config(model_dir, **{key: value})
    refused(model_dir, tmp_path, f"{key}={value!r}: must be a positive integer")


@pytest.mark.parametrize("d_model, fragment", [(18, "not divisible by encoder_attention_heads=4"), (20, None)])
def test_heads_must_divide_d_model(d_model, fragment, model_dir, tmp_path):
    edit_config(model_dir, d_model=d_model, encoder_attention_heads=3 if fragment is None else 4,
                decoder_attention_heads=3 if fragment is None else 4)
    refused(model_dir, tmp_path, fragment or "not divisible by encoder_attention_heads=3")


@pytest.mark.parametrize("d_model", [15, 21])
def test_an_odd_d_model_is_refused(d_model, model_dir, tmp_path):
    edit_config(model_dir, d_model=d_model, encoder_attention_heads=3, decoder_attention_heads=3)
    refused(model_dir, tmp_path, f"d_model={d_model} is odd")


@pytest.mark.parametrize("text", ['["</s>", "<unk>"]', '{"</s>": "zero", "<unk>": 1}'])
def test_a_vocabulary_that_is_not_pieces_to_ids(text, model_dir, tmp_path):
    (model_dir / "vocab.json").write_text(text)
    refused(model_dir, tmp_path, "must map each piece to an integer id")


@pytest.mark.parametrize("rename", ["<unk>", "</s>"])
def test_a_vocabulary_without_a_special_piece(rename, model_dir, tmp_path):
    vocab = json.loads((model_dir / "vocab.json").read_text())
    vocab["<renamed>"] = vocab.pop(rename)
    (model_dir / "vocab.json").write_text(json.dumps(vocab))
    refused(model_dir, tmp_path, "has no <unk>" if rename == "<unk>" else "eos_token_id=0 must be the id of </s>")


def test_a_bos_piece_beside_a_pad_decoder_start_is_refused(model_dir, tmp_path):
    vocab = json.loads((model_dir / "vocab.json").read_text())
    piece = next(p for p in vocab if p not in ("</s>", "<unk>", "<pad>"))
    vocab["<s>"] = vocab.pop(piece)
    (model_dir / "vocab.json").write_text(json.dumps(vocab))
    refused(model_dir, tmp_path, "has a <s> piece, but the decoder starts from <pad>")
