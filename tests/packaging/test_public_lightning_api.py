"""The package reads Lightning's trainer and strategies through their public API only: a private attribute
(`trainer._accelerator_connector`, `strategy._start_method`) changes without notice between releases."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "transformer_lab"
LIGHTNING_OBJECTS = ("trainer", "strategy", "connector", "fit_loop", "epoch_loop")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _names_lightning_object(node: ast.AST) -> bool:
    return ast.unparse(node).split(".")[-1].lower().endswith(LIGHTNING_OBJECTS)


def private_reads(source: str) -> list[str]:
    """`x._name` and `getattr(x, "_name", ...)` where x is a trainer, strategy or loop."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and _names_lightning_object(node.value):
            found.append(ast.unparse(node))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str) and _is_private(node.args[1].value)
                and _names_lightning_object(node.args[0])):
            found.append(ast.unparse(node))
    return found


def test_the_checker_finds_both_shapes_of_private_read():
    assert private_reads("c = self.trainer._accelerator_connector") == ["self.trainer._accelerator_connector"]
    assert private_reads("m = getattr(strategy, '_start_method', 'popen')") == ["getattr(strategy, '_start_method', 'popen')"]
    assert private_reads("n = trainer.world_size; s = self._texts; t = trainer.__class__") == []


def test_no_module_reads_a_private_lightning_attribute():
    reads = {str(path.relative_to(PACKAGE)): found for path in sorted(PACKAGE.rglob("*.py"))
             if (found := private_reads(path.read_text(encoding="utf-8")))}
    assert not reads, f"private Lightning attributes read: {reads}"
