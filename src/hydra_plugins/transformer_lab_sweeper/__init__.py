"""Hydra sweeper plugin: the basic sweeper, validating every job's configuration before launching any.

Hydra only loads sweepers from the `hydra_plugins` namespace package; the checks live in
`transformer_lab.training.preflight` (no Lightning import).
"""

from __future__ import annotations

import logging

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import open_dict

log = logging.getLogger(__name__)


class ValidatingSweeper(BasicSweeper):
    """Hydra's basic sweeper that also runs each job's own pre-flight checks on every job before launching."""

    def validate_batch_is_legal(self, batch) -> None:
        super().validate_batch_is_legal(batch)  # Hydra's own check: every job composes
        from transformer_lab.training.preflight import SweepConfigError, check_job_config

        assert self.hydra_context is not None and self.config is not None
        local_launcher = str(self.config.hydra.launcher.get("_target_", "")).endswith("BasicLauncher")
        errors = []
        for overrides in batch:
            try:
                job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
                with open_dict(job_cfg):
                    del job_cfg["hydra"]  # job checks never need Hydra's runtime settings
                # multirun + DDP is refused under the local launcher only: SLURM/submitit start every rank themselves
                check_job_config(job_cfg, multirun=local_launcher)
            except Exception as error:  # noqa: BLE001 - report every bad job, then stop
                errors.append(f"job ({' '.join(overrides)}): {error}")
        if errors:
            raise SweepConfigError(
                f"{len(errors)} of {len(batch)} sweep jobs have invalid configurations; no job was started:\n  "
                + "\n  ".join(errors)
            )
        log.info("validated the configurations of all %d sweep jobs", len(batch))
