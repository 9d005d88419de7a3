"""What a training job prints when its output goes to a file: each log line once, no warnings a user cannot
act on, plain progress lines (no carriage returns or cursor moves)."""

from __future__ import annotations

import re
from collections import Counter

from training_helpers import run_cli

from transformer_lab.data.builtin.corpus import generate

HYDRA_LOG_LINE = re.compile(r"^\[[\d\- :,]+\]\[([\w.]+)\]\[(\w+)\] - (.*)$")


def test_a_tiny_run_on_a_plain_text_corpus_prints_each_line_once_and_no_noise(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    pairs = generate(1000, seed=0)
    for split, rows in (("train", pairs[:800]), ("valid", pairs[800:900]), ("test", pairs[900:])):
        (corpus / f"{split}.en").write_text("".join(src + "\n" for src, _ in rows), encoding="utf-8")
        (corpus / f"{split}.de").write_text("".join(tgt + "\n" for _, tgt in rows), encoding="utf-8")
    proc = run_cli(
        "transformer_lab.train", "debug=tiny", "data=parallel_text", f"data.dir={corpus}", "data.vocab_size=300",
        "data.max_tokens=512", "data.num_workers=0", "trainer.max_steps=4", "trainer.val_check_interval=2",
        "trainer.log_every_n_steps=2", "test=false", f"hydra.run.dir={tmp_path / 'run'}",
        "trainer.precision=bf16-mixed",  # trainer=cpu's pick on bf16 CPUs, where Lightning's summary warned
        env={"WANDB_SILENT": "false", "WANDB_CONSOLE": "auto"},  # let W&B print what a user would see
    )
    output = proc.stdout + proc.stderr

    messages = [m.group(3) for line in output.splitlines() if (m := HYDRA_LOG_LINE.match(line))]
    assert any("Seed set to" in m for m in messages)
    problems = []
    # Each log line once: Lightning's own console handler no longer doubles Hydra's.
    if re.search(r"^INFO: ", output, flags=re.MULTILINE):
        problems.append("Lightning's own console handler printed")
    problems += [f"printed twice: {m}" for m, n in Counter(messages).items() if n > 1]
    # No warnings a user cannot act on.
    problems += [f"{noise!r} in the output" for noise in ("pin_memory", "anonymous setting", "litlogger", "LeafSpec",
                                                           "not supported by the model summary", "Warning")
                 if noise in output]
    # Progress that reads well in a file: whole lines, counted in updates.
    if "\r" in output or "\x1b[" in output:
        problems.append("carriage returns or cursor moves in the output")
    if not re.search(r"^update 2/4 \| [\d.]+ updates/s \| train/loss=", proc.stdout, flags=re.MULTILINE):
        problems.append("no progress line 'update 2/4 | ... updates/s | train/loss=...'")
    if not re.search(r"^validation at update 2 \| .*val/bleu=", proc.stdout, flags=re.MULTILINE):
        problems.append("no line 'validation at update 2 | ... val/bleu=...'")
    assert not problems, "\n".join(problems) + f"\n--- output ---\n{output}"
