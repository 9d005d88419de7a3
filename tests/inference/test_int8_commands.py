"""Selecting int8 decoding: `translate --precision int8`, `evaluate precision=int8`, and their refusals."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))  # the CLI helpers
from training_helpers import run_cli  # noqa: E402

from transformer_lab.config.checks import ConfigError  # noqa: E402
from transformer_lab.decoding.config import SearchConfig  # noqa: E402
from transformer_lab.inference.loading import module_from_checkpoint  # noqa: E402
from transformer_lab.inference.scoring import check_precision  # noqa: E402
from transformer_lab.inference.translation import LineTranslator, translate_lines  # noqa: E402

WORDS = "the old man sees a small dog and woman reads book in garden".split()
LINES = ["the old man sees a dog", "a woman reads", "the small dog", "a book in the garden"]
SEARCH = ["--max-len-a", "0", "--max-len-b", "6"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Random weights on a tokenizer trained on a few words: a checkpoint in seconds, no data preparation."""
    from transformer_lab.data.tokenizers.bpe import Tokenizer
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    tokenizer = Tokenizer.train([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 3, vocab_size=400)
    torch.manual_seed(0)
    model = dict(vocab_size=tokenizer.vocab_size, n_layers=1, d_model=32, d_ff=64, n_heads=4, dropout=0.0)
    module = TranslationModule(ModuleSettings.from_plain({"model": model}), RunContext(tokenizer=tokenizer))
    path = tmp_path_factory.mktemp("int8") / "random.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "tokenizer_json": module.tokenizer.to_json(), "data_config": module.data_config}, path)
    return path


def test_line_translator_in_int8_leaves_the_float_module_as_it_was(checkpoint):
    module, _ = module_from_checkpoint(checkpoint)
    search = SearchConfig(max_len_a=0.0, max_len_b=6)
    before = translate_lines(module, LINES, search)
    translator = LineTranslator(module, search, precision="int8")
    assert type(translator.module.model.generator).__name__ == "Int8Linear"
    assert type(module.model.generator).__name__ == "Linear"
    assert len(translator.translate(LINES)) == len(LINES)
    assert translate_lines(module, LINES, search) == before


@pytest.mark.slow  # a process start: about 10 s on an idle 2-core machine, 30 s under load
def test_translate_precision_int8_writes_one_line_per_input(checkpoint, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(LINES) + "\n")
    proc = run_cli("transformer_lab.translate", str(checkpoint), "--input", str(tmp_path / "in.txt"), *SEARCH,
                   "--precision", "int8", "--device", "cpu")
    assert len(proc.stdout.splitlines()) == len(LINES)


@pytest.mark.parametrize("device", ["meta", "mps"])
def test_translate_refuses_int8_off_the_cpu(checkpoint, device, capsys):
    from transformer_lab.translate import main

    with pytest.raises(SystemExit) as exit_:
        main([str(checkpoint), "--precision", "int8", "--device", device])
    assert exit_.value.code == 2
    assert f"--precision int8 runs on the CPU only (--device is {device}); add --device cpu" in capsys.readouterr().err


@pytest.mark.slow  # a process start: about 10 s on an idle 2-core machine, 30 s under load
def test_evaluate_precision_int8_on_test_files_is_recorded(checkpoint, tmp_path):
    (tmp_path / "src.txt").write_text("\n".join(LINES) + "\n")
    (tmp_path / "ref.txt").write_text("\n".join(LINES) + "\n")
    record = tmp_path / "record.json"
    run_cli("transformer_lab.evaluate", f"ckpt={checkpoint}", f"src={tmp_path / 'src.txt'}",
            f"ref={tmp_path / 'ref.txt'}", "precision=int8", "+search.max_len_a=0", "+search.max_len_b=6",
            f"output={record}", f"hydra.run.dir={tmp_path / 'run'}")
    assert json.loads(record.read_text())["precision"] == "int8"


@pytest.mark.parametrize("precision", ["int4", "float16"])
def test_evaluate_refuses_an_unknown_precision(precision):
    with pytest.raises(ConfigError, match=rf"evaluate: precision='{precision}' must be one of fp32, bf16, int8"):
        check_precision(precision, "cpu", on_files=True)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_evaluate_refuses_a_float_precision_on_a_split(precision):
    with pytest.raises(ConfigError, match=rf"precision={precision} on a split: .* set trainer.precision"):
        check_precision(precision, "cpu", on_files=False)


@pytest.mark.parametrize("device", ["cuda", "meta"])
def test_evaluate_refuses_int8_off_the_cpu(device):
    with pytest.raises(ConfigError, match=rf"precision int8 runs on the CPU only, but the device is {device}.*trainer=cpu"):
        check_precision("int8", device, on_files=True)


def test_evaluate_precision_defaults_to_fp32():
    assert check_precision(None, "cpu", on_files=False) == "fp32" and check_precision("int8", "cpu", on_files=False) == "int8"
