"""transformer_lab: train, sweep and reproduce the Transformer of "Attention Is All You Need"."""

__version__ = "0.1.0"

# `${job_run_name:}` names run directories (conf/hydra/default.yaml): registered before any entry point composes
# the configuration, so every rank and every requeued attempt of a job finds the same directory.
from transformer_lab.training.cluster import register_run_name_resolver as _register  # noqa: E402

_register()
