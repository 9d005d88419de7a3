"""`translate`: line i out for line i in, whatever the line breaks or lengths; interactive; n-best; scores."""

from __future__ import annotations

import functools
import io
import os
import select
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from export_helpers import run_cli, save_module_checkpoint

from transformer_lab.decoding.config import SearchConfig
from transformer_lab.inference.loading import module_from_checkpoint
from transformer_lab.inference.translation import translate_lines
from transformer_lab.translate import main, read_lines

WORDS = "the old man sees a small dog and woman reads book in garden".split()
SHORT = ["the old man sees a dog", "a woman reads", "the small dog"]
MAX_LEN = 16  # learned positions: sources and outputs up to 16 tokens
SEARCH = ["--max-len-a", "0", "--max-len-b", "6"]


@pytest.fixture(scope="module")
def learned_checkpoint(tmp_path_factory) -> Path:
    """Random weights (outputs differ from line to line), learned positions with 16 rows."""
    from transformer_lab.data.tokenizers.bpe import Tokenizer
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    tokenizer = Tokenizer.train([" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 3, vocab_size=400)
    torch.manual_seed(0)
    model = dict(vocab_size=tokenizer.vocab_size, n_layers=1, d_model=32, d_ff=64, n_heads=4, dropout=0.0,
                 positional={"name": "learned", "max_len": MAX_LEN})
    module = TranslationModule(ModuleSettings.from_plain({"model": model}), RunContext(tokenizer=tokenizer))
    with torch.no_grad():  # a louder source: outputs that differ from line to line
        for layer in module.model.decoder.layers:
            layer.cross_attn.out.weight.mul_(4.0)
    return save_module_checkpoint(module, tmp_path_factory.mktemp("learned") / "learned.ckpt")


def alone(checkpoint: Path, line: str) -> str:
    """The translation of one line on its own (the reference for line-by-line alignment)."""
    module, _ = module_from_checkpoint(checkpoint)
    return translate_lines(module, [line], SearchConfig(max_len_a=0.0, max_len_b=6))[0]


def test_lines_split_on_newline_only_the_same_for_stdin_and_files(learned_checkpoint, tmp_path):
    data = b"the old man sees a dog\r\na woman\rreads\n\nthe small dog\r\n"  # a lone \r inside line 2
    assert list(read_lines(io.BytesIO(data))) == ["the old man sees a dog", "a woman\rreads", "", "the small dog"]
    (tmp_path / "in.txt").write_bytes(data)
    from_file = run_cli("transformer_lab.translate", str(learned_checkpoint), "--input", str(tmp_path / "in.txt"),
                        *SEARCH).stdout
    from_stdin = subprocess.run([sys.executable, "-m", "transformer_lab.translate", str(learned_checkpoint), *SEARCH],
                                input=data, capture_output=True, check=True).stdout.decode()
    assert from_file == from_stdin
    lines = from_file.split("\n")[:-1]
    expected = [alone(learned_checkpoint, line) for line in ("the old man sees a dog", "a woman reads", "",
                                                               "the small dog")]
    assert lines == expected and len(set(expected)) == 4  # distinct outputs: a shifted line would show


def test_a_line_the_model_cannot_take_gets_an_empty_line_and_a_warning(learned_checkpoint, tmp_path):
    too_long = " ".join(WORDS * 2)  # 26 words, more than 16 tokens: beyond the learned position table
    stdin = "\n".join([SHORT[0], too_long, SHORT[1], SHORT[2]]) + "\n"
    proc = run_cli("transformer_lab.translate", str(learned_checkpoint), *SEARCH, stdin=stdin)
    assert proc.stdout.split("\n")[:-1] == [alone(learned_checkpoint, SHORT[0]), "",
                                            alone(learned_checkpoint, SHORT[1]), alone(learned_checkpoint, SHORT[2])]
    assert "warning: line 2:" in proc.stderr and "model.positional.max_len" in proc.stderr
    assert "Traceback" not in proc.stderr
    # an output length the table cannot hold: the same, naming the options to lower
    proc = run_cli("transformer_lab.translate", str(learned_checkpoint), "--max-len-a", "1", "--max-len-b", "12",
                   stdin=SHORT[2] + "\n" + SHORT[0] + "\n")
    assert proc.stdout.count("\n") == 2 and "warning: line 2:" in proc.stderr and "--max-len-b" in proc.stderr
    assert "warning: line 1" not in proc.stderr


def test_interactive_answers_a_line_before_the_next_is_written(learned_checkpoint):
    proc = subprocess.Popen([sys.executable, "-m", "transformer_lab.translate", str(learned_checkpoint),
                             "--interactive", *SEARCH], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=os.environ.copy())
    try:
        answers = []
        for line in SHORT[:2]:
            proc.stdin.write((line + "\n").encode())
            proc.stdin.flush()  # the pipe stays open: translate cannot wait for the end of the input
            ready, _, _ = select.select([proc.stdout], [], [], 300)
            assert ready, "no answer while the input stayed open"
            answers.append(proc.stdout.readline().decode().rstrip("\n"))
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0 and proc.stdout.read() == b""
    finally:
        proc.kill()
    assert answers == [alone(learned_checkpoint, line) for line in SHORT[:2]]


def test_nbest_prints_ranked_hypotheses_with_descending_scores(learned_checkpoint):
    proc = run_cli("transformer_lab.translate", str(learned_checkpoint), "--nbest", "4", *SEARCH,
                   stdin="\n".join(SHORT) + "\n")
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(n, k) for n in (1, 2, 3) for k in (1, 2, 3, 4)]
    for n in (1, 2, 3):
        scores = [float(r[2]) for r in rows if r[0] == str(n)]
        texts = [r[3] for r in rows if r[0] == str(n)]
        assert scores == sorted(scores, reverse=True)
        assert texts[0] == alone(learned_checkpoint, SHORT[n - 1])  # rank 1 is the 1-best
    scored = run_cli("transformer_lab.translate", str(learned_checkpoint), "--scores", *SEARCH,
                     stdin=SHORT[0] + "\n").stdout
    assert scored == f"{rows[0][2]}\t{rows[0][3]}\n"


def translate_in_process(*args: str, stdin: str = "", monkeypatch, capsys) -> subprocess.CompletedProcess:
    """`translate`'s main(args) in this process, stdin given as text: the exit code, stdout and stderr that
    `python -m transformer_lab.translate` gives (the tests above run that wiring itself), without a process
    start and torch import per call. An exception main lets escape fails the test, as a traceback would."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    capsys.readouterr()
    try:
        code = main(list(args))
    except SystemExit as exit_:  # argparse's parser.error
        code = exit_.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["translate", *args], code, out, err)


def test_bad_input_and_options_get_clear_errors(learned_checkpoint, tmp_path, monkeypatch, capsys):
    run = functools.partial(translate_in_process, monkeypatch=monkeypatch, capsys=capsys)
    proc = run(str(learned_checkpoint), stdin="")
    assert proc.returncode == 1 and "the input (stdin) is empty" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(learned_checkpoint), "--nbest", "5", stdin="a\n")
    assert proc.returncode == 2 and "--nbest 5 needs beam search with --beam-size >= 5" in proc.stderr
    proc = run(str(learned_checkpoint), "--min-len", "-1", stdin="a\n")
    assert proc.returncode == 2 and "min_len must be >= 0" in proc.stderr and "-1" in proc.stderr
    (tmp_path / "notes.txt").write_text("not a checkpoint\n")
    proc = run(str(tmp_path / "notes.txt"), stdin="a\n")
    assert proc.returncode == 2 and "notes.txt" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(str(learned_checkpoint), "--input", str(tmp_path / "missing.txt"))
    assert proc.returncode == 2 and "missing.txt" in proc.stderr and "Traceback" not in proc.stderr


def test_cuda_graphs_are_on_unless_turned_off():
    from transformer_lab.translate import build_parser

    parser = build_parser()
    assert parser.parse_args(["model.ckpt"]).cuda_graphs is True  # used on a GPU only (the module decides)
    assert parser.parse_args(["model.ckpt", "--no-cuda-graphs"]).cuda_graphs is False
