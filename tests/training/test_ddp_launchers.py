"""`trainer=ddp` on every launcher, on CPU with gloo: Lightning's own process launch (a plain node), torchrun,
and SLURM (its environment simulated by the test), including a requeue that resumes where it stopped."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from training_helpers import REPO, TINY, offline_runs, read_wandb_offline_run, run_cli

# trainer=ddp itself, with the accelerator and backend swapped for what this machine has.
DDP_ON_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true",
              "trainer.strategy.process_group_backend=gloo"]
STEPS = 8
COMMON = [*TINY, *DDP_ON_CPU, "test=false", f"trainer.max_steps={STEPS}", f"trainer.val_check_interval={STEPS}",
          "trainer.log_every_n_steps=1", "model.dropout=0.1", "callbacks.attention_maps.n_sentences=1"]


def run_dirs(log_dir: Path) -> list[Path]:
    return sorted(p for p in log_dir.glob("train/*/*") if p.is_dir())


def train_records(run_dir: Path) -> list[dict]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "train/loss" in r]


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def plain_node_run(tmp_path_factory) -> Path:
    """Lightning starts rank 1 itself by re-running the command (no launcher variables)."""
    log_dir = tmp_path_factory.mktemp("plain")
    run_cli("transformer_lab.train", *COMMON, f"paths.log_dir={log_dir}", timeout=400)
    (run_dir,) = run_dirs(log_dir)  # rank 1 wrote to rank 0's directory, not one of its own
    return run_dir


def test_ddp_runs_on_a_plain_node_in_one_directory(plain_node_run):
    assert plain_node_run.name[:4].isdigit()  # <date>_<time>, computed once by rank 0
    assert [r["step"] for r in train_records(plain_node_run)] == list(range(1, STEPS + 1))
    checkpoint = torch.load(plain_node_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == STEPS
    states = checkpoint["rng_states_per_rank"]  # each rank's generators, gathered
    assert len(states) == 2 and not torch.equal(states[0]["torch"], states[1]["torch"])
    assert json.loads((plain_node_run / "summary.json").read_text())["status"] == "completed"
    # the attention figures, drawn in turns by the two ranks: 3 kinds x 1 layer x 1 sentence
    assert len(list((plain_node_run / "attention").rglob("*.png"))) == 3
    assert len(offline_runs(plain_node_run)) == 1


def test_two_process_ddp_cpu_run_scores_exactly_the_dev_set(plain_node_run):
    from transformer_lab.data.datamodule import TranslationDataModule
    from transformer_lab.inference.loading import module_from_checkpoint

    records = [json.loads(line) for line in (plain_node_run / "metrics.jsonl").read_text().splitlines()]
    validation = [r for r in records if "val/bleu" in r][-1]
    module, _ = module_from_checkpoint(plain_node_run / "checkpoints" / "last.ckpt")
    references = TranslationDataModule(**module.data_config).split_texts("valid")[1]
    hypotheses = (plain_node_run / "translations" / f"valid_step{validation['step']:07d}.hyp.txt").read_text().splitlines()
    # Every dev sentence exactly once across the two ranks (no DistributedSampler padding).
    assert validation["val/n_sentences"] == len(references) == len(hypotheses)
    import sacrebleu

    assert validation["val/bleu"] == pytest.approx(sacrebleu.corpus_bleu(hypotheses, [references]).score, abs=1e-4)
    assert len(offline_runs(plain_node_run)) == 1  # rank 0 only


def test_ddp_under_torchrun_joins_its_ranks_in_one_directory(tmp_path):
    proc = run_cli("torch.distributed.run", "--nproc_per_node", "2", "--standalone", "-m", "transformer_lab.train",
                   *COMMON, "trainer.max_steps=3", "trainer.val_check_interval=3", f"paths.log_dir={tmp_path}",
                   timeout=400)
    (run_dir,) = run_dirs(tmp_path)
    assert run_dir.name.startswith("torchrun-")  # torchrun's rendezvous id: the same for every rank
    assert "cluster environment: torchrun" in proc.stdout + proc.stderr
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 3 and len(checkpoint["rng_states_per_rank"]) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _slurm_tasks(args: list[str], tmp_path: Path, attempt: int) -> list[subprocess.CompletedProcess]:
    """Starts the command as 2 SLURM tasks of job 4242 (what srun does), with a stand-in `scontrol` that
    records its arguments, and waits for both."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "scontrol.log"}\n')
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IXUSR)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
               "SLURM_JOB_NAME": "train", "SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "1",
               "SLURM_NODEID": "0", "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank),
               "SLURM_NODELIST": "localhost", "SLURM_RESTART_COUNT": str(attempt), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "transformer_lab.train", *args], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=400)
        finally:
            proc.kill()
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


def test_slurm_requeue_lands_in_the_same_directory_and_resumes_the_same_run(tmp_path, plain_node_run):
    args = [*COMMON, f"paths.log_dir={tmp_path / 'outputs'}"]
    preempt = ["+callbacks.preempt._target_=transformer_lab.training.callbacks.faults.SignalsAtStep",
               "+callbacks.preempt.step=4", "+callbacks.preempt.signals=[SIGUSR1,SIGTERM]"]
    first = _slurm_tasks([*args, *preempt], tmp_path, attempt=0)
    assert [p.returncode for p in first] == [143, 143], first[0].stderr[-3000:] + first[1].stderr[-3000:]
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "4242"]  # rank 0 requeued the job
    (run_dir,) = run_dirs(tmp_path / "outputs")
    assert run_dir.name == "slurm-4242"
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 4 <= saved < STEPS
    (first_wandb,) = offline_runs(run_dir)
    first_id = read_wandb_offline_run(first_wandb)["id"]

    requeued = _slurm_tasks(args, tmp_path, attempt=1)  # the same command, as SLURM reruns it
    assert [p.returncode for p in requeued] == [0, 0], requeued[0].stderr[-3000:] + requeued[1].stderr[-3000:]
    assert run_dirs(tmp_path / "outputs") == [run_dir]
    output = requeued[0].stdout + requeued[0].stderr
    assert f"resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in output
    assert [r["step"] for r in train_records(run_dir)] == list(range(1, STEPS + 1))  # no step twice
    assert {read_wandb_offline_run(d)["id"] for d in offline_runs(run_dir)} == {first_id}
    # ... and the 2-process run interrupted mid-epoch and resumed ends with the uninterrupted run's weights.
    resumed, straight = weights(run_dir), weights(plain_node_run)
    assert resumed.keys() == straight.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=1e-5, atol=1e-6, msg=key)
