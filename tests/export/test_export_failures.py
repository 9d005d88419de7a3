"""`tlab-export` with bad input: damaged checkpoints, a non-empty or unwritable OUT_DIR, unexportable settings,
a disk that fills up mid-write. Each: a one-line error, and nothing half-written left (no OUT_DIR, no
temporary directory), nothing already there touched."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from export_helpers import save_module_checkpoint

from transformer_lab.export.__main__ import main as export_main

pytest.importorskip("transformers")


def build_checkpoint(path: Path, **model: object) -> Path:
    from transformer_lab.data.tokenizers.bpe import Tokenizer
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    tokenizer = Tokenizer.train(["the old man sees a small dog", "a woman reads a book"] * 5, vocab_size=60)
    torch.manual_seed(0)
    cfg = {"vocab_size": tokenizer.vocab_size, "n_layers": 1, "d_model": 16, "d_ff": 32, "n_heads": 4, "dropout": 0.0,
           **model}
    module = TranslationModule(ModuleSettings.from_plain({"model": cfg}), RunContext(tokenizer=tokenizer))
    return save_module_checkpoint(module, path)


@pytest.fixture(scope="module")
def exportable(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("exportable") / "model.ckpt")


def run_export(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = export_main(list(args))
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") <= 1, err
    return code, err


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


TARGETS = [["--to", "hf"], ["--to", "ct2"]]


@pytest.mark.parametrize("target", TARGETS, ids=["hf", "ct2"])
def test_damaged_checkpoints_are_refused_before_anything_is_written(exportable, tmp_path, capsys, target):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint\n")
    (tmp_path / "cut.ckpt").write_bytes(exportable.read_bytes()[:5000])
    (tmp_path / "run").mkdir()
    before = listing(tmp_path)
    for name, reason in (("notes.ckpt", "not a torch file"), ("cut.ckpt", "truncated"), ("run", "a directory")):
        code, err = run_export(capsys, str(tmp_path / name), *target, str(tmp_path / "out"))
        assert code == 2 and f"is not a readable transformer_lab checkpoint ({reason}" in err, err
        assert listing(tmp_path) == before


@pytest.mark.parametrize("target", TARGETS, ids=["hf", "ct2"])
def test_an_existing_output_is_refused_and_kept(exportable, tmp_path, capsys, target):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.txt").write_text("keep me")
    (tmp_path / "file.bin").write_bytes(b"keep me too")
    before = listing(tmp_path)
    for out in ("full", "file.bin"):
        code, err = run_export(capsys, str(exportable), *target, str(tmp_path / out))
        assert code == 2 and "already exists and is not an empty directory" in err, err
        assert listing(tmp_path) == before
    assert (tmp_path / "full" / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("target", TARGETS, ids=["hf", "ct2"])
def test_an_unwritable_output_place_is_named(exportable, tmp_path, capsys, target):
    (tmp_path / "a_file").write_text("x")
    for out in (tmp_path / "a_file" / "out", Path("/proc/transformer_lab_export_test/out")):  # root writes anywhere else
        code, err = run_export(capsys, str(exportable), *target, str(out))
        assert code == 2 and err.startswith(f"tlab-export: error: cannot write {out}: "), err
        assert "choose an OUT_DIR in a writable place (nothing was written)" in err
    assert listing(tmp_path) == ["a_file"]


@pytest.mark.parametrize("target", TARGETS, ids=["hf", "ct2"])
def test_unexportable_settings_are_named_before_writing(tmp_path, capsys, target):
    for setting, model in (("model.norm='pre'", {"norm": "pre"}),
                           ("model.positional.name='learned'", {"positional": {"name": "learned", "max_len": 32}}),
                           ("model.weight_sharing='none'", {"weight_sharing": "none"})):
        checkpoint = build_checkpoint(tmp_path / "model.ckpt", **model)
        code, err = run_export(capsys, str(checkpoint), *target, str(tmp_path / "out"))
        assert code == 2 and setting in err and "exportable: post-norm" in err, err
        assert listing(tmp_path) == ["model.ckpt"]


def _small_file_limit() -> None:  # a disk that fills up: writes past 64 KiB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))


@pytest.mark.parametrize("target", TARGETS, ids=["hf", "ct2"])
def test_a_disk_filling_up_mid_export_leaves_no_half_written_directory(tmp_path, target):
    if target[1] == "ct2":
        pytest.importorskip("ctranslate2")
    checkpoint = build_checkpoint(tmp_path / "model.ckpt", d_model=64, d_ff=256)  # weights of > 64 KiB
    out = tmp_path / "exports" / "out"
    proc = subprocess.run([sys.executable, "-m", "transformer_lab.export", str(checkpoint), *target, str(out)],
                          capture_output=True, text=True, preexec_fn=_small_file_limit, timeout=300, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "File too large" in proc.stderr, proc.stderr
    assert not out.exists() and listing(tmp_path / "exports") == []  # no OUT_DIR, no temporary directory
