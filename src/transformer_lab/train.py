"""`python -m transformer_lab.train [overrides]`: train (and test) one Transformer; `-m` sweeps."""

from __future__ import annotations

import warnings

import hydra
from omegaconf import DictConfig

from transformer_lab.config_dir import CONFIG_DIR

# Noise from Lightning's internals on this torch version, not about anything a user can change.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from transformer_lab.training.app import run_training  # heavy imports after Hydra parsed the CLI
    from transformer_lab.training.console import configure_console

    configure_console()
    return run_training(cfg)


if __name__ == "__main__":
    main()
