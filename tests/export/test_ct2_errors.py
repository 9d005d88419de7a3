"""CT2Translator on a directory it cannot use: one line naming the path, what is wrong and the export command
that fixes it, instead of CTranslate2's or tokenizers' own errors; the benchmark's command line prints it
without a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from export_helpers import run_cli

pytest.importorskip("ctranslate2")
pytest.importorskip("transformers")

from transformer_lab.export.ct2 import CT2ModelError, CT2Translator, export_ct2  # noqa: E402

FIX = "--to ct2"  # every message ends with the export command to run


@pytest.fixture(scope="module")
def ct2_export(tiny_checkpoint, tmp_path_factory) -> Path:
    from transformer_lab.inference.loading import module_from_checkpoint

    module, _ = module_from_checkpoint(tiny_checkpoint)
    return export_ct2(module, tmp_path_factory.mktemp("ct2") / "model")


def damaged_copy(ct2_export: Path, tmp_path: Path, name: str, content: bytes | None) -> Path:
    """A copy of the export with file `name` replaced by `content` (None: removed)."""
    copy = tmp_path / "damaged"
    shutil.copytree(ct2_export, copy)
    (copy / name).unlink()
    if content is not None:
        (copy / name).write_bytes(content)
    return copy


def assert_one_line_error(error: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(error.value)
    assert "\n" not in message and str(path) in message and FIX in message, message
    for word in words:
        assert word in message, message


def test_a_good_export_translates(ct2_export):
    assert len(CT2Translator(ct2_export).translate(["The old man sees a small dog.", ""], beam_size=2)) == 2


@pytest.mark.parametrize("relative", ["missing", "missing/deeper/model"])
def test_a_missing_directory_is_named(tmp_path, relative):
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(tmp_path / relative)
    assert_one_line_error(error, tmp_path / relative, "no such")


@pytest.mark.parametrize("name", ["model.bin", "config.json"])
def test_a_file_instead_of_a_directory_is_named(ct2_export, name):
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(ct2_export / name)
    assert_one_line_error(error, ct2_export / name, "is a file")


@pytest.mark.parametrize("files, what", [
    ([], "is empty"),
    (["config.json", "model.safetensors", "tokenizer.json"], "Hugging Face export"),
    (["notes.txt"], "holds no model.bin"),
], ids=["empty", "hf-export", "other-files"])
def test_a_directory_that_is_not_a_ct2_model_is_named(tmp_path, files, what):
    for name in files:
        (tmp_path / name).write_text("{}")
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(tmp_path)
    assert_one_line_error(error, tmp_path, what)


def test_a_real_hf_export_is_recognized(tiny_checkpoint, tmp_path):
    from transformer_lab.export.hf import export_hf
    from transformer_lab.inference.loading import module_from_checkpoint

    module, _ = module_from_checkpoint(tiny_checkpoint)
    export_hf(module, tmp_path / "hf")
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(tmp_path / "hf")
    assert_one_line_error(error, tmp_path / "hf", "Hugging Face export")


def test_a_missing_tokenizer_is_named(ct2_export, tmp_path):
    copy = damaged_copy(ct2_export, tmp_path, "tokenizer.json", None)
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(copy)
    assert_one_line_error(error, copy, "no tokenizer.json")


@pytest.mark.parametrize("content", [b'{"version": "1.0", "model": ', b'{"not": "a tokenizer"}', b"\xff\xfe\x00"],
                         ids=["cut", "other-json", "binary"])
def test_a_corrupt_tokenizer_is_named(ct2_export, tmp_path, content):
    copy = damaged_copy(ct2_export, tmp_path, "tokenizer.json", content)
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(copy)
    assert_one_line_error(error, copy / "tokenizer.json", "not a readable")


@pytest.mark.parametrize("cut", [0, 100, -1000], ids=["empty", "header-only", "last-bytes-cut"])
def test_a_corrupt_model_file_is_named(ct2_export, tmp_path, cut):
    content = (ct2_export / "model.bin").read_bytes()[:cut]
    copy = damaged_copy(ct2_export, tmp_path, "model.bin", content)
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(copy)
    assert_one_line_error(error, copy / "model.bin", "cannot read it")


def test_a_garbage_model_file_is_named(ct2_export, tmp_path):
    copy = damaged_copy(ct2_export, tmp_path, "model.bin", b"not a model, just some text\n" * 10)
    with pytest.raises(CT2ModelError) as error:
        CT2Translator(copy)
    assert_one_line_error(error, copy / "model.bin", "cannot read it")


@pytest.mark.parametrize("make", [lambda tmp: tmp / "missing", lambda tmp: tmp], ids=["missing", "empty"])
def test_the_benchmark_prints_the_error_without_a_traceback(tmp_path, make):
    ct2_dir = make(tmp_path)
    proc = run_cli("transformer_lab.benchmark.int8", str(tmp_path / "any.ckpt"), "--ct2-dir", str(ct2_dir),
                   check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: {ct2_dir}"), proc.stderr
