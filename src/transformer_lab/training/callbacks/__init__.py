"""Callbacks a run adds to the Trainer:

    samples           TranslationsCallback (sample translations), AttentionMapsCallback (attention figures)
    attention_plots   the attention heatmaps, one panel per head, with the real subword tokens
    faults            injected faults for the failure tests (kill, NaN, full disk at a chosen step)
    early_stopping    Lightning's EarlyStopping on a dev metric (`early_stopping.*`), keeping the step it stopped at
"""
