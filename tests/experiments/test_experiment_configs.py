"""Every experiment config composes, builds and says what the paper says; describe matches Table 3's counts."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from transformer_lab.describe import CONFIG_DIR, count_parameters, describe
from transformer_lab.describe import main as describe_main
from transformer_lab.report.paper import TABLE3

EXPERIMENTS = Path(CONFIG_DIR) / "experiment"
ALL_EXPERIMENTS = sorted(str(p.relative_to(EXPERIMENTS).with_suffix("")) for p in EXPERIMENTS.rglob("*.yaml"))
TABLE3_ROWS = sorted(p.stem for p in (EXPERIMENTS / "table3").glob("*.yaml"))
VARIANTS = sorted(p.stem for p in (EXPERIMENTS / "variants").glob("*.yaml"))

# What each Table 3 row changes relative to "base" (the paper's Table 3); everything else must stay equal.
ROW_CHANGES = {
    "base": {},
    "A1": {"n_heads": 1}, "A2": {"n_heads": 4}, "A3": {"n_heads": 16}, "A4": {"n_heads": 32},
    "B1": {"d_k": 16}, "B2": {"d_k": 32},
    "C1": {"n_layers": 2}, "C2": {"n_layers": 4}, "C3": {"n_layers": 8},
    "C4": {"d_model": 256}, "C5": {"d_model": 1024}, "C6": {"d_ff": 1024}, "C7": {"d_ff": 4096},
    "D1": {"dropout": 0.0}, "D2": {"dropout": 0.2}, "D3": {"label_smoothing": 0.0}, "D4": {"label_smoothing": 0.2},
    "E1": {"positional": "learned"},
    "big": {"d_model": 1024, "d_ff": 4096, "n_heads": 16, "dropout": 0.3, "max_steps": 300000},
}


def compose_train(*overrides: str, hydra_config: bool = False):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=hydra_config)


def row_columns(cfg) -> dict:
    """The Table 3 columns of a composed config (null d_k/d_v resolved to d_model / h)."""
    m = cfg.model
    return {
        "n_layers": m.n_layers, "d_model": m.d_model, "d_ff": m.d_ff, "n_heads": m.n_heads,
        "d_k": m.d_k or m.d_model // m.n_heads, "d_v": m.d_v or m.d_model // m.n_heads, "dropout": m.dropout,
        "label_smoothing": cfg.loss.label_smoothing, "positional": m.positional.name, "norm": m.norm,
        "max_steps": cfg.trainer.max_steps,
    }


def test_table3_has_one_config_per_paper_row():
    assert set(TABLE3_ROWS) == set(TABLE3) == set(ROW_CHANGES)


@pytest.mark.parametrize("experiment", ALL_EXPERIMENTS)
def test_every_experiment_composes_and_instantiates(experiment, tmp_path):
    cfg = compose_train(f"experiment={experiment}", f"paths.output_dir={tmp_path}")
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["vocab_size"] = cfg.data.vocab_size
    assert count_parameters(model)["total"] > 0  # build_transformer on the meta device: validates the config
    trainer_args = set(inspect.signature(__import__("lightning").pytorch.Trainer.__init__).parameters)
    unknown = set(cfg.trainer) - trainer_args - {"_target_"}
    assert not unknown, f"trainer keys Lightning does not take: {unknown}"
    for name, callback in cfg.callbacks.items():  # ModelCheckpoint etc. check their arguments when built
        assert instantiate(callback) is not None, name
    instantiate(cfg.data)  # the datamodule's constructor only (no download, no preparation)


@pytest.mark.parametrize("experiment", ALL_EXPERIMENTS)
def test_debug_tiny_shrinks_every_experiment_to_a_cpu_run(experiment, tmp_path):
    cfg = compose_train(f"experiment={experiment}", "debug=tiny", f"paths.output_dir={tmp_path}")
    assert cfg.trainer.accelerator == "cpu" and cfg.trainer.devices == 1 and cfg.trainer.max_steps <= 20
    assert cfg.data.corpus.kind == "builtin"
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model["vocab_size"] = cfg.data.vocab_size
    assert count_parameters(model)["total"] < 1_000_000
    trainer = instantiate(cfg.trainer, logger=False, enable_progress_bar=False, enable_model_summary=False)
    assert trainer.max_steps == cfg.trainer.max_steps and trainer.accumulate_grad_batches == 1


def test_debug_tiny_keeps_table3_rows_distinguishable():
    tiny = {row: row_columns(compose_train(f"experiment=table3/{row}", "debug=tiny")) for row in TABLE3_ROWS}
    shapes = {tuple(sorted(columns.items())) for columns in tiny.values()}
    assert len(shapes) == len(tiny)
    # the structure of the rows survives the shrinking: heads, depth order, widths order, d_k below d_v
    assert [tiny[r]["n_heads"] for r in ("A1", "A2", "base", "A3", "A4")] == [1, 4, 8, 16, 32]
    assert tiny["C1"]["n_layers"] < tiny["C2"]["n_layers"] < tiny["base"]["n_layers"] < tiny["C3"]["n_layers"]
    assert tiny["C4"]["d_model"] < tiny["base"]["d_model"] < tiny["C5"]["d_model"]
    assert tiny["C6"]["d_ff"] < tiny["base"]["d_ff"] < tiny["C7"]["d_ff"]
    assert tiny["B1"]["d_k"] < tiny["B2"]["d_k"] < tiny["base"]["d_k"] == tiny["B1"]["d_v"]


@pytest.mark.parametrize("row", sorted(ROW_CHANGES))
def test_table3_row_differs_from_base_only_in_its_columns(row):
    base = row_columns(compose_train("experiment=table3/base"))
    ours = row_columns(compose_train(f"experiment=table3/{row}"))
    changed = {k: v for k, v in ours.items() if v != base[k]}
    expected = dict(ROW_CHANGES[row])
    if "d_model" in expected or "n_heads" in expected:  # d_k = d_v = d_model / h follow, as in the paper
        for key in ("d_k", "d_v"):
            value = ours["d_model"] // ours["n_heads"]
            if value != base[key]:
                expected[key] = value
    assert changed == expected


@pytest.mark.parametrize("row", TABLE3_ROWS)
def test_table3_row_is_grouped_and_tagged(row):
    cfg = compose_train(f"experiment=table3/{row}")
    assert cfg.group == "table3" and list(cfg.tags) == ["table3", row] and cfg.row == row
    assert cfg.experiment_name == "table3"  # one sweep directory for all rows


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_are_extra_rows_of_the_same_table(variant):
    cfg = compose_train(f"experiment=variants/{variant}")
    assert cfg.group == "table3" and cfg.row == variant and "variant" in cfg.tags
    assert cfg.experiment_name == "table3"


def test_paper_recipes():
    base = compose_train("experiment=paper/base_en_de")
    assert (base.data.vocab_size, base.data.tgt_lang) == (37000, "de")
    assert base.model.dropout == 0.1 and base.loss.label_smoothing == 0.1 and base.optim.warmup_steps == 4000
    assert base.trainer.max_steps == 100_000 and base.callbacks.periodic_checkpoint.save_top_k == 5
    tokens = base.data.max_tokens * base.trainer.devices * base.trainer.accumulate_grad_batches
    assert 27_000 <= tokens <= 30_000  # ~25k real tokens per side (scripts/measure_padding.py, docs/REPRODUCING.md)
    search = dict(base.decoding.test)
    assert search.pop("cuda_graphs") is True  # how the search runs on a GPU (same tokens), not a recipe setting
    assert search == {"strategy": "beam", "beam_size": 4, "alpha": 0.6, "max_len_a": 1.0, "max_len_b": 50,
                      "min_len": 0}
    big = compose_train("experiment=paper/big_en_de")
    assert (big.model.d_model, big.model.dropout, big.trainer.max_steps) == (1024, 0.3, 300_000)
    assert big.callbacks.periodic_checkpoint.save_top_k == 20
    big_fr = compose_train("experiment=paper/big_en_fr")
    assert (big_fr.data.vocab_size, big_fr.data.tgt_lang, big_fr.model.dropout) == (32000, "fr", 0.1)
    base_fr = compose_train("experiment=paper/base_en_fr")
    assert (base_fr.data.vocab_size, base_fr.model.d_model, base_fr.model.dropout) == (32000, 512, 0.1)


@pytest.mark.parametrize("row", [r for r, p in TABLE3.items() if p.params_m])
def test_describe_counts_are_within_7_percent_of_the_paper(row):
    desc = describe(compose_train(f"experiment=table3/{row}", "model.vocab_size=37000"))
    total, paper = desc["parameters"]["total"], TABLE3[row].params_m * 1e6
    assert abs(total - paper) / paper <= 0.07, f"{row}: {total / 1e6:.1f}M vs the paper's {paper / 1e6:.0f}M"
    assert desc["paper_parameters"] == paper


def test_describe_prints_counts_and_hyperparameters_as_text_and_json(capsys):
    assert describe_main(["experiment=table3/C4", "model.vocab_size=37000"]) == 0
    text = capsys.readouterr().out
    assert "total" in text and "d_model              256" in text and "tokens_per_update    28,672" in text
    assert describe_main(["--json", "experiment=table3/C4", "model.vocab_size=37000"]) == 0
    desc = json.loads(capsys.readouterr().out)
    parts = desc["parameters"]
    assert parts["total"] == parts["embeddings"] + parts["encoder"] + parts["decoder"]
    assert desc["model"]["d_model"] == 256 and desc["model"]["d_k"] == 32 and desc["model"]["vocab_size"] == 37000


def test_describe_refuses_a_bad_config_with_the_key(capsys):
    assert describe_main(["model.n_heads=3", "model.vocab_size=100"]) == 2
    assert "model.n_heads=3" in capsys.readouterr().err


def test_table3_and_variants_sweeps_list_every_config():
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for search, expected in (("table3", {f"table3/{r}" for r in TABLE3_ROWS}),
                             ("variants", {"table3/base"} | {f"variants/{v}" for v in VARIANTS})):
        cfg = compose_train(f"hparams_search={search}", hydra_config=True)
        assert cfg.hydra.mode.name == "MULTIRUN"
        parsed = OverridesParser.create().parse_overrides([f"experiment={cfg.hydra.sweeper.params.experiment}"])
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        assert {job[0].split("=", 1)[1] for job in jobs} == expected
        assert "/table3/multirun_" in cfg.hydra.sweep.dir


def test_optuna_search_maximizes_bleu_and_tolerates_failed_trials():
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason="sweep extra not installed")
    cfg = compose_train("hparams_search=optuna", hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert sweeper.max_failure_rate == 1.0 and sweeper.n_jobs == 1
    assert {"model.dropout", "loss.label_smoothing", "model.n_heads"} <= set(sweeper.params)


def test_slurm_launcher_composes_with_one_task_per_gpu():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="sweep extra not installed")
    from training_helpers import run_cli

    cfg = compose_train("hydra/launcher=slurm", hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.tasks_per_node == launcher.gpus_per_node == 1
    proc = run_cli("transformer_lab.train", "hydra/launcher=slurm", "hydra.launcher.gpus_per_node=8",
                   "hydra.launcher.tasks_per_node=8", "--cfg", "hydra", timeout=120)
    printed = OmegaConf.create(proc.stdout.split("\n", 1)[1] if proc.stdout.startswith("#") else proc.stdout)
    assert printed.hydra.launcher.gpus_per_node == printed.hydra.launcher.tasks_per_node == 8


def test_a_ddp_sweep_on_slurm_is_submitted_not_refused(tmp_path):
    """Multirun + DDP is refused locally (Lightning would re-run the sweep in every rank) but is the supported
    way on SLURM, where SLURM starts the ranks. Without a cluster the submission itself fails (no srun/sbatch);
    what must not happen is the local refusal, before submitit is even asked."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="sweep extra not installed")
    from training_helpers import run_cli

    proc = run_cli("transformer_lab.train", "-m", "experiment=table3/A1,table3/A2", "hydra/launcher=slurm",
                   "trainer=ddp", "trainer.devices=2", "hydra.launcher.gpus_per_node=2",
                   "hydra.launcher.tasks_per_node=2", f"hydra.sweep.dir={tmp_path}", timeout=120, check=False)
    assert "would start a sweep of its own" not in proc.stderr, proc.stderr[-2000:]
    assert "srun" in proc.stderr or "sbatch" in proc.stderr  # submitit was asked (and found no SLURM here)


def test_paper_checkpoint_policy_keeps_the_last_n_weights_for_averaging(tmp_path):
    """paper/base_en_de keeps the newest 5 periodic checkpoints (weights only) and they average; last.ckpt
    stays a complete resume point."""
    import torch
    from training_helpers import run_cli

    run_cli("transformer_lab.train", "experiment=paper/base_en_de", "debug=tiny", "data.max_tokens=512",
            "trainer.max_steps=14", "trainer.val_check_interval=7", "callbacks.periodic_checkpoint.every_n_train_steps=2",
            "test=false", "callbacks.attention_maps.n_sentences=0", "trainer.enable_progress_bar=false",
            f"hydra.run.dir={tmp_path}", timeout=600)
    periodic = sorted(p.name for p in (tmp_path / "checkpoints" / "periodic").glob("*.ckpt"))
    assert periodic == [f"step{s:07d}.ckpt" for s in (6, 8, 10, 12, 14)]
    assert "optimizer_states" not in torch.load(tmp_path / "checkpoints" / "periodic" / periodic[-1], weights_only=True)
    assert "optimizer_states" in torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    proc = run_cli("transformer_lab.average_checkpoints", str(tmp_path), "--last", "5", "-o", str(tmp_path / "avg.ckpt"))
    assert "steps 6, 8, 10, 12, 14" in proc.stdout


@pytest.mark.parametrize("search", ["table3", "variants"])
def test_seeds_repeat_every_row_of_table3_and_variants_sweeps(search):
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from transformer_lab.config.sweep_values import register_resolvers

    register_resolvers()  # idempotent; importing transformer_lab registers it too

    def jobs(*overrides: str, command_line: tuple[str, ...] = ()) -> list[tuple[str, str]]:
        params = compose_train(f"hparams_search={search}", *overrides, hydra_config=True).hydra.sweeper.params
        parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()] + list(command_line))
        found = [dict(o.split("=", 1) for o in job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        return [(job["experiment"], job["seed"]) for job in found]

    n_rows = len(jobs())
    assert {seed for _, seed in jobs()} == {"1234"}  # default: one seed, the config's
    assert {seed for _, seed in jobs("seed=7")} == {"7"}
    three = jobs("seeds=[1,2,3]")
    assert len(three) == 3 * n_rows and {seed for _, seed in three} == {"1", "2", "3"}
    assert len(jobs(command_line=("seed=5,6",))) == 2 * n_rows  # a command-line sweep replaces the parameter
