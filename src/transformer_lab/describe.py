"""`python -m transformer_lab.describe [--json] [overrides]`: the model a training config describes, without
data or training: parameter counts (total and by part), the model's hyperparameters and the tokens per
update, as a text table or as JSON (`--json`).

    python -m transformer_lab.describe experiment=table3/C4 model.vocab_size=37000
    python -m transformer_lab.describe --json experiment=paper/big_en_de

The overrides are those of `python -m transformer_lab.train` (the same conf/train.yaml is composed). The
vocabulary size is `model.vocab_size` when given, else the data config's `vocab_size` (the BPE size the
tokenizer is trained to; the real tokenizer can end a few entries short). The model is built on PyTorch's
`meta` device: shapes only, no memory, so the big models describe in a second.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transformer_lab.config.directory import CONFIG_DIR

if TYPE_CHECKING:
    from transformer_lab.model.config import TransformerConfig


USAGE = """usage: python -m transformer_lab.describe [--json] [OVERRIDE ...]

The model a training config builds (no data, no training): parameter counts and hyperparameters.
OVERRIDEs are the train command's, e.g. experiment=table3/C4 model.vocab_size=37000; your own configs
come in with hydra.searchpath=[file:///path/to/your/conf].
  --json   print JSON instead of tables
"""


def compose_train_config(overrides: list[str]) -> DictConfig:
    """conf/train.yaml composed with `overrides`, exactly as the train command would (minus Hydra's runtime)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name="describe"):
        return compose(config_name="train", overrides=overrides, return_hydra_config=True)


def resolve_vocab_size(cfg: DictConfig) -> int:
    from transformer_lab.training.preflight import planned_vocab_size

    vocab = planned_vocab_size(cfg)
    if vocab is None:
        raise ValueError(
            "no vocabulary size: model.vocab_size is null and the data config has no vocab_size; "
            "give one, e.g. model.vocab_size=37000"
        )
    return vocab


def count_parameters(model_cfg: TransformerConfig | dict[str, Any]) -> dict[str, int]:
    """Parameter counts of the Transformer `model_cfg` describes, built on the meta device (no memory)."""
    import torch

    from transformer_lab.model import build_transformer

    with torch.device("meta"):
        model = build_transformer(model_cfg)
    return model.parameter_counts()


def _devices(trainer: dict[str, Any]) -> tuple[int, str]:
    """Devices per node as a number, and how it was found (-1/"auto" = every visible device)."""
    devices = trainer.get("devices", 1)
    if isinstance(devices, int) and devices > 0:
        return devices, "configured"
    if isinstance(devices, (list, tuple)):
        return len(devices), "configured"
    if trainer.get("accelerator") in ("gpu", "cuda", "auto"):
        import torch

        return max(torch.cuda.device_count(), 1), "visible GPUs on this machine"
    return 1, "assumed"


def describe(cfg: DictConfig) -> dict[str, Any]:
    """Everything `describe` prints, as plain data."""
    from transformer_lab.report.paper import TABLE3
    from transformer_lab.special_tokens import PAD_ID
    from transformer_lab.training.cadence import val_check_interval_in_batches
    from transformer_lab.training.preflight import module_settings, plain

    resolved = module_settings(cfg, vocab_size=resolve_vocab_size(cfg), pad_id=PAD_ID).model
    counts = count_parameters(resolved)

    trainer = {k: plain(cfg, f"trainer.{k}") for k in ("accelerator", "devices", "num_nodes",
                                                           "accumulate_grad_batches", "max_steps",
                                                           "val_check_interval")}
    devices, how = _devices(trainer)
    nodes = trainer.get("num_nodes") or 1
    accumulate = trainer.get("accumulate_grad_batches") or 1
    max_tokens = plain(cfg, "data.max_tokens")
    row = plain(cfg, "row")
    shrunk = plain(cfg, "hydra.runtime.choices.debug") is not None  # debug=tiny: not the paper's model
    paper = TABLE3.get(row) if "table3" in (plain(cfg, "tags") or []) and not shrunk else None
    return {
        "experiment": plain(cfg, "experiment_name"),
        "row": row,
        "parameters": counts,
        "paper_parameters": int(paper.params_m * 1e6) if paper and paper.params_m else None,
        "model": {
            "vocab_size": resolved.vocab_size,
            "encoder_layers": resolved.encoder_layers,
            "decoder_layers": resolved.decoder_layers,
            "d_model": resolved.d_model,
            "d_ff": resolved.d_ff,
            "n_heads": resolved.n_heads,
            "d_k": resolved.head_dim_k,
            "d_v": resolved.head_dim_v,
            "dropout": resolved.dropout,
            "attention_dropout": resolved.attention_dropout,
            "activation_dropout": resolved.activation_dropout,
            "norm": resolved.norm,
            "positional": resolved.positional.name,
            "weight_sharing": resolved.weight_sharing,
        },
        "training": {
            "label_smoothing": plain(cfg, "loss.label_smoothing"),
            "warmup_steps": plain(cfg, "optim.warmup_steps"),
            "max_steps": trainer.get("max_steps"),
            "max_tokens_per_device": max_tokens,
            "devices": devices * nodes,
            "devices_from": how,
            "accumulate_grad_batches": accumulate,
            "tokens_per_update": None if max_tokens is None else max_tokens * devices * nodes * accumulate,
            "val_check_interval_updates": trainer.get("val_check_interval"),
            "val_check_interval_batches": val_check_interval_in_batches(trainer),
            "checkpoint_every_n_updates": plain(cfg, "callbacks.periodic_checkpoint.every_n_train_steps"),
        },
    }


def format_text(desc: dict[str, Any]) -> str:
    counts, model, training = desc["parameters"], desc["model"], desc["training"]
    title = desc["experiment"] + (f" (row {desc['row']})" if desc.get("row") else "")
    lines = [f"model of {title}", "", "parameters", f"  {'part':<12} {'count':>14} {'x10^6':>8}"]
    for part in ("embeddings", "encoder", "decoder", "total"):
        lines.append(f"  {part:<12} {counts[part]:>14,} {counts[part] / 1e6:>8.1f}")
    if desc.get("paper_parameters"):
        paper = desc["paper_parameters"]
        lines.append(f"  {'paper':<12} {paper:>14,} {paper / 1e6:>8.1f}   "
                     f"(ours {100 * (counts['total'] - paper) / paper:+.1f}%)")
    lines += ["", "hyperparameters"] + [f"  {k:<20} {v}" for k, v in model.items()]
    t = training
    lines += ["", "training"] + [f"  {k:<20} {t[k]}" for k in ("label_smoothing", "warmup_steps", "max_steps")]
    if t["tokens_per_update"] is not None:
        lines.append(
            f"  {'tokens_per_update':<20} {t['tokens_per_update']:,} = data.max_tokens {t['max_tokens_per_device']}"
            f" x {t['devices']} devices ({t['devices_from']}) x accumulate_grad_batches {t['accumulate_grad_batches']}"
            "  (padded, per side; the paper: ~25k real tokens per side)"
        )
    lines += _cadence_lines(t)
    return "\n".join(lines)


def _cadence_lines(training: dict[str, Any]) -> list[str]:
    interval, batches = training["val_check_interval_updates"], training["val_check_interval_batches"]
    lines = []
    if isinstance(interval, int):
        lines.append(f"  {'validation':<20} every {interval:,} updates = {batches:,} batches per device"
                     f" (accumulate_grad_batches {training['accumulate_grad_batches']})")
    elif interval is not None:
        lines.append(f"  {'validation':<20} every {interval} of an epoch")
    if training["checkpoint_every_n_updates"] is not None:
        lines.append(f"  {'periodic checkpoint':<20} every {training['checkpoint_every_n_updates']:,} updates")
    return lines


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    as_json = "--json" in args
    overrides = [a for a in args if a != "--json"]
    try:
        desc = describe(compose_train_config(overrides))
    except ValueError as error:  # bad config values: say which, no traceback
        print(f"describe: {error}", file=sys.stderr)
        return 2
    print(json.dumps(desc, indent=2) if as_json else format_text(desc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
