"""Config sections to typed dataclasses and back: the one parser every section goes through, and the plain
form that checkpoints store (they load with `torch.load(weights_only=True)`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, TypeVar

from transformer_lab.config.checks import ConfigError, check_fields

T = TypeVar("T")


def dataclass_from_mapping(cls: type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """Build dataclass `cls` from a mapping, rejecting unknown keys and values of the wrong type with the
    config path in the message (ranges are each dataclass's own `__post_init__`)."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
            f"valid keys of `{section}` are: {', '.join(sorted(known))}"
        )
    check_fields(cls, values, section)
    try:
        return cls(**values)
    except ConfigError:
        raise
    except ValueError as error:  # a range check of `__post_init__`: its message names the key
        raise ConfigError(str(error)) from None


def as_plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as nested plain containers (safe for `torch.load(weights_only=True)`)."""
    return _lists_for_tuples(asdict(obj))


def _lists_for_tuples(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _lists_for_tuples(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [_lists_for_tuples(item) for item in value]
    return value
