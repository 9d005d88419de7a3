"""`python -m transformer_lab.train [overrides]`: train (and test) one Transformer; `-m` sweeps."""

from __future__ import annotations

import warnings

import hydra
from omegaconf import DictConfig

from transformer_lab.config.directory import CONFIG_DIR

# Noise from Lightning's internals on this torch version, not about anything a user can change.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
# Lightning's model summary knows no bits per parameter for "bf16-mixed" and falls back to 32, which is right:
# in mixed precision the parameters are float32. The warning says the size will be wrong; it is not.
warnings.filterwarnings("ignore", message=r"Precision \S+-mixed is not supported by the model summary")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from transformer_lab.training.app import run_training  # heavy imports after Hydra parsed the CLI
    from transformer_lab.training.logging.console import configure_console

    configure_console()
    return run_training(cfg)


if __name__ == "__main__":
    main()
