"""Where a run runs:

    cluster     SLURM/torchelastic environments, run directory names shared by ranks and requeues
    precision   the CPU precision (bf16-mixed where the CPU has native bf16, else 32)
"""
