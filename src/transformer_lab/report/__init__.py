"""The comparison report of a sweep, laid out like the paper's Table 3: `python -m transformer_lab.report`."""

from transformer_lab.report.document import write_report
from transformer_lab.report.runs import RunRecord, read_local_runs, read_wandb_runs

__all__ = ["RunRecord", "read_local_runs", "read_wandb_runs", "write_report"]
