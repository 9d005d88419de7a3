"""transformer_lab: train, sweep and reproduce the Transformer of "Attention Is All You Need"."""

from transformer_lab.training.precision import register_resolver

__version__ = "0.1.0"

# Config resolvers, registered before any entry point composes the configuration:
# `${job_run_name:}` names run directories (conf/hydra/default.yaml), so every rank and every requeued attempt
# of a job finds the same directory; `${tlab_cpu_precision:}` picks the CPU precision (conf/trainer/cpu.yaml);
# `${sweep_values:${seeds}}` repeats hparams_search=table3|variants over `seeds=[...]` (transformer_lab/seeds.py).
from transformer_lab.seeds import register_resolvers as _register_sweep_values  # noqa: E402
from transformer_lab.training.cluster import register_run_name_resolver as _register  # noqa: E402

_register()
register_resolver()
_register_sweep_values()
