"""Where a run's numbers and messages go:

    loggers        build_loggers: W&B, CSV, TensorBoard from the `logger` group; run names and tags
    wandb_setup    W&B offline/online decision and its environment, without leaking into later jobs
    wandb_logger   the WandbLogger the `logger=wandb` config instantiates
    console        the console's progress bar and rich output
    run_messages   the run's first and last lines (where it writes, what it scored, how to sync)
"""
