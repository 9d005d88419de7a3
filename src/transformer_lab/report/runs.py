"""Reading the runs of a sweep into `RunRecord`s: from local Hydra job directories, or from the W&B API.

A local job directory is any directory holding `.hydra/config.yaml` (Hydra writes it before the job runs);
its `summary.json` and `metrics.jsonl` come from `RunSummaryCallback`. A job directory without
`summary.json` is a job that failed before training started: it is reported, never dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transformer_lab.checkpointing.layout import CONFIG_DIR, RunLayout

log = logging.getLogger(__name__)

# Overrides that say where or how a job ran, not what it was: left out of row labels.
_PLUMBING = ("hydra.", "paths.", "trainer.enable_", "debug=", "logger", "group=", "run_name=")
_SEED = "seed="  # runs that differ only by their seed are one row of the report


@dataclass
class RunRecord:
    """One run of a sweep, as the report needs it. Missing numbers are None."""

    label: str  # the report's row name (shared by runs that differ only by seed)
    row: str | None  # the config's `row` (Table 3 label), if any
    source: str  # job directory or W&B run path
    status: str  # completed | failed | diverged | interrupted | running | failed before training
    error: str | None = None
    tags: list[str] = field(default_factory=list)
    group: str | None = None
    experiment: str | None = None  # the config's experiment_name
    wandb_project: str | None = None  # where the run was logged (report --to-wandb logs beside it)
    wandb_entity: str | None = None
    overrides: list[str] = field(default_factory=list)
    differs_by: list[str] = field(default_factory=list)  # the overrides that set this row apart in its sweep
    hparams: dict[str, Any] = field(default_factory=dict)  # N, d_model, d_ff, h, d_k, d_v, P_drop, eps_ls, ...
    seed: int | None = None
    global_step: int | None = None
    dev_ppl: float | None = None  # last evaluation (Table 3 reports the final model)
    dev_bleu: float | None = None  # sacreBLEU
    dev_paper_bleu: float | None = None  # tokenized BLEU (as in the paper): what Table 3's BLEU column is
    dev_chrf: float | None = None
    dev_chrf_pp: float | None = None  # chrF++
    best_dev_bleu: float | None = None
    best_dev_bleu_step: int | None = None
    test_bleu: float | None = None
    params: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)  # versions, git, device, precision
    curves: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl records: {step, val/bleu | train/loss ...}

    @property
    def status_text(self) -> str:
        if self.status == "completed":
            return "completed"
        if self.status == "failed before training":
            return f"failed before training ({self.error})" if self.error else self.status
        at = f" at step {self.global_step}" if self.global_step is not None else ""
        if self.status == "running":
            steps = self.hparams.get("steps")
            return f"incomplete (step {self.global_step} of {steps})" if steps else "incomplete"
        return f"{self.status}{at}" + (f" ({self.error})" if self.error else "")


# --------------------------------------------------------------------------------------------- hparams
def hparams_from_config(select) -> dict[str, Any]:
    """The Table 3 columns from a config, given `select(key) -> value or None`."""
    d_model, n_heads = select("model.d_model"), select("model.n_heads")
    n_layers = select("model.n_layers")
    enc = select("model.n_encoder_layers") or n_layers
    dec = select("model.n_decoder_layers") or n_layers
    natural = d_model // n_heads if d_model and n_heads else None
    return {
        "N": enc if enc == dec else f"{enc}/{dec}",
        "d_model": d_model,
        "d_ff": select("model.d_ff"),
        "h": n_heads,
        "d_k": select("model.d_k") or natural,
        "d_v": select("model.d_v") or natural,
        "P_drop": select("model.dropout"),
        "eps_ls": select("loss.label_smoothing"),
        "positional": select("model.positional.name"),
        "norm": select("model.norm"),
        "steps": select("trainer.max_steps"),
    }


def _config_selector(cfg: DictConfig | dict):
    if not isinstance(cfg, DictConfig):
        cfg = OmegaConf.create(cfg)

    def select(key: str) -> Any:
        try:  # resolves interpolations such as debug=tiny's ${oc.select:debug_sizes...}
            value = OmegaConf.select(cfg, key, default=None)
        except Exception:  # ${hydra:...} and friends cannot resolve outside the job
            return None
        return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value

    return select


# ----------------------------------------------------------------------------------------------- local
def find_job_dirs(path: Path) -> list[Path]:
    """Job directories under `path` (or `path` itself), in job order (numeric names first, by number)."""
    path = Path(path)
    if (RunLayout(path).config_dir / "config.yaml").is_file():
        return [path]
    dirs = [p.parent.parent for p in path.rglob(f"{CONFIG_DIR}/config.yaml")]

    def key(d: Path) -> tuple:
        rel = d.relative_to(path).parts
        return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rel)

    return sorted(dirs, key=key)


def read_local_run(job_dir: Path) -> RunRecord:
    job_dir = Path(job_dir)
    layout = RunLayout(job_dir)
    cfg = OmegaConf.load(layout.config_dir / "config.yaml")
    select = _config_selector(cfg)
    overrides_file = layout.config_dir / "overrides.yaml"
    overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
    record = RunRecord(
        label="", row=select("row"), source=str(job_dir), status="failed before training",
        tags=list(select("tags") or []), group=select("group"), overrides=overrides,
        hparams=hparams_from_config(select), seed=select("seed"), experiment=select("experiment_name"),
        wandb_project=select("logger.wandb.project"), wandb_entity=select("logger.wandb.entity"),
    )
    summary_file = layout.summary
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
        last = summary.get("last_val") or {}
        record.status = summary.get("status", "running")
        record.error = summary.get("error")
        record.global_step = summary.get("global_step")
        record.dev_ppl, record.dev_bleu = last.get("val/ppl"), last.get("val/bleu")
        record.dev_paper_bleu = last.get("val/paper_bleu")  # logged by runs whose module records it
        record.dev_chrf, record.dev_chrf_pp = last.get("val/chrf"), last.get("val/chrf++")
        record.provenance = summary.get("provenance") or {}
        record.best_dev_bleu = summary.get("best_val_bleu")
        record.best_dev_bleu_step = ((summary.get("best_val") or {}).get("val/bleu") or {}).get("step")
        record.test_bleu = summary.get("test/bleu")
        record.params = (summary.get("parameters") or {}).get("total")
    else:
        record.error = _last_error_line(job_dir)
    metrics_file = layout.metrics
    if metrics_file.is_file():
        for line in metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                record.curves.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a killed job
                continue
    return record


def _last_error_line(job_dir: Path) -> str | None:
    """The last line of the job's log that names an error, for jobs that died before writing a summary."""
    for name in ("train.log", f"{job_dir.name}.log"):
        log_file = job_dir / name
        if log_file.is_file():
            lines = [line for line in log_file.read_text(encoding="utf-8", errors="replace").splitlines()
                     if "Error" in line or "Exception" in line]
            if lines:
                return lines[-1].split("] - ")[-1][:200]
    return None


def read_local_runs(path: Path) -> list[RunRecord]:
    records = [read_local_run(d) for d in find_job_dirs(path)]
    assign_labels(records)
    return records


# ------------------------------------------------------------------------------------------------- W&B
_WANDB_STATUS = {"finished": "completed", "failed": "failed", "crashed": "failed", "killed": "interrupted",
                 "running": "running"}


def read_wandb_runs(project: str, group: str | None = None) -> list[RunRecord]:
    """Runs of `entity/project` (optionally one group) through the W&B API; needs network and credentials."""
    import wandb

    filters = {"group": group} if group else None
    records = []
    for run in wandb.Api().runs(project, filters=filters, order="+created_at"):
        config = dict(run.config)
        select = _config_selector(config)
        summary = dict(run.summary)
        curves = []
        for item in run.scan_history():
            step = item.get("trainer/global_step", item.get("_step"))
            values = {k: v for k, v in item.items() if k.startswith(("val/", "train/")) and v is not None}
            if values and step is not None:
                curves.append({"step": int(step), **values})
        records.append(RunRecord(
            label="", row=config.get("row"), source=f"wandb:{project}/{run.id} ({run.name})",
            status=summary.get("status") or _WANDB_STATUS.get(run.state, run.state),
            tags=list(run.tags), group=run.group, experiment=config.get("experiment_name"), overrides=[],
            hparams=hparams_from_config(select), seed=config.get("seed"),
            global_step=summary.get("trainer/global_step"),
            dev_ppl=_last(curves, "val/ppl", summary), dev_bleu=_last(curves, "val/bleu", summary),
            dev_paper_bleu=_last(curves, "val/paper_bleu", summary),
            dev_chrf=_last(curves, "val/chrf", summary), dev_chrf_pp=_last(curves, "val/chrf++", summary),
            best_dev_bleu=_best(curves, "val/bleu", summary), best_dev_bleu_step=summary.get("val/bleu_best_step"),
            test_bleu=summary.get("test/bleu"), params=(config.get("parameters") or {}).get("total"),
            provenance=config.get("provenance") or {}, curves=curves,
        ))
    assign_labels(records)
    return records


def _last(curves: list[dict[str, Any]], key: str, summary: dict[str, Any]) -> float | None:
    """The last logged value (the summary keeps the best of define_metric'd keys, not the last)."""
    values = [c[key] for c in curves if isinstance(c.get(key), (int, float))]
    if values:
        return values[-1]
    value = summary.get(key)
    return value if isinstance(value, (int, float)) else None


def _best(curves: list[dict[str, Any]], key: str, summary: dict[str, Any]) -> float | None:
    """The summary's max (define_metric(summary="max"), see training/records/best_metrics.py), else the history's."""
    value = summary.get(key)
    if isinstance(value, dict) and isinstance(value.get("max"), (int, float)):
        return value["max"]
    values = [c[key] for c in curves if isinstance(c.get(key), (int, float))]
    return max(values) if values else None


# ---------------------------------------------------------------------------------------------- labels
def _own_overrides(record: RunRecord) -> list[str]:
    """The overrides that say what the run was: neither where it ran nor its seed."""
    return [o for o in record.overrides if not o.startswith(_PLUMBING) and not o.lstrip("+").startswith(_SEED)]


def assign_labels(records: list[RunRecord]) -> None:
    """Row names: the config's `row`, else the job's own overrides, else the experiment's name. Runs that
    differ only by their seed share one name (one row of the report); different runs sharing a name get
    the overrides that tell them apart (e.g. `C1 (+callbacks.fault.step=2)`)."""
    common = set.intersection(*(set(_own_overrides(r)) for r in records)) if records else set()

    def varying(record: RunRecord) -> list[str]:
        return [o for o in _own_overrides(record) if o not in common and not o.startswith("experiment=")]

    keys: dict[str, set[tuple]] = {}
    for record in records:
        record.differs_by = varying(record)
        record.label = record.row or ",".join(varying(record)) or record.experiment or Path(record.source).name
        keys.setdefault(record.label, set()).add(tuple(sorted(varying(record))))
    for record in records:
        if len(keys[record.label]) > 1 and (varying(record) or () not in keys[record.label]):
            record.label = f"{record.label} ({','.join(varying(record)) or Path(record.source).name})"
