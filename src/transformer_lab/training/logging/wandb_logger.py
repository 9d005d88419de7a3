"""Lightning's WandbLogger without the `anonymous` argument that W&B no longer has.

Lightning 2.6 always hands `anonymous=None` to `wandb.init`; W&B >= 0.23 warns about any value there
("The anonymous setting has no effect and will be removed"), a warning a user cannot act on. This logger
is Lightning's in every other respect (conf/logger/wandb.yaml names it).
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # `_wandb_init` is the kwargs dict Lightning passes to wandb.init; tests/training/test_console.py
        # fails if this stops removing the warning (lightning is pinned <3 in pyproject.toml).
        self._wandb_init.pop("anonymous", None)
