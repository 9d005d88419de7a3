"""The LightningModule and what only it uses:

    lightning_module   TranslationModule: training/validation/test steps, BLEU, search, checkpoint hooks
    settings           ModuleSettings and its sections (optim, loss, decoding, nonfinite, compile)
    run_context        RunContext: what the run gives the module (tokenizer, split texts, data settings)
    loss               label-smoothed cross-entropy (§5.4)
    schedule           the paper's learning-rate schedule (§5.3)
    metrics            corpus BLEU / chrF from sufficient statistics summed across ranks
    tokenized_bleu     the tokenized BLEU as in the paper: Moses tokenization, ##AT## for German, multi-bleu
    nonfinite          what a NaN/inf loss or gradient does (skip, stop, off)
    compiled_step      the torch.compile'd forward + loss of a training step
    rng                the random streams saved in checkpoints and restored on resume
"""
