"""PNG figures of a sweep: dev BLEU per row, dev BLEU against parameters, learning curves overlaid."""

from __future__ import annotations

from pathlib import Path

from transformer_lab.report.runs import RunRecord
from transformer_lab.report.tables import order_records, paper_row


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def bleu_per_row(records: list[RunRecord], path: Path) -> Path:
    plt = _pyplot()
    ordered = order_records(records)
    x = list(range(len(ordered)))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(ordered) + 2), 4))
    ours = [r.dev_bleu if r.dev_bleu is not None else 0.0 for r in ordered]
    bars = ax.bar(x, ours, color=["tab:blue" if r.status == "completed" else "tab:gray" for r in ordered],
                  label="ours (dev, last evaluation)")
    for bar, record in zip(bars, ordered):
        top = (bar.get_x() + bar.get_width() / 2, bar.get_height())
        if record.status != "completed":  # failed runs stay visible, labeled
            ax.annotate(record.status.split(" ")[0], top, ha="center", va="bottom", fontsize=7, color="tab:red",
                        rotation=90)
        elif record.dev_bleu is not None:
            ax.annotate(f"{record.dev_bleu:.1f}", top, ha="center", va="bottom", fontsize=7)
    paper = [(i, paper_row(r).bleu) for i, r in enumerate(ordered) if paper_row(r)]
    if paper:
        ax.scatter([i for i, _ in paper], [b for _, b in paper], marker="_", s=300, color="tab:orange",
                   zorder=3, label="paper (Table 3)")
    ax.set_xticks(x, [r.label for r in ordered], rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("dev BLEU")
    ax.set_title("dev BLEU per row")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def bleu_vs_params(records: list[RunRecord], path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    done = [r for r in order_records(records) if r.params and r.dev_bleu is not None]
    ax.scatter([r.params / 1e6 for r in done], [r.dev_bleu for r in done], color="tab:blue", label="ours")
    for r in done:
        ax.annotate(r.label, (r.params / 1e6, r.dev_bleu), fontsize=7, xytext=(3, 3), textcoords="offset points")
    paper = [(r.row, paper_row(r)) for r in order_records(records) if paper_row(r) and paper_row(r).params_m]
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


def learning_curves(records: list[RunRecord], path: Path) -> Path:
    plt = _pyplot()
    fig, (ax_bleu, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for record in order_records(records):
        style = "-" if record.status == "completed" else ":"
        val = [(c["step"], c["val/bleu"]) for c in record.curves if c.get("val/bleu") is not None]
        train = [(c["step"], c["train/loss"]) for c in record.curves if c.get("train/loss") is not None]
        if val:
            ax_bleu.plot(*zip(*val), style, marker=".", label=record.label)
        if train:
            ax_loss.plot(*zip(*train), style, label=record.label)
    ax_bleu.set(xlabel="step", ylabel="dev BLEU", title="dev BLEU")
    ax_loss.set(xlabel="step", ylabel="training loss (label-smoothed)", title="training loss")
    for ax in (ax_bleu, ax_loss):
        if ax.lines:
            ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_figures(records: list[RunRecord], out_dir: Path) -> list[Path]:
    out_dir = Path(out_dir)
    return [
        bleu_per_row(records, out_dir / "bleu_per_row.png"),
        bleu_vs_params(records, out_dir / "bleu_vs_params.png"),
        learning_curves(records, out_dir / "learning_curves.png"),
    ]
