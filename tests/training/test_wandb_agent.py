"""W&B Sweeps (issue 26): the command line `wandb agent` builds from the shipped sweep YAML runs a trial,
offline. The command is built as the agent builds it (wandb's own `create_sweep_command_args` for
`${args_no_hyphens}`, the agent's macro substitution re-done here), without contacting W&B."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from training_helpers import FAST, REPO, offline_runs, read_wandb_offline_run

SWEEP_YAML = REPO / "conf" / "wandb_sweep" / "table3.yaml"


def _agent_command(sweep: dict, values: dict) -> list[str]:
    """What wandb_agent.Agent._command_run runs for one trial whose parameters take `values`."""
    from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

    macros = create_sweep_command_args({"args": {key: {"value": value} for key, value in values.items()}})
    macros.update(env=["/usr/bin/env"], interpreter=[sys.executable], program=[sweep["program"]])
    command: list[str] = []
    for chunk in map(str, sweep["command"]):
        command += macros.get(chunk[2:-1]) or [] if chunk.startswith("${") and chunk.endswith("}") else [chunk]
    return command


def _smallest(spec: dict):
    """A trial's value: the smallest of the parameter's values (CPU seconds), "null" counting as smallest."""
    return min(spec["values"], key=lambda v: (v != "null", v if isinstance(v, (int, float)) else 0))


def test_the_sweep_yaml_names_existing_keys_and_ends_with_the_agents_arguments():
    sweep = yaml.safe_load(SWEEP_YAML.read_text())
    assert sweep["command"][-1] == "${args_no_hyphens}" and sweep["command"][:2] == ["${env}", "${interpreter}"]
    assert sweep["metric"] == {"name": "best_val_bleu", "goal": "maximize"}
    values = {key: _smallest(spec) for key, spec in sweep["parameters"].items()}
    command = _agent_command(sweep, values)
    assert command[-len(values):] == [f"{key}={value}" for key, value in values.items()]  # no leading dashes
    assert not any(arg.startswith("-") for arg in command[-len(values):])


def test_the_command_wandb_agent_builds_runs_a_trial_offline(tmp_path):
    sweep = yaml.safe_load(SWEEP_YAML.read_text())
    values = {key: _smallest(spec) for key, spec in sweep["parameters"].items()}
    command = _agent_command(sweep, values)
    # the agent's command, then what makes it a CPU-seconds trial (and keeps it out of the repository's outputs/)
    small = [*FAST, "trainer.max_steps=2", "trainer.val_check_interval=2", f"paths.log_dir={tmp_path}"]
    env = {"WANDB_RUN_ID": "trial0001", "WANDB_SWEEP_ID": "localsweep", "WANDB_MODE": "offline"}
    proc = subprocess.run(command[1:] + small, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, **env})  # command[0] is /usr/bin/env itself
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "train" / "wandb_sweep" / "trial0001"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["global_step"] == 2
    (wandb_dir,) = offline_runs(run_dir)
    run = read_wandb_offline_run(wandb_dir)
    assert run["id"] == "trial0001" and run["group"] == "wandb-sweep-table3"  # the agent's run, grouped
    assert run["config"]["model"]["n_heads"] == values["model.n_heads"] and run["config"]["seed"] == values["seed"]
    assert run["config"]["model"]["d_k"] is None  # "null" reached Hydra as null
    assert run["summary"]["best_val_bleu"] == summary["best_val_bleu"]
