"""Training: the job, the LightningModule, and what a run records, logs and runs beside it.

    app             run_training(cfg): the job from a composed config to the test split's metrics
    preflight       every check of a job's config before anything starts (the sweeper runs it per job)
    trainer_setup   the Trainer: loggers, callbacks, cluster plugin, atomic checkpoints, cadence
    cadence         validation and checkpoint cadence counted in updates
    init_from       init_from=CKPT: weights and tokenizer of a trained model, architecture/vocabulary checks
    module/         the LightningModule and what only it uses
    records/        summary.json, the metrics file, provenance, the validation a resumed run owes
    callbacks/      sample translations, attention figures, injected faults
    logging/        W&B, CSV/TensorBoard, console, the run's first and last lines
    runtime/        cluster environments and run names, CPU precision, the run-directory lock

This package file and its rooms' imports nothing (the sweeper imports `preflight` without Lightning).
"""
