"""Where a run runs:

    cluster     SLURM/torchelastic environments, run directory names shared by ranks and requeues
    precision   the CPU precision (bf16-mixed where the CPU has native bf16, else 32)
    run_lock    one job per run directory at a time: an exclusive flock on <run dir>/.lock
"""
