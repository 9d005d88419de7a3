"""The CTranslate2 export: CTranslate2's own scoring and beam search against ours."""

from __future__ import annotations

import pytest
import sacrebleu
import torch
from export_helpers import random_checkpoint, run_cli
from tokenizers import Tokenizer

pytest.importorskip("ctranslate2")
pytest.importorskip("transformers")

from transformer_lab.export import CT2Translator  # noqa: E402
from transformer_lab.inference.loading import module_from_checkpoint  # noqa: E402
from transformer_lab.inference.translation import translate_lines  # noqa: E402
from transformer_lab.special_tokens import BOS_ID, EOS_ID  # noqa: E402


def test_ct2_scores_every_target_token_like_our_model(tiny_checkpoint, tmp_path):
    """Forced decoding: CTranslate2's per-token log-probabilities equal ours (float32), so the converted model
    starts from bos and keeps every vocabulary row (the two corrections to CTranslate2's Marian loader)."""
    import ctranslate2

    checkpoint = random_checkpoint(tiny_checkpoint, tmp_path / "random.ckpt")
    run_cli("transformer_lab.export", str(checkpoint), "--to", "ct2", str(tmp_path / "ct2"))
    assert {"model.bin", "tokenizer.json", "config.json"} <= {p.name for p in (tmp_path / "ct2").iterdir()}
    module, _ = module_from_checkpoint(checkpoint)
    tokenizer, model = module.tokenizer, module.model
    last_piece = tokenizer.vocab_size - 1  # the row CTranslate2's loader would drop
    sources = [tokenizer.encode("The old man sees a small dog.") + [EOS_ID], tokenizer.encode("A woman.") + [EOS_ID]]
    targets = [tokenizer.encode("Der alte Mann") + [last_piece, 7, EOS_ID], [last_piece, 9, EOS_ID]]
    translator = ctranslate2.Translator(str(tmp_path / "ct2"), device="cpu")
    vocabulary = Tokenizer.from_file(str(tmp_path / "ct2" / "tokenizer.json"))
    results = translator.score_batch(  # CTranslate2 scores the target tokens followed by its own eos
        [[vocabulary.id_to_token(i) for i in ids] for ids in sources],
        [[vocabulary.id_to_token(i) for i in ids[:-1]] for ids in targets])
    for src, tgt, result in zip(sources, targets, results):
        with torch.no_grad():
            logp = model(torch.tensor([src]), torch.tensor([[BOS_ID] + tgt[:-1]])).log_softmax(-1)[0]
        ours = logp[torch.arange(len(tgt)), torch.tensor(tgt)]
        torch.testing.assert_close(torch.tensor(result.log_probs), ours, rtol=0.0, atol=2e-4)


def test_ct2_refuses_an_unknown_quantization(tiny_checkpoint, tmp_path):
    proc = run_cli("transformer_lab.export", str(tiny_checkpoint), "--to", "ct2", str(tmp_path / "o"),
                   "--quantization", "int4", check=False)
    assert proc.returncode == 2 and "invalid choice: 'int4'" in proc.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_ct2_beam_translations_of_the_dev_split_match_ours(real_checkpoint, tmp_path):
    """Beam 4 on the dev split: CTranslate2 in float32 is identical to ours for >= 95% of sentences, and int8
    quantization moves its BLEU by at most 1 point against its own float32 (the quantization alone: the few
    sentences where the two searches differ are degenerate repetitions up to the length limit, and swing the
    toy dev BLEU by over a point on their own)."""
    from transformer_lab.data.datamodule import TranslationDataModule

    module, _ = module_from_checkpoint(real_checkpoint)
    sources, references = TranslationDataModule(**module.data_config).split_texts("valid")
    search = module.decoding_config.test
    ours = translate_lines(module, sources, search)
    assert sacrebleu.corpus_bleu(ours, [references]).score > 10  # real sentences
    kwargs = dict(beam_size=search.beam_size, alpha=search.alpha, max_len_a=search.max_len_a,
                  max_len_b=search.max_len_b)
    run_cli("transformer_lab.export", str(real_checkpoint), "--to", "ct2", str(tmp_path / "fp32"))
    fp32 = CT2Translator(tmp_path / "fp32").translate(sources, **kwargs)
    identical = sum(a == b for a, b in zip(ours, fp32)) / len(sources)
    assert identical >= 0.95, identical
    run_cli("transformer_lab.export", str(real_checkpoint), "--to", "ct2", str(tmp_path / "int8"),
            "--quantization", "int8")
    int8 = CT2Translator(tmp_path / "int8").translate(sources, **kwargs)
    fp32_bleu = sacrebleu.corpus_bleu(fp32, [references]).score
    assert abs(sacrebleu.corpus_bleu(int8, [references]).score - fp32_bleu) <= 1.0
