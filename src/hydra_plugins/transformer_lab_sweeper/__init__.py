"""Hydra sweeper plugin: the basic sweeper, validating every job's configuration before launching any, and
resuming a sweep re-launched in the same sweep directory.

Re-running a multirun command with the same `hydra.sweep.dir` skips the jobs whose run directory says they
completed (their files untouched), resumes the interrupted ones from their last.ckpt (`ckpt_path=auto`) and
runs the failed ones again; a table (job, overrides, what was found, the action) is printed before the
launch and again, with each job's status, after it. Job numbers, and so run directories, stay those of the
first launch: the jobs to run are launched in blocks of consecutive numbers.

Hydra only loads sweepers from the `hydra_plugins` namespace package; the checks live in
`transformer_lab.training.preflight` and the per-job decision in `transformer_lab.training.records.sweep_status`
(neither imports Lightning).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)


class ValidatingSweeper(BasicSweeper):
    """Hydra's basic sweeper that also runs each job's own pre-flight checks on every job before launching,
    and skips or resumes the jobs an earlier launch into the same sweep directory finished or left."""

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

    def plan_batch(self, batch, initial_job_idx: int) -> list:
        """Each job's run directory (as the launcher will name it) and what this launch does with it."""
        from transformer_lab.training.records.sweep_status import plan_job

        assert self.hydra_context is not None and self.config is not None
        plans = []
        for offset, overrides in enumerate(batch):
            number = initial_job_idx + offset
            job_cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(job_cfg):
                job_cfg.hydra.job.id = number  # as the launchers set them, before the directory is resolved
                job_cfg.hydra.job.num = number
            run_dir = Path(str(job_cfg.hydra.sweep.dir)) / str(job_cfg.hydra.sweep.subdir)
            wants_test = bool(OmegaConf.select(job_cfg, "test", default=True))
            plans.append(plan_job(number, list(overrides), run_dir, wants_test))
        return plans

    def sweep(self, arguments: list[str]) -> Any:
        """BasicSweeper.sweep, with the finished jobs of an earlier launch into this sweep directory left out."""
        from transformer_lab.training.records.sweep_status import DONE, contiguous_runs, format_table

        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        params_conf = self._parse_config()
        params_conf.extend(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        self.overrides = self.split_arguments(parser.parse_overrides(params_conf), self.max_batch_size)

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        log.info("sweep directory %s (to resume this sweep, run the same command with hydra.sweep.dir=%s)",
                 sweep_dir, sweep_dir.resolve())

        returns: list[list[JobReturn]] = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            self.validate_batch_is_legal(batch)
            plans = self.plan_batch(batch, initial_job_idx)
            log.info("%s", format_table(plans, f"sweep jobs {initial_job_idx}-{initial_job_idx + len(batch) - 1} "
                                               f"in {sweep_dir}:"))
            to_run = [plan.number for plan in plans if plan.action != DONE]
            results: list[JobReturn] = []
            for block in contiguous_runs(to_run):
                jobs = [batch[number - initial_job_idx] for number in block]
                results.extend(self.launcher.launch(jobs, initial_job_idx=block[0]))
            log.info("%s", format_table([plan.with_outcome() for plan in plans], "sweep jobs after this launch:"))
            for result in results:
                _ = result.return_value  # a failed job raises its error now, once every job has run
            initial_job_idx += len(batch)
            returns.append(results)
        return returns
