"""The package's OmegaConf resolvers, registered in one place when `transformer_lab` is imported, before any
entry point composes a configuration.

- `${job_run_name:}` names run directories (conf/hydra/default.yaml): every rank and every requeued attempt
  of a job finds the same directory (`training/runtime/cluster.py`).
- `${tlab_cpu_precision:}` picks the CPU precision (conf/trainer/cpu.yaml; `training/runtime/precision.py`).
- `${sweep_values:${seeds}}` repeats hparams_search=table3|variants over `seeds=[...]` (`config/sweep_values.py`).
"""

from __future__ import annotations

from transformer_lab.config.sweep_values import register_resolvers as register_sweep_values
from transformer_lab.training.runtime.cluster import register_run_name_resolver
from transformer_lab.training.runtime.precision import register_resolver as register_cpu_precision


def register_config_resolvers() -> None:
    """Registers every resolver the configs use (idempotent)."""
    register_run_name_resolver()
    register_cpu_precision()
    register_sweep_values()
