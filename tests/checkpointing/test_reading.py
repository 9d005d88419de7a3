"""The checkpoint reader decides what a file is from its own bytes: every non-checkpoint is named as what it
is, and only a real torch file whose pickle names a foreign global is refused as unsafe (never with torch's
advice to retry with weights_only=False)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import torch

from transformer_lab.checkpointing.errors import (
    UnreadableCheckpointError,
    UnsafeCheckpointError,
)
from transformer_lab.checkpointing.file_kind import FileKind, file_kind
from transformer_lab.checkpointing.reading import load_checkpoint_file


class Payload:  # unpickling it would run code chosen by the file's author
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint as training writes it, for a tiny module built here (random weights)."""
    from transformer_lab.data.tokenizers.bpe import Tokenizer
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    tokenizer = Tokenizer.train(["the old man sees a small dog", "a woman reads a book"] * 3, vocab_size=300)
    model = {"vocab_size": tokenizer.vocab_size, "n_layers": 1, "d_model": 16, "d_ff": 32, "n_heads": 2, "dropout": 0.0}
    module = TranslationModule(ModuleSettings.from_plain({"model": model}), RunContext(tokenizer=tokenizer))
    path = tmp_path_factory.mktemp("real") / "last.ckpt"
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "tokenizer_json": module.tokenizer.to_json(), "data_config": module.data_config}, path)
    return path


def non_checkpoints(directory: Path, real: Path) -> dict[str, tuple[Path, str]]:
    """Files of every shape that is not a checkpoint, with the reason the reader must give for each."""
    size = real.stat().st_size
    inputs = {
        "text": (b"not a checkpoint\n", "not a torch file); it is text starting 'not a checkpoint'"),  # parses as pickle
        "other text": (b"these are not weights\n", "not a torch file); it is text starting 'these are not weights'"),
        "json": (json.dumps({"state_dict": {}}).encode(), "not a torch file); it is JSON text starting '{\"state_dict\": {}}'"),
        "gzip": (gzip.compress(real.read_bytes()),
                 "not a torch file); it is gzip-compressed data (if it holds a checkpoint, decompress it first: gunzip -k"),
        "binary": (bytes(range(250, 256)) * 4, "not a torch file); it is binary data starting fa fb fc fd fe ff fa fb"),
        "empty": (b"", "empty: 0 bytes"),
        "truncated": (real.read_bytes()[: size // 2], f"truncated: the archive ends after {size // 2:,} bytes"),
        "truncated near the end": (real.read_bytes()[:-10], f"truncated: the archive ends after {size - 10:,} bytes"),
    }
    files = {}
    for kind, (data, reason) in inputs.items():
        path = directory / f"{kind.replace(' ', '_')}.ckpt"
        path.write_bytes(data)
        files[kind] = (path, reason)
    files["directory"] = (directory, (f"a directory, not a file: pass one of the .ckpt files inside it, e.g. "
                                      f"{directory / 'checkpoints' / 'last.ckpt'}"))
    legacy = directory / "legacy.ckpt"
    torch.save({"state_dict": {"w": torch.ones(3)}}, legacy, _use_new_zipfile_serialization=False)
    legacy_cut = directory / "legacy_cut.ckpt"
    legacy_cut.write_bytes(legacy.read_bytes()[:60])
    files["legacy truncated"] = (legacy_cut, "a damaged torch file in the legacy format")
    import zipfile

    other_zip = directory / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as archive:
        archive.writestr("notes.txt", "hello")
    files["another program's zip"] = (other_zip, "a zip archive, but not a torch checkpoint")
    return files


def test_the_first_bytes_decide_the_kind(tmp_path, real_checkpoint):
    legacy = tmp_path / "legacy.ckpt"
    for protocol in (2, 4):  # the legacy header is PROTO <n> + the pickled magic number, for any protocol
        torch.save({"w": torch.ones(1)}, legacy, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
        assert file_kind(legacy) is FileKind.LEGACY_TORCH
    assert file_kind(real_checkpoint) is FileKind.ZIP
    (tmp_path / "cut.ckpt").write_bytes(real_checkpoint.read_bytes()[:1000])
    assert file_kind(tmp_path / "cut.ckpt") is FileKind.TRUNCATED_ZIP
    assert file_kind(tmp_path) is FileKind.DIRECTORY
    assert file_kind(tmp_path / "absent.ckpt") is FileKind.MISSING
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    assert file_kind(tmp_path / "notes.txt") is FileKind.OTHER


def test_every_non_checkpoint_is_named_as_what_it_is(tmp_path, real_checkpoint):
    for kind, (path, reason) in non_checkpoints(tmp_path, real_checkpoint).items():
        for mmap in (False, True):
            with pytest.raises(UnreadableCheckpointError) as caught:
                load_checkpoint_file(path, mmap=mmap, required=("state_dict",))
            message = str(caught.value)
            assert message.startswith(f"{path} is not a readable transformer_lab checkpoint ({reason}"), (kind, message)
            for misleading in ("weights_only", "arbitrary code", "refusing", "Traceback", "\n"):
                assert misleading not in message, (kind, message)


def test_only_a_real_torch_file_with_a_foreign_global_is_unsafe(tmp_path, real_checkpoint):
    crafted = {"zip": tmp_path / "crafted.ckpt", "legacy": tmp_path / "crafted_legacy.ckpt",
               "class": tmp_path / "crafted_class.ckpt"}
    torch.save({"state_dict": {}, "hyper_parameters": {}, "payload": Payload()}, crafted["zip"])
    torch.save({"state_dict": {}, "payload": Payload()}, crafted["legacy"], _use_new_zipfile_serialization=False)
    torch.save({"state_dict": {}, "payload": Path("x")}, crafted["class"])
    names = {"zip": "posix.system", "legacy": "posix.system", "class": "pathlib"}
    for kind, path in crafted.items():
        with pytest.raises(UnsafeCheckpointError) as caught:
            load_checkpoint_file(path)
        message = str(caught.value)
        assert message.startswith(f"refusing to load {path}: it is a torch file whose pickle names {names[kind]}")
        assert "weights_only" not in message and "\n" not in message
    assert load_checkpoint_file(real_checkpoint, required=("state_dict",))["state_dict"]  # the real one loads


def test_translate_says_what_the_file_is_in_one_line(tmp_path, real_checkpoint, capsys):
    from transformer_lab.translate import main

    files = non_checkpoints(tmp_path, real_checkpoint)
    for kind in ("text", "json", "directory", "truncated"):
        path, reason = files[kind]
        assert main([str(path), "--device", "cpu"]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {path} is not a readable transformer_lab checkpoint ({reason}"), err
        assert err.count("\n") == 1 and "weights_only" not in err
