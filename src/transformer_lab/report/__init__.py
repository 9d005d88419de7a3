"""The comparison report of a sweep, laid out like the paper's Table 3: `python -m transformer_lab.report`."""

from transformer_lab.report.runs import RunRecord, read_local_runs, read_wandb_runs

__all__ = ["RunRecord", "read_local_runs", "read_wandb_runs", "write_report"]


def write_report(*args, **kwargs):
    from transformer_lab.report.__main__ import write_report as _write_report

    return _write_report(*args, **kwargs)
