"""PNG figures of a sweep: dev BLEU per row and against parameters (mean over seeds, error bars one sample
standard deviation, each seed a dot), and learning curves (mean over seeds with a band of ± one standard
deviation; runs that did not complete dotted)."""

from __future__ import annotations

import statistics
from pathlib import Path

from transformer_lab.report.rows import ReportRow
from transformer_lab.report.tables import order_rows, paper_row


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def bleu_per_row(rows: list[ReportRow], path: Path) -> Path:
    plt = _pyplot()
    ordered = order_rows(rows)
    x = list(range(len(ordered)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(ordered) + 2), 4))
    stats = [row.stat("dev_bleu") for row in ordered]
    ax.bar(x, [s.mean or 0.0 for s in stats], yerr=[s.std or 0.0 for s in stats], capsize=4,
           color=["tab:blue" if row.n_seeds else "tab:gray" for row in ordered],
           label="ours (dev, last evaluation; mean ± sd over seeds)")
    for i, (row, stat) in enumerate(zip(ordered, stats)):
        seeds = [r.dev_bleu for r in row.completed if r.dev_bleu is not None]
        if len(seeds) > 1:
            ax.scatter([i] * len(seeds), seeds, s=10, color="black", zorder=3)
        if not row.n_seeds:  # rows with no completed seed stay visible, labeled
            ax.annotate(row.status.split(" ")[0], (i, 0), ha="center", va="bottom", fontsize=7, color="tab:red",
                        rotation=90)
        elif stat.mean is not None:
            ax.annotate(f"{stat.mean:.1f}", (i, stat.mean + (stat.std or 0)), ha="center", va="bottom", fontsize=7)
    paper = [(i, paper_row(row).bleu) for i, row in enumerate(ordered) if paper_row(row)]
    if paper:
        ax.scatter([i for i, _ in paper], [b for _, b in paper], marker="_", s=300, color="tab:orange",
                   zorder=3, label="paper (Table 3)")
    ax.set_xticks(x, [row.label for row in ordered], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("dev BLEU")
    ax.set_title("dev BLEU per row")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def bleu_vs_params(rows: list[ReportRow], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    done = [row for row in order_rows(rows) if row.params and row.stat("dev_bleu").mean is not None]
    stats = [row.stat("dev_bleu") for row in done]
    ax.errorbar([row.params / 1e6 for row in done], [s.mean for s in stats], yerr=[s.std or 0.0 for s in stats],
                fmt="o", capsize=3, color="tab:blue", label="ours (mean ± sd over seeds)")
    for row, stat in zip(done, stats):
        ax.annotate(row.label, (row.params / 1e6, stat.mean), fontsize=7, xytext=(3, 3), textcoords="offset points")
    paper = [(row.row, paper_row(row)) for row in order_rows(rows) if paper_row(row) and paper_row(row).params_m]
    if paper:
        ax.scatter([p.params_m for _, p in paper], [p.bleu for _, p in paper], marker="s", facecolors="none",
                   edgecolors="tab:orange", label="paper (Table 3)")
        for name, p in paper:
            ax.annotate(name, (p.params_m, p.bleu), fontsize=7, color="tab:orange", xytext=(3, -9),
                        textcoords="offset points")
    if done or paper:
        ax.set_xscale("log")
    ax.set_xlabel("parameters (x10^6, log scale)")
    ax.set_ylabel("dev BLEU")
    ax.set_title("dev BLEU against model size")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def seed_band(curves: list[dict[int, float]]) -> tuple[list[int], list[float], list[float]]:
    """(steps every curve has, mean, sample sd (0 for one curve)) of curves given as {step: value}."""
    steps = sorted(set.intersection(*(set(c) for c in curves))) if curves else []
    means = [statistics.fmean(c[s] for c in curves) for s in steps]
    sds = [statistics.stdev(c[s] for c in curves) if len(curves) > 1 else 0.0 for s in steps]
    return steps, means, sds


def learning_curves(rows: list[ReportRow], path: Path) -> Path:
    plt = _pyplot()
    fig, (ax_bleu, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for row in order_rows(rows):
        for ax, key in ((ax_bleu, "val/bleu"), (ax_loss, "train/loss")):
            curves = [{c["step"]: c[key] for c in run.curves if c.get(key) is not None} for run in row.completed]
            steps, means, sds = seed_band([c for c in curves if c])
            if steps:
                (line,) = ax.plot(steps, means, "-", marker="." if key == "val/bleu" else None,
                                  label=f"{row.label} (n={len(curves)})")
                if len(curves) > 1:
                    ax.fill_between(steps, [m - s for m, s in zip(means, sds)], [m + s for m, s in zip(means, sds)],
                                    color=line.get_color(), alpha=0.2)
            for run in row.not_completed:  # never averaged in: drawn on their own, dotted
                points = [(c["step"], c[key]) for c in run.curves if c.get(key) is not None]
                if points:
                    ax.plot(*zip(*points), ":", label=f"{row.label} seed {run.seed} ({run.status})")
    ax_bleu.set(xlabel="step", ylabel="dev BLEU", title="dev BLEU (mean ± sd over seeds)")
    ax_loss.set(xlabel="step", ylabel="training loss (label-smoothed)", title="training loss")
    for ax in (ax_bleu, ax_loss):
        if ax.lines:
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(rows: list[ReportRow], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        bleu_per_row(rows, out_dir / "bleu_per_row.png"),
        bleu_vs_params(rows, out_dir / "bleu_vs_params.png"),
        learning_curves(rows, out_dir / "learning_curves.png"),
    ]
