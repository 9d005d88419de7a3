"""`report --to-wandb`: the report's table as a W&B Table and its figures as images, in one W&B run of the
sweep's group (job type `report`), so the rows can be compared at a glance beside the training runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformer_lab.report.runs import RunRecord
from transformer_lab.training.logging.wandb_setup import resolve_wandb_mode

DEFAULT_PROJECT = "transformer_lab"  # conf/logger/wandb.yaml's project


def wandb_destination(records: list[RunRecord], source: str) -> dict[str, str | None]:
    """{"project", "entity", "group"} of the sweep: what its runs were logged to (the W&B source itself,
    or the runs' configs), else the default project; the group is the runs' group, else the sweep's name."""
    if not Path(source).exists() and source.count("/") == 1:
        entity, project = source.split("/")
    else:
        project = next((r.wandb_project for r in records if r.wandb_project), DEFAULT_PROJECT)
        entity = next((r.wandb_entity for r in records if r.wandb_entity), None)
    groups = sorted({r.group for r in records if r.group})
    group = groups[0] if len(groups) == 1 else Path(source.rstrip("/")).name
    return {"project": project, "entity": entity, "group": group}


def log_report(csv_rows: list[dict[str, Any]], columns: list[str], figures: list[Path], destination: dict,
               out_dir: Path, header: list[str]) -> str:
    """Logs one run (offline unless W&B credentials exist, as training runs); returns its directory or URL."""
    import wandb

    mode = resolve_wandb_mode(None)
    if mode == "disabled":
        raise RuntimeError("W&B is disabled (WANDB_MODE=disabled): nothing to log; unset it to log the report")
    run = wandb.init(project=destination["project"], entity=destination["entity"], group=destination["group"],
                     job_type="report", name=f"report {destination['group']}", dir=str(out_dir), mode=mode,
                     config={"report_header": "\n".join(header)}, reinit="create_new")
    try:
        table = wandb.Table(columns=columns, data=[[row.get(c) for c in columns] for row in csv_rows])
        run.log({"report/table": table, **{f"report/{p.stem}": wandb.Image(str(p)) for p in figures}})
        where = run.url if mode == "online" else run.dir
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()
    return str(where)
