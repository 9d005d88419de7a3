"""Provenance: versions from the installed distributions, the git state of a checkout, none outside one."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import torch

from transformer_lab.training.records.provenance import collect_provenance, library_versions, read_git_state


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path) -> Path:
    """A git repository laid out like this project: src/transformer_lab/ committed."""
    package = tmp_path / "repo" / "src" / "transformer_lab"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    repo = tmp_path / "repo"
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return package


def test_git_state_of_a_clean_checkout_names_its_commit(checkout):
    assert read_git_state(checkout) == {"commit": _git(checkout, "rev-parse", "HEAD"), "dirty": False}


def test_a_modified_tracked_file_makes_the_checkout_dirty_an_untracked_one_does_not(checkout):
    (checkout / "notes.txt").write_text("untracked\n")
    assert read_git_state(checkout)["dirty"] is False
    (checkout / "__init__.py").write_text("x = 2\n")
    assert read_git_state(checkout)["dirty"] is True


def test_no_git_state_outside_a_checkout(tmp_path):
    package = tmp_path / "site-packages" / "transformer_lab"
    package.mkdir(parents=True)
    assert read_git_state(package) == {"commit": None, "dirty": None}


def test_no_git_state_from_another_projects_repository(tmp_path):
    # e.g. a virtual environment inside the user's own repository: its commit says nothing about our code
    package = tmp_path / ".venv" / "lib" / "site-packages" / "transformer_lab"
    package.mkdir(parents=True)
    _git(tmp_path, "init", "-q")
    (tmp_path / "a").write_text("a")
    _git(tmp_path, "add", "a")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    assert read_git_state(package) == {"commit": None, "dirty": None}


def test_versions_come_from_the_installed_distributions():
    versions = library_versions()
    assert versions["torch"] == torch.__version__
    assert versions["sacrebleu"] == metadata.version("sacrebleu")
    assert versions["hydra-core"] == metadata.version("hydra-core")
    assert set(versions) == {"torch", "lightning", "hydra-core", "sacrebleu", "transformer_lab"}


def test_provenance_without_a_trainer_has_versions_and_git_only():
    provenance = collect_provenance()
    assert set(provenance) == {"versions", "git"}
