"""`seeds=[1,2,3]`: repeat every configuration of a sweep over seeds.

`hparams_search=table3` and `hparams_search=variants` sweep `seed` over the list `seeds` (default: the one
`seed`) through the `sweep_values` resolver, which turns the list into Hydra's sweep syntax (`1,2,3`).
A list, unlike `seeds=1,2,3`, is one value on the command line, so Hydra does not sweep `seeds` itself.
(`seed=1,2,3` on the command line also works and replaces the sweeper's `seed` parameter.) The package
registers the resolver on import (`transformer_lab/__init__.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import ListConfig, OmegaConf

RESOLVER = "sweep_values"


def sweep_values(values: int | str | Sequence[int | str]) -> str:
    """[1, 2, 3] -> "1,2,3" (a Hydra sweep); a single value stays one value."""
    if isinstance(values, (list, tuple, ListConfig)):
        if not values:
            raise ValueError("seeds=[]: give at least one seed, e.g. seeds=[1,2,3]")
        return ",".join(str(v) for v in values)
    return str(values)


def register_resolvers() -> None:
    """Makes `${sweep_values:...}` available to configs (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, sweep_values)
