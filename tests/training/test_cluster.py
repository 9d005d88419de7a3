"""Which launcher started this process: Lightning's cluster environment, the run directory's name, and
whether Lightning would start ranks by re-running the command (environments set by the tests)."""

from __future__ import annotations

import signal

import pytest
from lightning.pytorch.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from omegaconf import OmegaConf

from transformer_lab.training.runtime.cluster import (
    detect_cluster_environment,
    job_run_name,
    spawns_ranks_by_rerunning_command,
)

LAUNCHER_VARIABLES = ["SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_NTASKS", "SLURM_JOB_NAME",
                      "SLURM_NTASKS_PER_NODE", "TORCHELASTIC_RUN_ID", "RANK", "GROUP_RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "WORLD_SIZE"]
SLURM = {"SLURM_JOB_ID": "4242", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_JOB_NAME": "train"}
TORCHRUN = {"TORCHELASTIC_RUN_ID": "abc-123", "RANK": "0", "GROUP_RANK": "0", "LOCAL_RANK": "0",
            "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "2"}
DDP = OmegaConf.create({"_target_": "lightning.pytorch.strategies.DDPStrategy", "process_group_backend": "gloo"})


@pytest.fixture
def environment(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    def set_variables(variables: dict[str, str]) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)

    return set_variables


def test_a_plain_node_gets_no_cluster_environment_and_a_time_stamped_directory(environment):
    assert detect_cluster_environment() is None  # Lightning starts the ranks itself
    assert job_run_name("%Y")[:2] == "20"


def test_slurm_is_joined_with_requeue_and_named_by_job_id(environment):
    environment(SLURM)
    cluster = detect_cluster_environment(auto_requeue=True, requeue_signal="SIGUSR1")
    assert isinstance(cluster, SLURMEnvironment)
    assert cluster.auto_requeue and cluster.requeue_signal == signal.SIGUSR1
    assert not detect_cluster_environment(auto_requeue=False).auto_requeue
    assert job_run_name() == "slurm-4242"
    environment({"SLURM_ARRAY_JOB_ID": "4240", "SLURM_ARRAY_TASK_ID": "3"})
    assert job_run_name() == "slurm-4240_3"


def test_an_interactive_slurm_shell_is_not_a_slurm_launch(environment):
    environment({**SLURM, "SLURM_JOB_NAME": "bash"})  # `srun --pty bash`: Lightning's convention
    assert detect_cluster_environment() is None


def test_torchrun_is_joined_and_named_by_its_rendezvous_id(environment):
    environment(TORCHRUN)
    assert isinstance(detect_cluster_environment(), TorchElasticEnvironment)
    assert job_run_name() == "torchrun-abc-123"
    environment({**SLURM})  # torchrun inside a SLURM allocation: torchrun started the ranks
    assert isinstance(detect_cluster_environment(), TorchElasticEnvironment)
    assert job_run_name() == "slurm-4242"  # the job id: kept by a requeue, unlike a rendezvous id


def test_an_unknown_requeue_signal_is_refused_by_name(environment):
    with pytest.raises(ValueError, match="requeue_signal='SIGUSR3' is not a signal name.*SIGUSR1"):
        detect_cluster_environment(requeue_signal="SIGUSR3")


def test_only_lightnings_own_launch_reruns_the_command(environment):
    assert spawns_ranks_by_rerunning_command(DDP, 2)
    assert spawns_ranks_by_rerunning_command(DDP, -1)
    assert spawns_ranks_by_rerunning_command("ddp", 4) and spawns_ranks_by_rerunning_command("auto", 2)
    assert not spawns_ranks_by_rerunning_command(DDP, 1)
    assert not spawns_ranks_by_rerunning_command({**DDP, "start_method": "spawn"}, 2)
    assert not spawns_ranks_by_rerunning_command("ddp_spawn", 2)
    environment({"LOCAL_RANK": "1"})  # a rank Lightning itself started
    assert not spawns_ranks_by_rerunning_command(DDP, 2)


@pytest.mark.parametrize("launcher", [SLURM, TORCHRUN])
def test_ranks_started_by_a_launcher_rerun_nothing(environment, launcher):
    environment(launcher)
    assert not spawns_ranks_by_rerunning_command(DDP, 2)
