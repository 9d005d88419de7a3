"""transformer_lab: train, sweep and reproduce the Transformer of "Attention Is All You Need"."""

__version__ = "0.1.0"

from transformer_lab.resolvers import register_config_resolvers  # noqa: E402

register_config_resolvers()  # before any entry point composes the configuration
