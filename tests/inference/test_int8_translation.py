"""int8 decoding of a trained model translates like float32: the built-in corpus's dev and test splits, beam 4."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sacrebleu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training"))  # the CLI helpers
from training_helpers import run_cli  # noqa: E402


def degenerate(hypothesis: str, reference: str) -> bool:
    """A repetition loop run on towards the length limit (half as long again as the reference, and more)."""
    return len(hypothesis.split()) > 1.5 * len(reference.split()) + 3


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory) -> Path:
    """The default job's model (experiment=toy) without its test pass: minutes of a 2-core CPU."""
    run_dir = tmp_path_factory.mktemp("toy_run")
    run_cli("transformer_lab.train", "experiment=toy", "logger=none", "test=false", "trainer.max_time=00:01:00:00",
            "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", env={"OMP_NUM_THREADS": "1"},
            timeout=3600)
    return run_dir / "checkpoints" / "last.ckpt"


def check_int8_translates_like_fp32(checkpoint: Path, split: str) -> dict[str, float]:
    """Beam search over the split in float32 and int8: most hypotheses identical, and BLEU within 0.3 on the
    sentences where neither side ran into a repetition loop. On the whole split the loops int8 enters or
    escapes move BLEU by more than 0.3 either way (docs/PERFORMANCE.md), so it is only bounded loosely."""
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.int8 import int8_copy
    from transformer_lab.inference.loading import module_from_checkpoint
    from transformer_lab.inference.translation import translate_lines

    module, _ = module_from_checkpoint(checkpoint)
    datamodule = TranslationDataModule(**module.data_config)
    datamodule.prepare_data()
    sources, references = datamodule.split_texts(split)
    search = module.decoding_config.test
    fp32 = translate_lines(module, sources, search)
    int8 = translate_lines(int8_copy(module), sources, search)

    def bleu(hyps: list[str], keep: list[int]) -> float:
        return sacrebleu.corpus_bleu([hyps[i] for i in keep], [[references[i] for i in keep]]).score

    everything = list(range(len(sources)))
    clean = [i for i in everything if not degenerate(fp32[i], references[i]) and not degenerate(int8[i], references[i])]
    result = {"identical": sum(a == b for a, b in zip(fp32, int8)) / len(sources), "fp32": bleu(fp32, everything),
              "int8": bleu(int8, everything), "fp32_clean": bleu(fp32, clean), "int8_clean": bleu(int8, clean),
              "clean_fraction": len(clean) / len(sources)}
    assert result["fp32"] > 30, result  # real sentences
    assert result["identical"] >= 0.85, result
    assert result["clean_fraction"] >= 0.9, result
    assert abs(result["int8_clean"] - result["fp32_clean"]) <= 0.3, result
    # the whole split moves with the repetition loops, either way: +0.78 (test) and +2.39 (dev) on one toy
    # checkpoint, -0.37 (test) on the one this fixture trained (2-core AMD EPYC); the 0.3 bar holds above only
    assert abs(result["int8"] - result["fp32"]) <= 3.0, result
    return result


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the module fixture trains the default job first (its time counts here)
@pytest.mark.parametrize("split", ["valid", "test"])
def test_int8_beam_translations_match_fp32(trained_checkpoint, split):
    check_int8_translates_like_fp32(trained_checkpoint, split)
