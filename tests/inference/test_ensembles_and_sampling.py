"""Ensembles and sampling through `translate` and `evaluate`: several checkpoints of one vocabulary (refused
when their tokenizers differ or a file is missing), --sampling flags and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from transformer_lab.config.checks import ConfigError
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.decoding.ensemble import Ensemble
from transformer_lab.inference.loading import ensemble_of, modules_from_checkpoints
from transformer_lab.inference.scoring import checkpoint_paths, evaluate_checkpoint
from transformer_lab.inference.translation import LineTranslator
from transformer_lab.translate import main

WORDS = ["the", "old", "man", "sees", "a", "small", "dog", "and", "woman", "reads", "book", "in", "garden"]
LINES = ["the old man sees a dog", "a woman reads", "", "the small dog in garden"]
SEARCH = ["--max-len-a", "0", "--max-len-b", "6", "--device", "cpu"]


def save_checkpoint(tokenizer, path: Path, seed: int, **model) -> Path:
    """A checkpoint as training writes it, random weights (louder cross-attention: outputs vary by line)."""
    from transformer_lab.training.module.lightning_module import TranslationModule
    from transformer_lab.training.module.run_context import RunContext
    from transformer_lab.training.module.settings import ModuleSettings

    torch.manual_seed(seed)
    settings = {"vocab_size": tokenizer.vocab_size, "n_layers": 1, "d_model": 32, "d_ff": 64, "n_heads": 4,
                "dropout": 0.0, "weight_sharing": "none", **model}
    module = TranslationModule(ModuleSettings.from_plain({"model": settings}), RunContext(tokenizer=tokenizer))
    with torch.no_grad():
        for layer in module.model.decoder.layers:
            layer.cross_attn.out.weight.mul_(4.0)
    torch.save({"hyper_parameters": dict(module.hparams), "state_dict": module.state_dict(),
                "tokenizer_json": tokenizer.to_json(), "data_config": None}, path)
    return path


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    """a, b: one tokenizer, different architectures; bigger: a larger vocabulary; swapped: a's vocabulary
    with two pieces' ids exchanged (same size)."""
    from transformer_lab.data.tokenizers.bpe import Tokenizer

    texts = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))] * 3
    tokenizer = Tokenizer.train(texts, vocab_size=400)
    bigger = Tokenizer.train(texts + ["zebra quartz jumping vexed wizard"] * 3, vocab_size=400)
    spec = json.loads(tokenizer.to_json())
    vocab = spec["model"]["vocab"]
    first, second = sorted(vocab, key=vocab.get)[10:12]
    vocab[first], vocab[second] = vocab[second], vocab[first]
    swapped = Tokenizer.from_json(json.dumps(spec))
    d = tmp_path_factory.mktemp("ensemble")
    return {"a": save_checkpoint(tokenizer, d / "a.ckpt", 0),
            "b": save_checkpoint(tokenizer, d / "b.ckpt", 1, n_layers=2, d_model=16, d_ff=32, positional={"name": "rope"}),
            "bigger": save_checkpoint(bigger, d / "bigger.ckpt", 2),
            "swapped": save_checkpoint(swapped, d / "swapped.ckpt", 3)}


def translate(capsys, *args: str, lines=LINES, tmp_path: Path) -> tuple[int, str, str]:
    source = tmp_path / "in.txt"
    source.write_text("".join(line + "\n" for line in lines))
    rc = main([*args, "--input", str(source), *SEARCH])
    out = capsys.readouterr()
    return rc, out.out, out.err


def rows(output: str) -> list[tuple[str, float]]:
    """(text, score) of each 'score<TAB>text' line."""
    return [(line.split("\t", 1)[1], float(line.split("\t", 1)[0])) for line in output.splitlines()]


def test_translate_with_one_checkpoint_given_twice_equals_the_checkpoint(ckpts, capsys, tmp_path):
    for strategy in ([], ["--greedy"]):
        _, alone, _ = translate(capsys, str(ckpts["a"]), "--scores", *strategy, tmp_path=tmp_path)
        _, twice, _ = translate(capsys, str(ckpts["a"]), str(ckpts["a"]), "--scores", *strategy, tmp_path=tmp_path)
        assert [text for text, _ in rows(twice)] == [text for text, _ in rows(alone)]
        for (_, s2), (_, s1) in zip(rows(twice), rows(alone)):
            assert s2 == pytest.approx(s1, abs=2e-4) or s1 == s2 == float("-inf")


def test_translate_with_two_checkpoints_decodes_their_ensemble(ckpts, capsys, tmp_path):
    _, output, _ = translate(capsys, str(ckpts["a"]), str(ckpts["b"]), "--scores", tmp_path=tmp_path)
    modules, _ = modules_from_checkpoints([ckpts["a"], ckpts["b"]])
    search = SearchConfig(max_len_a=0.0, max_len_b=6)
    ensemble = ensemble_of(modules)
    assert isinstance(ensemble, Ensemble) and len(ensemble.models) == 2
    expected = LineTranslator(modules[0], search, ensemble=ensemble).translate(LINES)
    assert [text for text, _ in rows(output)] == [h[0].text if h else "" for h in expected]
    single = LineTranslator(modules[0], search).translate(LINES)
    assert [h[0].score for h in expected if h] != pytest.approx([h[0].score for h in single if h])


@pytest.mark.parametrize("other,differs", [("bigger", "pieces against"), ("swapped", "piece 10 is")],
                         ids=["vocabulary-size", "same-size-other-pieces"])
def test_checkpoints_of_different_vocabularies_are_refused(ckpts, capsys, tmp_path, other, differs):
    rc, out, err = translate(capsys, str(ckpts["a"]), str(ckpts[other]), tmp_path=tmp_path)
    assert rc == 2 and out == ""
    assert err.startswith(f"error: {ckpts[other]} and {ckpts['a']} cannot be ensembled: their tokenizers differ (")
    assert differs in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("where", ["second", "first", "directory"])
def test_a_missing_file_among_several_is_named_before_anything_loads(ckpts, capsys, tmp_path, where):
    missing = tmp_path / "nope.ckpt"
    paths = {"second": [ckpts["a"], missing], "first": [missing, ckpts["a"], ckpts["b"]],
             "directory": [ckpts["a"], ckpts["b"], tmp_path]}[where]
    rc, _, err = translate(capsys, *map(str, paths), tmp_path=tmp_path)
    number = {"second": "2 of 2", "first": "1 of 3", "directory": "3 of 3"}[where]
    what = "is a directory" if where == "directory" else "does not exist"
    assert rc == 2 and err.startswith(f"error: checkpoint {number}, ") and what in err


def test_translate_samples_are_reproducible_and_written_like_nbest(ckpts, capsys, tmp_path):
    args = [str(ckpts["a"]), "--sampling", "--samples", "3", "--seed", "5", "--top-p", "0.9", "--temperature", "1.2"]
    _, first, _ = translate(capsys, *args, tmp_path=tmp_path)
    _, again, _ = translate(capsys, *args, tmp_path=tmp_path)
    assert first == again
    table = [line.split("\t") for line in first.splitlines()]
    assert [(int(n), int(r)) for n, r, *_ in table] == [(n, r) for n in range(1, 5) for r in (1, 2, 3)]
    _, other, _ = translate(capsys, *args[:-6], "--seed", "6", "--top-p", "0.9", "--temperature", "1.2",
                            tmp_path=tmp_path)
    assert other != first


def test_translate_sampling_with_top_k_one_equals_greedy(ckpts, capsys, tmp_path):
    _, greedy, _ = translate(capsys, str(ckpts["a"]), str(ckpts["b"]), "--greedy", "--scores", tmp_path=tmp_path)
    _, top1, _ = translate(capsys, str(ckpts["a"]), str(ckpts["b"]), "--sampling", "--top-k", "1", "--scores",
                           tmp_path=tmp_path)
    assert top1 == greedy


@pytest.mark.parametrize("args,message", [
    (["--samples", "2"], "--samples 2 needs --sampling"),
    (["--samples", "3", "--beam-size", "5"], "--samples 3 needs --sampling"),
    (["--sampling", "--nbest", "2"], "--nbest 2 is for beam search; with --sampling give --samples 2"),
    (["--sampling", "--greedy"], "--sampling and --greedy are two strategies"),
    (["--sampling", "--top-p", "1.5"], r"--top-p must be in (0, 1]"),
    (["--sampling", "--top-p", "0"], r"--top-p must be in (0, 1]"),
    (["--sampling", "--temperature", "0"], "--temperature must be > 0"),
    (["--sampling", "--temperature", "-2"], "--temperature must be > 0"),
    (["--sampling", "--top-k", "-1"], "--top-k must be >= 0"),
    (["--sampling", "--top-k", "-7"], "--top-k must be >= 0"),
    (["--temperature", "0.5"], "only apply to strategy 'sample'"),
])
def test_bad_sampling_flags_are_one_line_errors(ckpts, capsys, tmp_path, args, message):
    with pytest.raises(SystemExit) as exit_info:
        translate(capsys, str(ckpts["a"]), *args, tmp_path=tmp_path)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err.strip().splitlines()[-1]


def test_evaluate_an_ensemble_on_test_files(ckpts, tmp_path):
    (tmp_path / "src.txt").write_text("the old man sees a dog\na woman reads\n")
    (tmp_path / "ref.txt").write_text("der alte mann\neine frau liest\n")
    files = {"make_trainer": None, "src": str(tmp_path / "src.txt"), "ref": str(tmp_path / "ref.txt"), "tgt_lang": "de",
             "search": {"max_len_a": 0.0, "max_len_b": 6}}
    alone = evaluate_checkpoint(str(ckpts["a"]), **files)
    twice = evaluate_checkpoint([str(ckpts["a"]), str(ckpts["a"])], **files)
    assert twice.hypotheses == alone.hypotheses
    assert twice.record["checkpoint"] == [str(ckpts["a"])] * 2 and alone.record["checkpoint"] == str(ckpts["a"])
    pair = evaluate_checkpoint(OmegaConf.create([str(ckpts["a"]), str(ckpts["b"])]), **files)
    modules, _ = modules_from_checkpoints([ckpts["a"], ckpts["b"]])
    expected = LineTranslator(modules[0], SearchConfig(max_len_a=0.0, max_len_b=6),
                              ensemble=ensemble_of(modules)).translate(["the old man sees a dog", "a woman reads"])
    assert pair.hypotheses == [h[0].text for h in expected]


@pytest.mark.parametrize("ckpt,message", [([], r"ckpt=\[\] names no checkpoint"),
                                          (OmegaConf.create([]), r"ckpt=\[\] names no checkpoint"),
                                          (["a.ckpt", 3], "3 is not a path"),
                                          (OmegaConf.create(["a.ckpt", {"x": 1}]), "is not a path")])
def test_evaluate_refuses_an_empty_or_odd_checkpoint_list(ckpt, message):
    with pytest.raises(ConfigError, match=message):
        checkpoint_paths(ckpt)


@pytest.mark.parametrize("search", [{"strategy": "sample", "samples": 2}, {"strategy": "sample", "samples": 5}])
def test_evaluate_scores_one_sample_per_sentence(ckpts, search):
    with pytest.raises(ConfigError, match=f"search.samples={search['samples']}: evaluate scores one translation"):
        evaluate_checkpoint(str(ckpts["a"]), make_trainer=None, src="x", ref="y", search=search)


@pytest.mark.slow
def test_evaluate_command_line_takes_a_hydra_list_of_checkpoints(ckpts, tmp_path):
    (tmp_path / "src.txt").write_text("the old man sees a dog\n")
    (tmp_path / "ref.txt").write_text("der alte mann\n")
    proc = subprocess.run(
        [sys.executable, "-m", "transformer_lab.evaluate", f"ckpt=[{ckpts['a']},{ckpts['b']}]",
         f"src={tmp_path / 'src.txt'}", f"ref={tmp_path / 'ref.txt'}", "tgt_lang=de", "+search.max_len_a=0.0",
         "+search.max_len_b=6", f"output={tmp_path / 'eval.json'}", f"hydra.run.dir={tmp_path / 'run'}"],
        check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["checkpoint"] == [str(ckpts["a"]), str(ckpts["b"])]
    missing = subprocess.run(
        [sys.executable, "-m", "transformer_lab.evaluate", f"ckpt=[{ckpts['a']},{tmp_path / 'gone.ckpt'}]",
         f"src={tmp_path / 'src.txt'}", f"ref={tmp_path / 'ref.txt'}", f"hydra.run.dir={tmp_path / 'run2'}"],
        check=False, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "error: checkpoint 2 of 2" in missing.stderr
    assert "Traceback" not in missing.stderr
