"""docs/ARCHITECTURE.md keeps up with the tree: it names every module of src/ with its role, and every source path
it names exists (a moved or deleted module cannot leave a stale statement behind)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
PACKAGE = SRC / "transformer_lab"
DOC = REPO / "docs" / "ARCHITECTURE.md"
# a module as the doc's module map names it: `path/relative/to/the/package.py` in the first cell of a table row
MAP_ROW = re.compile(r"^\|\s*`([\w/]+\.py)`\s*\|\s*(.*?)\s*\|\s*$", re.M)
# any path the doc mentions, outside the module map too
MENTIONED = re.compile(r"(?<![\w./-])((?:[\w-]+/)*[\w-]+\.py)\b")


def package_modules() -> set[str]:
    """Every module of the package and of the sweeper plugin, as a path relative to src/transformer_lab
    (the plugin relative to src/)."""
    modules = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")}
    modules |= {str(p.relative_to(SRC)) for p in (SRC / "hydra_plugins").rglob("*.py")}
    return modules


def module_map() -> dict[str, str]:
    return dict(MAP_ROW.findall(DOC.read_text(encoding="utf-8")))


def test_the_module_map_names_every_module_with_its_role():
    described = module_map()
    missing = sorted(package_modules() - set(described))
    assert not missing, "docs/ARCHITECTURE.md's module map lacks: " + ", ".join(missing)
    roleless = sorted(path for path, role in described.items() if len(role.split()) < 3)
    assert not roleless, "module map rows without a role: " + ", ".join(roleless)


def test_the_module_map_names_no_module_that_does_not_exist():
    stale = sorted(set(module_map()) - package_modules())
    assert not stale, "docs/ARCHITECTURE.md's module map names modules that are gone: " + ", ".join(stale)


def test_every_source_path_the_doc_mentions_exists():
    """A path is looked up in the package, under src/, and from the repository root (tests/, scripts/, setup.py)."""
    stale = []
    for path in sorted(set(MENTIONED.findall(DOC.read_text(encoding="utf-8")))):
        if not any((base / path).is_file() for base in (PACKAGE, SRC, REPO)):
            stale.append(path)
    assert not stale, "docs/ARCHITECTURE.md mentions files that do not exist: " + ", ".join(stale)


def test_no_folder_of_the_package_holds_more_than_fifteen_modules():
    crowded = {str(folder.relative_to(SRC)): n for folder in [PACKAGE, *PACKAGE.rglob("*/")]
               if folder.is_dir() and (n := len(list(folder.glob("*.py")))) > 15}
    assert not crowded, f"folders with more than 15 modules (split them into rooms): {crowded}"
