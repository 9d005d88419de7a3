"""The package's floors (docs/ARCHITECTURE.md): a module imports only from its own floor or the floors below.

    entry points     train, evaluate, translate, describe, prepare, average_checkpoints, the package's __init__
                     and the command-line mains of export / report / benchmark
    applications     export, report, benchmark
    wiring           training, checkpointing, resolvers and seeds (the config resolvers)
    building blocks  model, data (neither imports the other)
    shared           special_tokens, config_dir

Read from the source with `ast` (see test_import_cycles.py), deferred imports included.
"""

from __future__ import annotations

from test_import_cycles import PACKAGE, import_graph

FLOORS = {
    "special_tokens": 0, "config_dir": 0,
    "model": 1, "data": 1,
    "training": 2, "checkpointing": 2, "checkpoints": 2, "resolvers": 2, "seeds": 2,
    "export": 3, "report": 3, "benchmark": 3,
    "train": 4, "evaluate": 4, "translate": 4, "describe": 4, "prepare": 4, "average_checkpoints": 4, "": 4,
}
COMMAND_LINES = {"export.__main__", "report.__main__", "benchmark.__main__", "benchmark.cli"}
NEIGHBOURS_APART = {("model", "data"), ("data", "model")}  # same floor, no imports between them


def part_of(module: str) -> tuple[str, int]:
    """(top-level part, floor) of a dotted module name."""
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    if relative in COMMAND_LINES:
        return relative, 4
    top = relative.split(".")[0]
    assert top in FLOORS, f"{module}: a new top-level part; give it a floor in FLOORS and docs/ARCHITECTURE.md"
    return top, FLOORS[top]


def test_every_import_goes_to_the_same_floor_or_below():
    upward = []
    for module, targets in import_graph().items():
        part, floor = part_of(module)
        for target in targets - {PACKAGE}:  # the package itself (its __version__) is imported before any module of it
            target_part, target_floor = part_of(target)
            if target_floor > floor or (part, target_part) in NEIGHBOURS_APART:
                upward.append(f"{module} (floor {floor}) imports {target} (floor {target_floor})")
    assert not upward, "imports against the floors:\n  " + "\n  ".join(sorted(upward))
