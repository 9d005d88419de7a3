"""End to end: one short training run on the built-in corpus, then what it leaves behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sacrebleu
import torch
from training_helpers import TINY, offline_runs, read_wandb_offline_run, run_cli

STEPS = 30


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("run") / "toy"
    run_cli("transformer_lab.train", *TINY, f"trainer.max_steps={STEPS}", f"hydra.run.dir={run_dir}",
            "model.d_model=64", "model.d_ff=128", "optim.lr_scale=3.0")
    return run_dir


def _validations(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "val/bleu" in r]


def test_run_directory_holds_every_artifact(trained_run):
    assert (trained_run / ".hydra" / "config.yaml").is_file()
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    assert list((trained_run / "checkpoints").glob("best-*.ckpt"))
    assert len(list((trained_run / "checkpoints" / "periodic").glob("*.ckpt"))) == STEPS // 10
    pngs = list((trained_run / "attention").rglob("*.png"))
    kinds = {p.name.split("_layer")[0].split("_", 1)[1] for p in pngs}
    assert kinds == {"encoder_self", "decoder_self", "cross"}
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == STEPS
    assert "test/bleu" in summary and summary["parameters"]["total"] > 0
    assert len(_validations(trained_run)) == STEPS // 10


def test_every_checkpoint_loads_with_weights_only(trained_run):
    checkpoints = list((trained_run / "checkpoints").rglob("*.ckpt"))
    assert len(checkpoints) >= 4
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        assert "state_dict" in checkpoint and "tokenizer_json" in checkpoint


def test_logged_dev_bleu_is_sacrebleu_over_the_whole_dev_set(trained_run):
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.loading import module_from_checkpoint

    module, _ = module_from_checkpoint(trained_run / "checkpoints" / "last.ckpt")
    datamodule = TranslationDataModule(**module.data_config)
    references = datamodule.split_texts("valid")[1]
    last = _validations(trained_run)[-1]
    hypotheses = (trained_run / "translations" / f"valid_step{last['step']:07d}.hyp.txt").read_text().splitlines()
    assert len(hypotheses) == len(references) == last["val/n_sentences"]
    assert last["val/bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-4)


def test_wandb_offline_run_has_history_and_config(trained_run):
    (wandb_dir,) = offline_runs(trained_run)
    run = read_wandb_offline_run(wandb_dir)
    keys = set().union(*run["history"])
    assert {"train/loss", "val/bleu", "val/loss", "test/bleu"} <= keys
    assert any(k.startswith("lr-") for k in keys)
    assert any(k.startswith("attention/cross/layer0") for k in keys)
    assert any(k.startswith("attn_entropy/encoder_self/layer0/head") for k in keys)
    assert run["config"]["model"]["d_model"] == 64
    assert run["config"]["parameters"]["total"] > 0
    assert run["exit_code"] == 0
    assert run["id"] == (trained_run / "wandb_run_id.txt").read_text().strip()


def test_wandb_summary_holds_the_best_dev_bleu_and_lowest_ppl_with_their_steps(trained_run):
    run = read_wandb_offline_run(offline_runs(trained_run)[0])
    validations = _validations(trained_run)
    best = max(validations, key=lambda r: r["val/bleu"])  # first of equal maxima, as the summary keeps it
    lowest = min(validations, key=lambda r: r["val/ppl"])
    assert run["summary"]["val/bleu"] == {"max": pytest.approx(best["val/bleu"])}
    assert run["summary"]["val/bleu_best_step"] == best["step"]
    assert run["summary"]["val/ppl"] == {"min": pytest.approx(lowest["val/ppl"])}
    assert run["summary"]["val/ppl_best_step"] == lowest["step"]
    assert {"val/chrf", "val/chrf++"} <= set(run["summary"])
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["best_val"]["val/bleu"] == {"value": pytest.approx(best["val/bleu"]), "step": best["step"]}
    assert summary["best_val"]["val/ppl"] == {"value": pytest.approx(lowest["val/ppl"]), "step": lowest["step"]}


def test_wandb_run_carries_row_and_seed_as_config_and_tags(trained_run):
    run = read_wandb_offline_run(offline_runs(trained_run)[0])
    assert run["config"]["seed"] == 1234 and "seed=1234" in run["tags"]
    assert run["config"]["row"][:64] in run["tags"]  # no Table 3 row: the job's own overrides name it
    assert run["config"]["row"].startswith("debug=tiny,")


def test_provenance_is_in_summary_wandb_config_and_every_checkpoint(trained_run):
    import hydra
    import lightning
    import sacrebleu

    import transformer_lab

    expected_versions = {"torch": torch.__version__, "lightning": lightning.__version__,
                         "hydra-core": hydra.__version__, "sacrebleu": sacrebleu.__version__,
                         "transformer_lab": transformer_lab.__version__}
    summary = json.loads((trained_run / "summary.json").read_text())["provenance"]
    config = read_wandb_offline_run(offline_runs(trained_run)[0])["config"]["provenance"]
    checkpoints = [torch.load(p, weights_only=True)["provenance"] for p in (trained_run / "checkpoints").rglob("*.ckpt")]
    for provenance in (summary, config, *checkpoints):
        assert provenance["versions"] == expected_versions
        assert (provenance["device"], provenance["precision"]) == ("cpu", "32-true")
        assert set(provenance["git"]) == {"commit", "dirty"}
    if (Path(transformer_lab.__file__).parents[2] / ".git").exists():  # run from a checkout
        import subprocess

        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(transformer_lab.__file__).parent,
                              capture_output=True, text=True, check=True).stdout.strip()
        assert summary["git"]["commit"] == head and isinstance(summary["git"]["dirty"], bool)


def test_evaluate_reproduces_the_logged_dev_bleu(trained_run, tmp_path):
    best = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    step = torch.load(best, weights_only=True)["global_step"]
    logged = next(r for r in _validations(trained_run) if r["step"] == step)
    run_cli("transformer_lab.evaluate", f"ckpt={best}", "split=valid", f"hydra.run.dir={tmp_path}",
            "trainer.enable_progress_bar=false")
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["n_sentences"] == logged["val/n_sentences"]
    assert result["bleu"] == pytest.approx(logged["val/bleu"], abs=1e-4)
    assert result["chrf++"] == pytest.approx(logged["val/chrf++"], abs=1e-4)  # sacreBLEU CHRF(word_order=2)


def test_translate_round_trips_sentences(trained_run):
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.loading import module_from_checkpoint

    best = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    module, checkpoint = module_from_checkpoint(best)
    sources = TranslationDataModule(**module.data_config).split_texts("valid")[0]
    written = (trained_run / "translations" / f"valid_step{checkpoint['global_step']:07d}.hyp.txt").read_text()
    expected = written.splitlines()[:5]
    search = module.decoding_config.val
    args = ["--max-len-a", str(search.max_len_a), "--max-len-b", str(search.max_len_b)]
    args += ["--greedy"] if search.strategy == "greedy" else ["--beam-size", str(search.beam_size)]
    stdin = "\n".join(sources[:2]) + "\n\n" + "\n".join(sources[2:5]) + "\n"  # an empty line in the middle
    proc = run_cli("transformer_lab.translate", str(best), *args, stdin=stdin)
    lines = proc.stdout.split("\n")[:-1]
    assert lines == expected[:2] + [""] + expected[2:5]


def test_averaged_checkpoint_is_the_mean_and_evaluates_like_any_checkpoint(trained_run, tmp_path):
    averaged = tmp_path / "averaged.ckpt"
    run_cli("transformer_lab.average_checkpoints", str(trained_run), "--last", "2", "-o", str(averaged))
    periodic = sorted((trained_run / "checkpoints" / "periodic").glob("*.ckpt"))[-2:]
    states = [torch.load(p, weights_only=True)["state_dict"] for p in periodic]
    result = torch.load(averaged, weights_only=True)
    for key, value in result["state_dict"].items():
        torch.testing.assert_close(value, (states[0][key] + states[1][key]) / 2)
    assert "optimizer_states" not in result
    run_cli("transformer_lab.evaluate", f"ckpt={averaged}", "split=test", f"hydra.run.dir={tmp_path / 'eval'}",
            "search={strategy: greedy, max_len_b: 10}", "trainer.enable_progress_bar=false")
    evaluation = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert evaluation["n_sentences"] == 800 and evaluation["bleu_signature"].startswith("nrefs:1")


def test_data_parallel_text_trains_on_a_directory_of_plain_text_files(tmp_path):
    from transformer_lab.data.builtin.corpus import BuiltinCorpus  # a convenient source of sentence pairs

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    corpus = BuiltinCorpus(train_size=600, valid_size=20, test_size=20, seed=3)
    for split in ("train", "valid", "test"):
        sources, targets = corpus.read(split)
        (corpus_dir / f"{split}.en").write_text("".join(line + "\n" for line in sources), encoding="utf-8")
        (corpus_dir / f"{split}.de").write_text("".join(line + "\n" for line in targets), encoding="utf-8")
    run_dir = tmp_path / "run"
    run_cli("transformer_lab.train", "data=parallel_text", f"data.dir={corpus_dir}", "data.src_lang=en",
            "data.tgt_lang=de", "data.vocab_size=300", "data.max_tokens=512", "data.num_workers=0",
            "data.pin_memory=false", "model.n_layers=1", "model.d_model=32", "model.d_ff=64", "model.n_heads=2",
            "trainer.max_steps=6", "trainer.val_check_interval=3", "trainer.enable_progress_bar=false",
            "callbacks.periodic_checkpoint.every_n_train_steps=3", "decoding.test.beam_size=2",
            "decoding.val.max_len_b=5", "decoding.test.max_len_b=5", f"hydra.run.dir={run_dir}")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["test/n_sentences"] == 20
    assert summary["last_val"]["val/n_sentences"] == 20


def test_evaluate_on_test_files_scores_like_sacrebleu(trained_run, tmp_path):
    from transformer_lab.data.builtin.corpus import BuiltinCorpus
    from transformer_lab.training.module.metrics import paper_style_bleu

    sources, references = BuiltinCorpus().read("test")  # the toy config's corpus, as files of our own
    (tmp_path / "news.en").write_text("".join(s + "\n" for s in sources[:40]), encoding="utf-8")
    (tmp_path / "news.de").write_text("".join(r + "\n" for r in references[:40]), encoding="utf-8")
    best = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    run_cli("transformer_lab.evaluate", f"ckpt={best}", f"src={tmp_path / 'news.en'}", f"ref={tmp_path / 'news.de'}",
            "search={strategy: greedy, max_len_b: 10, min_len: 4}", f"hydra.run.dir={tmp_path / 'eval'}")
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    hypotheses = (tmp_path / "eval" / "news.en.hyp.txt").read_text(encoding="utf-8").split("\n")[:-1]
    # a 30-step model may well end every sentence at once; min_len makes the scores compare real text
    assert len(hypotheses) == result["n_sentences"] == 40 and all(hypotheses)
    assert result["bleu"] == sacrebleu.corpus_bleu(hypotheses, [references[:40]]).score
    assert result["chrf"] == sacrebleu.corpus_chrf(hypotheses, [references[:40]]).score
    assert result["chrf++"] == sacrebleu.corpus_chrf(hypotheses, [references[:40]], word_order=2).score
    assert result["paper_style_bleu"] == paper_style_bleu(hypotheses, references[:40])
    assert result["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert (result["src"], result["split"]) == (str(tmp_path / "news.en"), None)
