"""Type and range checks of the config values a user types, with the key in every message.

Checked before a run starts and, by the sweeper, before the first job of a sweep: `trainer.max_steps=ten`
or `data.max_tokens=0` is refused at once, naming the key, instead of failing deep inside Lightning or
the data pipeline (or at job 2 of a sweep). The module's own sections (optim, loss, decoding, nonfinite)
are dataclasses and are checked from their field types by `check_fields`; the trainer and data sections
are Lightning's and the datamodule's arguments, checked from the tables below.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any


class ConfigError(ValueError):
    """A configuration that cannot run, with the key to change in the message."""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# A check: (predicate, what the value must be). Keys missing from a section are not checked.
Check = tuple[Callable[[Any], bool], str]


def integer(minimum: int) -> Check:
    return (lambda v: is_int(v) and v >= minimum), f"an integer >= {minimum}"


def number(minimum: float, strictly: bool = False) -> Check:
    if strictly:
        return (lambda v: is_number(v) and v > minimum), f"a number > {minimum:g}"
    return (lambda v: is_number(v) and v >= minimum), f"a number >= {minimum:g}"


def optional(check: Check) -> Check:
    predicate, text = check
    return (lambda v: v is None or predicate(v)), f"null or {text}"


BOOLEAN: Check = (lambda v: isinstance(v, bool)), "true or false"
DURATION = re.compile(r"^\d+:\d{1,2}:\d{1,2}:\d{1,2}$")
PRECISIONS = {"64-true", "64", 64, "32-true", "32", 32, "16-mixed", "16", 16, "bf16-mixed", "bf16",
              "16-true", "bf16-true", "transformer-engine", "transformer-engine-float16"}

TRAINER_CHECKS: dict[str, Check] = {
    "max_steps": ((lambda v: is_int(v) and (v == -1 or v >= 1)), "a positive integer (or -1: no limit)"),
    "max_epochs": optional(((lambda v: is_int(v) and (v == -1 or v >= 1)), "a positive integer (or -1: no limit)")),
    "max_time": optional(((lambda v: isinstance(v, str) and bool(DURATION.match(v))), 'a duration "DD:HH:MM:SS"')),
    "val_check_interval": ((lambda v: (is_int(v) and v >= 1) or (isinstance(v, float) and 0.0 < v <= 1.0)),
                           "a number of batches (integer >= 1) or a fraction of an epoch in (0, 1]"),
    "check_val_every_n_epoch": optional(integer(1)),
    "accumulate_grad_batches": integer(1),
    "gradient_clip_val": optional(number(0.0)),
    "precision": ((lambda v: v in PRECISIONS), f"one of {', '.join(sorted(str(p) for p in PRECISIONS if isinstance(p, str)))}"),
    "log_every_n_steps": integer(1),
    "num_sanity_val_steps": ((lambda v: is_int(v) and v >= -1), "an integer >= 0 (or -1: the whole dev set)"),
    "devices": ((lambda v: (is_int(v) and (v >= 1 or v == -1)) or isinstance(v, (str, list))),
                "a number of devices >= 1, -1 (all), \"auto\" or a list of device indices"),
    "num_nodes": integer(1),
    "enable_progress_bar": BOOLEAN,
    "enable_model_summary": BOOLEAN,
    # the datamodule shards its token-bucket batches across ranks itself: Lightning's distributed sampler would
    # shard them a second time under DDP (refused here, from the config: the trainer's own flag is private)
    "use_distributed_sampler": ((lambda v: v is False),
                                "false (`trainer.use_distributed_sampler=false`, as conf/trainer/default.yaml sets): "
                                "the datamodule shards its token-bucket batches across ranks itself, and Lightning's "
                                "distributed sampler would shard them a second time"),
    "benchmark": optional(BOOLEAN),
    "deterministic": ((lambda v: isinstance(v, bool) or v == "warn" or v is None), 'true, false or "warn"'),
}

DATA_CHECKS: dict[str, Check] = {
    "vocab_size": ((lambda v: is_int(v) and v > 4), "an integer above 4 (the special tokens come first)"),
    "min_frequency": integer(1),
    "max_tokens": integer(1),
    "eval_max_tokens": optional(integer(1)),
    "pad_to_multiple_of": integer(1),
    "max_length": integer(1),
    "max_chars": integer(1),
    "max_length_ratio": number(1.0),
    "num_workers": integer(0),
    "pin_memory": ((lambda v: isinstance(v, bool) or v == "auto"), 'true, false or "auto" (pin when a GPU is visible)'),
    "bpe_sample_sentences": optional(integer(1)),
    "tokenizer_file": optional(((lambda v: isinstance(v, str) and bool(v)), "a path to a tokenizer.json or a sentencepiece .model")),
    "seed": integer(0),
}

TOP_LEVEL_CHECKS: dict[str, Check] = {"seed": integer(0), "fit": BOOLEAN, "test": BOOLEAN}


def one_of(options: Mapping[str, Any] | list[str]) -> Check:
    return (lambda v: v in options), f"one of {', '.join(options)}"


# `early_stopping.metric` is checked against the tracked dev metrics by training/preflight.py (one_of)
EARLY_STOPPING_CHECKS: dict[str, Check] = {
    "patience": optional(((lambda v: is_int(v) and v >= 1),
                          "an integer >= 1 (validations without improvement before stopping); null turns it off")),
    "min_delta": number(0.0),
}


def check_section(values: Mapping[str, Any] | None, checks: Mapping[str, Check], section: str) -> None:
    """Raises ConfigError naming `section.key`, the value and what it must be, for the first bad value."""
    values = values or {}
    for key, (predicate, expected) in checks.items():
        if key in values and not predicate(values[key]):
            prefix = f"{section}." if section else ""
            raise ConfigError(f"{prefix}{key}={values[key]!r} is not valid: it must be {expected}")


def check_fields(cls: type, values: Mapping[str, Any], section: str) -> None:
    """Checks each value against the dataclass field's type hint (int, float, str, bool, tuples of them)."""
    hints = typing.get_type_hints(cls)
    for field in fields(cls):
        if field.name in values and not _matches(values[field.name], hints[field.name]):
            raise ConfigError(f"{section}.{field.name}={values[field.name]!r} is not valid: it must be "
                              f"{_describe(hints[field.name])}")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is tuple:
        args = typing.get_args(hint)
        return isinstance(value, (list, tuple)) and len(value) == len(args) and all(map(_matches, value, args))
    if hint is float:
        return is_number(value)
    if hint is int:
        return is_int(value)
    if hint is bool:
        return isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # nested dataclasses are checked by their own section


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    if origin is tuple:
        return f"a list of {len(typing.get_args(hint))} numbers"
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string",
            type(None): "null"}.get(hint, str(hint))
