"""The packaged configs, a lab's own configs on Hydra's search path, and the console scripts."""

from __future__ import annotations

import contextlib
import importlib
import io
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from transformer_lab.config.directory import CONFIG_DIR, config_dir
from transformer_lab.describe import compose_train_config, describe

REPO = Path(__file__).resolve().parents[2]
LAB_EXPERIMENT = """# @package _global_
defaults:
  - /experiment/toy
experiment_name: lab_wide
model:
  d_ff: 96
"""


def test_the_config_dir_of_a_checkout_is_its_conf():
    assert config_dir() == REPO / "conf" and CONFIG_DIR == str(REPO / "conf")
    assert (config_dir() / "train.yaml").is_file() and (config_dir() / "evaluate.yaml").is_file()


@pytest.fixture
def lab(tmp_path) -> Path:
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "lab_wide.yaml").write_text(LAB_EXPERIMENT)
    return tmp_path


def test_a_lab_experiment_on_the_search_path_extends_a_packaged_one(lab):
    desc = describe(compose_train_config([f"hydra.searchpath=[file://{lab}]", "experiment=lab_wide"]))
    assert desc["experiment"] == "lab_wide"
    assert desc["model"]["d_ff"] == 96 and desc["model"]["d_model"] == 128  # the rest from experiment=toy


def test_train_takes_a_config_dir_from_any_directory(lab, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "transformer_lab.train", "--config-dir", str(lab),
                           "experiment=lab_wide", "--cfg", "job"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "experiment_name: lab_wide" in proc.stdout and "d_ff: 96" in proc.stdout


def test_every_console_script_points_at_an_entry_point_that_answers_help():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    expected = {"tlab-train", "tlab-evaluate", "tlab-translate", "tlab-prepare", "tlab-describe", "tlab-report",
                "tlab-average-checkpoints", "tlab-export"}
    assert expected <= set(scripts)
    for name, target in scripts.items():
        module_name, function = target.split(":")
        main = getattr(importlib.import_module(module_name), function)
        if module_name in ("transformer_lab.train", "transformer_lab.evaluate"):  # Hydra's own --help
            proc = subprocess.run([sys.executable, "-m", module_name, "--help"], capture_output=True, text=True,
                                  timeout=300)
            assert proc.returncode == 0 and "Powered by Hydra" in proc.stdout, (name, proc.stderr)
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            assert main(["--help"]) in (0, None)
        assert "usage" in out.getvalue().lower(), (name, out.getvalue())
