"""Who started this process, and what that means for DDP and the run directory.

Three ways to run `trainer=ddp`, told apart by the launcher's own environment variables:
  - a plain node: Lightning starts ranks 1..n-1 itself by re-running the command (each child gets
    `hydra.run.dir=<rank 0's directory>`, `LOCAL_RANK`, ...);
  - torchrun (`TORCHELASTIC_RUN_ID`, `RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR`...): every rank is
    started by torchrun and joined by Lightning's `TorchElasticEnvironment`;
  - SLURM with one task per rank (sbatch/srun, `hydra/launcher=slurm`; `SLURM_NTASKS`, `SLURM_PROCID`...):
    joined by Lightning's `SLURMEnvironment`, which also requeues the job on the requeue signal.
Torchrun is checked first: torchrun inside a SLURM allocation (one task per node) starts the ranks itself.

`job_run_name` names the run directory so that every rank and every requeued attempt of one job agree on
it without talking to each other: from the SLURM job id (kept by `scontrol requeue`), else torchrun's
rendezvous id, else the start time (computed once by rank 0; Lightning hands it to the ranks it starts).
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

TIME_FORMAT = "%Y-%m-%d_%H-%M-%S"

# A job preempted by SIGTERM (what SLURM and most schedulers send first) saves last.ckpt, finishes its W&B
# run and exits with this status: 128 + SIGTERM, what shells report for a process ended by SIGTERM.
PREEMPTED_EXIT_CODE = 128 + signal.SIGTERM


def job_run_name(time_format: str = TIME_FORMAT) -> str:
    """The last component of the run directory, the same for every rank and attempt of one job."""
    array_job, array_task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and array_task:
        return f"slurm-{array_job}_{array_task}"
    if os.environ.get("SLURM_JOB_ID"):
        return f"slurm-{os.environ['SLURM_JOB_ID']}"
    torchrun_id = os.environ.get("TORCHELASTIC_RUN_ID", "")
    if torchrun_id and torchrun_id != "none":  # "none": a static multi-node rendezvous without --rdzv-id
        return f"torchrun-{torchrun_id}"
    return datetime.now().strftime(time_format)


def register_run_name_resolver() -> None:
    """`${job_run_name:}` in the Hydra config (conf/hydra/default.yaml); cached like Hydra's own `now`."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("job_run_name"):
        OmegaConf.register_new_resolver("job_run_name", job_run_name, use_cache=True)


def started_by_torchrun() -> bool:
    from lightning.pytorch.plugins.environments import TorchElasticEnvironment

    return TorchElasticEnvironment.detect()


def started_by_slurm() -> bool:
    """One SLURM task per rank (not an interactive `srun --pty bash`, which Lightning ignores too)."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect()


def detect_cluster_environment(auto_requeue: bool = True, requeue_signal: str = "SIGUSR1") -> Any:
    """The Lightning cluster environment for the launcher that started this process, or None when no
    launcher did (Lightning then starts the ranks itself, or detects Kubeflow/LSF on its own).

    Used as a trainer plugin (conf/trainer/ddp.yaml). `auto_requeue`: under SLURM, requeue the job when
    `requeue_signal` arrives (`sbatch --signal=SIGUSR1@90`); the requeued job lands in the same run
    directory and resumes from its last.ckpt (`ckpt_path=auto`).
    """
    from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if requeue_signal not in signal.Signals.__members__:
        raise ValueError(
            f"trainer.plugins: requeue_signal={requeue_signal!r} is not a signal name; use the name sbatch "
            "--signal sends, e.g. SIGUSR1 (conf/trainer/ddp.yaml)"
        )
    if started_by_torchrun():
        log.info("cluster environment: torchrun (TorchElasticEnvironment)")
        return TorchElasticEnvironment()
    if started_by_slurm():
        log.info("cluster environment: SLURM (SLURMEnvironment, auto_requeue=%s)", auto_requeue)
        return SLURMEnvironment(auto_requeue=auto_requeue, requeue_signal=signal.Signals[requeue_signal])
    return None


def spawns_ranks_by_rerunning_command(strategy: Any, devices: Any) -> bool:
    """Whether Lightning would start the other ranks by re-running this command line (its subprocess
    launcher): a parallel strategy with the "popen" start method, more than one device, and no launcher
    (torchrun, SLURM, or a parent Lightning process) that already started every rank."""
    from hydra.utils import get_class
    from lightning.pytorch.plugins.environments import LightningEnvironment
    from lightning.pytorch.strategies import ParallelStrategy, StrategyRegistry
    from omegaconf import DictConfig

    if devices in (1, "1"):
        return False
    if started_by_torchrun() or started_by_slurm() or LightningEnvironment().creates_processes_externally:
        return False
    if isinstance(strategy, (DictConfig, dict)):
        strategy_class, start_method = get_class(strategy["_target_"]), strategy.get("start_method", "popen")
    elif strategy in (None, "auto"):
        return True  # Lightning picks "ddp" (popen) for more than one device
    elif isinstance(strategy, str):
        if strategy not in StrategyRegistry:
            return False  # Lightning itself rejects unknown names, with the list of known ones
        entry = StrategyRegistry[strategy]
        strategy_class, start_method = entry["strategy"], entry["init_params"].get("start_method", "popen")
    else:  # a strategy object (Python callers; a config gives a name or a mapping): its start method is not
        # public, so a parallel strategy object counts as one that re-runs the command (the cautious answer)
        strategy_class, start_method = type(strategy), "popen"
    return issubclass(strategy_class, ParallelStrategy) and start_method == "popen"
