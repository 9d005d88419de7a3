"""Rows of the report: the runs that differ only by their seed, summarized together.

Means and standard deviations are over the row's completed runs only; failed, diverged and unfinished
seeds are counted apart and never averaged in. The standard deviation is the sample one (n - 1 in the
denominator), empty for a single seed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from transformer_lab.report.runs import RunRecord


@dataclass(frozen=True)
class MeanStd:
    mean: float | None
    std: float | None  # sample standard deviation; None with fewer than two values

    @staticmethod
    def of(values: list[float | None]) -> MeanStd:
        present = [float(v) for v in values if v is not None]
        if not present:
            return MeanStd(None, None)
        return MeanStd(statistics.fmean(present), statistics.stdev(present) if len(present) > 1 else None)


@dataclass
class ReportRow:
    label: str
    runs: list[RunRecord] = field(default_factory=list)  # every seed, in job order

    @property
    def first(self) -> RunRecord:
        return self.runs[0]

    @property
    def row(self) -> str | None:
        return self.first.row

    @property
    def hparams(self) -> dict[str, Any]:
        return self.first.hparams

    @property
    def completed(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status == "completed"]

    @property
    def not_completed(self) -> list[RunRecord]:
        return [r for r in self.runs if r.status != "completed"]

    @property
    def n_seeds(self) -> int:
        """Completed seeds: the ones the means are over."""
        return len(self.completed)

    def stat(self, attribute: str) -> MeanStd:
        return MeanStd.of([getattr(r, attribute) for r in self.completed])

    @property
    def params(self) -> int | None:
        counts = {r.params for r in self.runs if r.params is not None}
        return counts.pop() if len(counts) == 1 else None  # seeds never change the architecture

    @property
    def status(self) -> str:
        """`completed` when every seed completed; else each seed's status (`completed`, `failed`, ...)
        counted, e.g. `2 completed, 1 failed`."""
        statuses = [r.status for r in self.runs]
        if len(self.runs) == 1 or len(set(statuses)) == 1:
            return statuses[0]
        counts: dict[str, int] = {}
        for status in statuses:
            counts[status] = counts.get(status, 0) + 1
        return ", ".join(f"{n} {status}" for status, n in counts.items())

    @property
    def status_text(self) -> str:
        """The status, with each seed that did not complete named (seed, step, error)."""
        if len(self.runs) == 1:
            return self.first.status_text
        failures = [f"seed {r.seed}: {r.status_text}" for r in self.not_completed]
        return self.status + (f" ({'; '.join(failures)})" if failures else "")

    def version_differences(self) -> dict[str, dict[str, list[Any]]]:
        """{library or "git commit": {value: [seeds]}} for the provenance fields that differ across runs."""
        fields: dict[str, dict[str, list[Any]]] = {}
        for run in self.runs:
            provenance = run.provenance or {}
            values = {**(provenance.get("versions") or {}), "git commit": (provenance.get("git") or {}).get("commit"),
                      "device": provenance.get("device"), "precision": provenance.get("precision")}
            for key, value in values.items():
                if provenance:  # runs that never wrote provenance (failed before training) say nothing
                    fields.setdefault(key, {}).setdefault(str(value), []).append(run.seed)
        return {key: by_value for key, by_value in fields.items() if len(by_value) > 1}


def group_rows(records: list[RunRecord]) -> list[ReportRow]:
    """One row per label (runs that differ only by seed share a label, see runs.assign_labels), in job order."""
    rows: dict[str, ReportRow] = {}
    for record in records:
        rows.setdefault(record.label, ReportRow(record.label)).runs.append(record)
    return list(rows.values())
