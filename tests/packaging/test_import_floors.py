"""The package's floors (docs/ARCHITECTURE.md): a module imports only from its own floor or the floors below.

    entry points     train, evaluate, translate, describe, prepare, average_checkpoints, the package's __init__
                     and the command-line mains of export / report / benchmark
    applications     export, report, benchmark
    inference        building a module from a checkpoint, translating lines, scoring
    training         the job, the LightningModule, records, callbacks, logging, runtime; resolvers
    checkpointing    the run directory's files, checkpoint reading/writing, resume
    decoding         greedy and beam search, dynamic and CUDA-graph
    building blocks  model, data (neither imports the other)
    shared           special_tokens, config

Read from the source with `ast` (see test_import_cycles.py), deferred imports included.

On the top floor, no entry point imports another: what two commands share lives on a floor below
(translating lines and scoring are in `inference`, not in `translate` and `evaluate`).
"""

from __future__ import annotations

from test_import_cycles import PACKAGE, import_graph

FLOORS = {
    "special_tokens": 0, "config": 0,
    "model": 1, "data": 1,
    "decoding": 2,
    "checkpointing": 3,
    "training": 4, "resolvers": 4,
    "inference": 5,
    "export": 6, "report": 6, "benchmark": 6,
    "train": 7, "evaluate": 7, "translate": 7, "describe": 7, "prepare": 7, "average_checkpoints": 7, "import_model": 7,
    "": 7,
}
ENTRY_POINTS = 7
COMMAND_LINES = {"export.__main__", "report.__main__", "benchmark.__main__", "benchmark.cli"}
NEIGHBOURS_APART = {("model", "data"), ("data", "model")}  # same floor, no imports between them


def part_of(module: str) -> tuple[str, int]:
    """(top-level part, floor) of a dotted module name."""
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    if relative in COMMAND_LINES:
        return relative, ENTRY_POINTS
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


def command_of(module: str) -> str | None:
    """The command (entry point) a module belongs to, or None below the top floor. The modules of one
    command-line package (`benchmark.__main__` and `benchmark.cli`) are one command."""
    part, floor = part_of(module)
    return part.split(".")[0] if floor == ENTRY_POINTS else None


def test_no_entry_point_imports_another():
    crossing = []
    for module, targets in import_graph().items():
        command = command_of(module)
        if command is None:
            continue
        for target in targets - {PACKAGE}:  # the package itself (its __version__), as above
            target_command = command_of(target)
            if target_command is not None and target_command != command:
                crossing.append(f"{module} (entry point {command or PACKAGE}) imports {target} "
                                f"(entry point {target_command or PACKAGE})")
    assert not crossing, ("entry points importing entry points (move what they share to a floor below, "
                          "e.g. inference):\n  " + "\n  ".join(sorted(crossing)))
