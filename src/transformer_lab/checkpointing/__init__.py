"""Everything about checkpoints and the run directory they live in, one concept per module:

    layout             RunLayout: the run directory's files (the one place that names them, last.ckpt included)
    errors             CheckpointError and its kinds; CheckpointWriteError ("No space left ... while writing")
    file_kind          what a file is from its first bytes (zip, legacy torch, text, JSON, gzip, empty, directory),
                       decided before torch reads it
    reading            load_checkpoint_file: the one reader (weights_only=True, errors naming the file)
    writing            AtomicCheckpointIO (temporary file + rename), ensure_writable_directory
    policy             ResumeCheckpoint (last.ckpt: cadence, end, SIGTERM), best_checkpoint_path
    resume             resolve_ckpt_path (auto|last|path|null), check_resume_compatible, the way on
    averaging          RunningAverage, average_last_checkpoints (the CLI: transformer_lab.average_checkpoints)

Import from the module that defines a name (`from transformer_lab.checkpointing.layout import RunLayout`):
this package file imports nothing, so `layout` stays free of torch and Lightning for the report. The package
sits one floor below training and imports only `config`, `model` and itself: building a module from a
checkpoint is `inference/loading.py`, and the validation a resumed run owes is
`training/records/resume_validation.py`.
"""
