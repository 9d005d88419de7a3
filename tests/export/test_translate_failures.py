"""`translate` with bad options and awkward input: --nbest against --beam-size, EOF inside a line, control
characters, a multi-megabyte line, and hypotheses holding line-break pieces. Each: a one-line error, or one
output line per input line."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from export_helpers import save_module_checkpoint
from torch import nn

from transformer_lab.decoding.config import SearchConfig
from transformer_lab.inference.loading import module_from_checkpoint
from transformer_lab.inference.translation import LineTranslator
from transformer_lab.translate import format_results, main

WORDS = ["the", "old", "man", "sees", "a", "small", "dog", "and", "woman", "reads", "book", "in", "garden"]
SEARCH = ["--max-len-a", "0", "--max-len-b", "6", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Random weights, sinusoidal positions (no length limit of its own)."""
    from transformer_lab.data.tokenizers.bpe import Tokenizer
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    tokenizer = Tokenizer.train([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 3, vocab_size=400)
    torch.manual_seed(0)
    model = {"vocab_size": tokenizer.vocab_size, "n_layers": 1, "d_model": 32, "d_ff": 64, "n_heads": 4, "dropout": 0.0}
    module = TranslationModule(ModuleSettings.from_plain({"model": model}), RunContext(tokenizer=tokenizer))
    return save_module_checkpoint(module, tmp_path_factory.mktemp("sinusoidal") / "model.ckpt")


@pytest.fixture
def translate(monkeypatch, capsys):
    """`translate`'s main in this process with stdin given as bytes: (exit code, stdout bytes, stderr), as
    `python -m transformer_lab.translate` gives them (tests/export/test_translate_cli.py runs that wiring),
    without a process start and torch import per call."""
    def run(checkpoint: Path, *args: str, stdin: bytes) -> subprocess.CompletedProcess:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        capsys.readouterr()
        try:
            code = main([str(checkpoint), *SEARCH, *args])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.encode(), err)
    return run


@pytest.mark.parametrize("options, message", [
    (["--nbest", "5"], "--nbest 5 needs beam search with --beam-size >= 5 (now --beam-size 4)"),
    (["--nbest", "3", "--beam-size", "2"], "--nbest 3 needs beam search with --beam-size >= 3 (now --beam-size 2)"),
    (["--nbest", "2", "--greedy"], "--nbest 2 needs beam search with --beam-size >= 2 (now --greedy)"),
    (["--nbest", "2", "--beam-size", "1"], "--nbest 2 needs beam search with --beam-size >= 2 (now --beam-size 1)"),
    (["--nbest", "0"], "--nbest 0 must be >= 1"),
    (["--nbest", "-3", "--beam-size", "8"], "--nbest -3 must be >= 1"),
])
def test_nbest_against_beam_size_is_refused_in_one_line(checkpoint, capsys, options, message):
    with pytest.raises(SystemExit) as exit_:
        main([str(checkpoint), *options])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"error: {message}" in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("translate") or "error" in line][-1].count("error") == 1


def test_eof_inside_a_line_still_translates_that_line(checkpoint, translate):
    full = translate(checkpoint, stdin=b"a dog\nthe old man\n")
    assert full.returncode == 0, full.stderr
    expected = full.stdout.decode().splitlines()
    for mode in ([], ["--interactive"], ["--buffer-size", "2"]):
        cut = translate(checkpoint, *mode, stdin=b"a dog\nthe old man")  # no "\n" after the last line
        assert cut.returncode == 0 and cut.stdout.decode().splitlines() == expected, (mode, cut.stderr)
    alone = translate(checkpoint, "--interactive", stdin=b"the old man")  # the only line, unterminated
    assert alone.returncode == 0 and alone.stdout.decode() == expected[1] + "\n"


def test_control_characters_inside_lines_keep_one_output_line_per_input_line(checkpoint, translate):
    lines = ["the old\x00 man", "\x1b[31ma dog\x1b[0m\x07", "a\x0bwoman\x0creads", "the\x1c\x1d\x1e dog",
             "book\x85in\u2028garden\u2029", "\x7f\x08\x01", ""]
    data = "\n".join(lines).encode() + b"\n"
    for mode in ([], ["--interactive"]):
        proc = translate(checkpoint, *mode, stdin=data)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count(b"\n") == len(lines) and proc.stdout.decode().split("\n")[-2] == ""  # empty -> empty


def test_hypotheses_holding_line_break_pieces_stay_on_one_line(checkpoint):
    """A byte-level vocabulary has pieces for "\\n", "\\r", "\\x0b" ...: a model that writes them must not
    split its output line. The module's generator is given a bias that makes those pieces its favourites."""
    module, _ = module_from_checkpoint(checkpoint)
    tokenizer = module.tokenizer
    breaks = {piece: i for i in range(tokenizer.vocab_size) if (piece := tokenizer.decode([i])) in ("\n", "\r", "\x0b")}
    assert len(breaks) == 3, breaks
    for favourite in breaks.values():
        generator = nn.Linear(module.model.generator.in_features, tokenizer.vocab_size, bias=True)
        with torch.no_grad():
            generator.weight.zero_()
            generator.bias.fill_(-10.0)
            generator.bias[favourite] = 5.0
            generator.bias[4:8] = 4.0  # and a few words between them
        module.model.generator = generator
        for n_best, beam in ((1, 1), (3, 4)):
            translator = LineTranslator(module, SearchConfig(strategy="beam", beam_size=beam, max_len_a=0.0,
                                                             max_len_b=8), n_best=n_best)
            results = translator.translate(["the old man", "a dog"])
            assert all(hyps and hyps[0].text for hyps in results)  # something was written (maybe spaces only)
            out = format_results(results, first_line_number=1, n_best=n_best, scores=False)
            assert len(out.splitlines()) == 2 * n_best and out.count("\n") == 2 * n_best, repr(out)


def test_a_multi_megabyte_line_is_skipped_with_a_warning_not_searched_for_hours(checkpoint, translate, tmp_path):
    many_words = " ".join(WORDS[i % len(WORDS)] for i in range(400_000))  # 2.2 MB, 400,000 words
    one_word = "thedog" * 400_000  # 2.4 MB, no space: the tokens are counted after encoding
    for kind, line in (("many words", many_words), ("one word", one_word)):
        path = tmp_path / f"{kind.replace(' ', '_')}.txt"
        path.write_text(f"a dog\n{line}\nthe old man\n")
        start = time.monotonic()
        proc = translate(checkpoint, "--input", str(path), stdin=b"")
        seconds = time.monotonic() - start
        err = proc.stderr
        assert proc.returncode == 0, err
        assert proc.stdout.decode().split("\n") == [proc.stdout.decode().split("\n")[0], "",
                                                    proc.stdout.decode().split("\n")[2], ""]
        assert "warning: line 2: " in err and "more than --max-source-tokens 1024" in err, err
        assert seconds < 120, (kind, seconds)
    short = translate(checkpoint, "--input", str(path), "--max-source-tokens", "3", stdin=b"")
    assert "warning: line 1: " not in short.stderr  # "a dog" + eos: 3 tokens at most
    assert "warning: line 3: " in short.stderr  # "the old man" + eos: 4 or more


@pytest.mark.parametrize("value", ["1", "0", "-5"])
def test_max_source_tokens_below_two_is_refused(checkpoint, capsys, value):
    with pytest.raises(SystemExit):
        main([str(checkpoint), "--max-source-tokens", value])
    assert f"--max-source-tokens {value} must be >= 2" in capsys.readouterr().err
