"""Plain dataclasses for the training module's own config sections (optim, loss, decoding).

Each component receives only its own section (the project's style). They are built from the Hydra config with
`from_mapping`, which names any unknown key and any value of the wrong type, so a typo fails before
training starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from transformer_lab.training.value_checks import ConfigError, check_fields

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
    return cls(**values)


@dataclass
class OptimConfig:
    """Adam with the paper's inverse-square-root warmup schedule (§5.3)."""

    warmup_steps: int = 4000
    lr_scale: float = 1.0  # multiplies the schedule; 1.0 is the paper's formula exactly
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)  # type: ignore[assignment]
        if self.warmup_steps <= 0:
            raise ValueError(f"optim.warmup_steps must be positive, got {self.warmup_steps}")
        if self.lr_scale <= 0:
            raise ValueError(f"optim.lr_scale must be positive, got {self.lr_scale}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"optim.betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.eps <= 0 or self.weight_decay < 0:
            raise ValueError(f"optim.eps must be positive and optim.weight_decay >= 0, got {self.eps}, {self.weight_decay}")


@dataclass
class LossConfig:
    label_smoothing: float = 0.1  # eps_ls of §5.4

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"loss.label_smoothing must be in [0, 1), got {self.label_smoothing}")


@dataclass
class SearchConfig:
    """How to decode: the paper's beam 4, alpha 0.6, max length = source length + 50 (§6.1)."""

    strategy: str = "beam"  # beam | greedy
    beam_size: int = 4
    alpha: float = 0.6  # GNMT length penalty exponent
    max_len_a: float = 1.0  # max output length = a * source length + b
    max_len_b: int = 50

    def __post_init__(self) -> None:
        if self.strategy not in ("beam", "greedy"):
            raise ValueError(f"decoding strategy must be 'beam' or 'greedy', got {self.strategy!r}")
        if self.beam_size < 1:
            raise ValueError(f"decoding beam_size must be >= 1, got {self.beam_size}")
        if self.alpha < 0 or self.max_len_a < 0 or self.max_len_b < 0:
            raise ValueError(f"decoding alpha, max_len_a and max_len_b must be >= 0, got {self.alpha}, "
                             f"{self.max_len_a}, {self.max_len_b}")


@dataclass
class DecodingConfig:
    val: SearchConfig = field(default_factory=SearchConfig)  # during training (greedy is cheaper)
    test: SearchConfig = field(default_factory=SearchConfig)  # test split and `evaluate`

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> DecodingConfig:
        values = dict(values or {})
        unknown = sorted(set(values) - {"val", "test"})
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join('decoding.' + k for k in unknown)}; valid: val, test")
        return cls(
            val=dataclass_from_mapping(SearchConfig, values.get("val"), "decoding.val"),
            test=dataclass_from_mapping(SearchConfig, values.get("test"), "decoding.test"),
        )


def as_plain_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as nested plain containers (safe for `torch.load(weights_only=True)`)."""
    out = asdict(obj)
    for key, value in out.items():
        if isinstance(value, tuple):
            out[key] = list(value)
    return out
