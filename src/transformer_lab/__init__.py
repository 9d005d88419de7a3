"""transformer_lab: train, sweep and reproduce the Transformer of "Attention Is All You Need"."""

from transformer_lab.training.precision import register_resolver

__version__ = "0.1.0"

register_resolver()  # ${tlab_cpu_precision:} in conf/trainer/cpu.yaml
