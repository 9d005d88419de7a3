"""Typed settings of the training module: its config sections (model, optim, loss, decoding, nonfinite,
compile) as dataclasses, parsed once from plain mappings by `ModuleSettings.from_plain`.

Each component receives only its own section (the project's style). Parsing names any unknown key and any
value of the wrong type or range with its config path, so a typo fails before training starts (and, through
the sweeper, before the first job of a sweep). `ModuleSettings.to_plain` is what checkpoints store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from transformer_lab.config.checks import ConfigError
from transformer_lab.config.parsing import as_plain_dict, dataclass_from_mapping
from transformer_lab.decoding.config import SearchConfig
from transformer_lab.model.config import TransformerConfig


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


@dataclass
class NonFiniteConfig:
    """What a NaN/inf loss or gradient does (training/module/nonfinite.py)."""

    policy: str = "skip"  # skip | stop | off
    max_consecutive: int = 5  # bad updates in a row before stopping (policy=skip)

    def __post_init__(self) -> None:
        if self.policy not in ("skip", "stop", "off"):
            raise ValueError(f"nonfinite.policy must be 'skip', 'stop' or 'off', got {self.policy!r}")
        if self.max_consecutive < 1:
            raise ValueError(f"nonfinite.max_consecutive must be >= 1, got {self.max_consecutive}")


@dataclass
class CompileConfig:
    """`torch.compile` of the training step: the forward pass and the label-smoothed loss, so that the
    backward pass runs through the compiled graph too (Adam stays PyTorch's fused kernel). Validation and
    test decoding are not compiled. See `training/module/compiled_step.py`."""

    enabled: bool = False
    # torch.compile's `dynamic`: None compiles the first batch's shapes, then once more with the lengths
    # and batch size that changed made symbolic; False specializes on every (B, S, T) (one compile each).
    dynamic: bool | None = None
    # torch.compile's `mode`: None is its default. "max-autotune-no-cudagraphs" also benchmarks Triton
    # matrix-product templates against cuBLAS at compile time (minutes more on the first steps; GPU only
    # gains). The CUDA-graph modes ("reduce-overhead", "max-autotune") keep one graph per batch shape.
    mode: str | None = None

    def __post_init__(self) -> None:
        if self.mode is not None and self.mode not in COMPILE_MODES:
            raise ValueError(f"compile.mode={self.mode!r} is not valid: it must be null or one of "
                             f"{', '.join(COMPILE_MODES)} (torch.compile's modes)")


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

MODULE_SECTIONS = ("model", "optim", "loss", "decoding", "nonfinite", "compile")


@dataclass(frozen=True)
class ModuleSettings:
    """Everything a TranslationModule is configured with, typed and checked (the model's vocabulary size and
    pad id are the tokenizer's, filled in by `training.preflight.module_settings`)."""

    model: TransformerConfig
    optim: OptimConfig
    loss: LossConfig
    decoding: DecodingConfig
    nonfinite: NonFiniteConfig
    compile: CompileConfig = field(default_factory=CompileConfig)

    @classmethod
    def from_plain(cls, sections: Mapping[str, Mapping[str, Any] | None]) -> ModuleSettings:
        """Plain mappings (a checkpoint's hyperparameters, or the job's sections) -> checked settings."""
        model = sections.get("model")
        if model is None:
            raise ConfigError("no `model` section: the module needs the model's settings")
        try:
            model_config = TransformerConfig.from_mapping(model).validate()
            decoding = DecodingConfig.from_mapping(sections.get("decoding"))
        except ValueError as error:
            raise ConfigError(str(error)) from None
        return cls(
            model=model_config,
            optim=dataclass_from_mapping(OptimConfig, sections.get("optim"), "optim"),
            loss=dataclass_from_mapping(LossConfig, sections.get("loss"), "loss"),
            decoding=decoding,
            nonfinite=dataclass_from_mapping(NonFiniteConfig, sections.get("nonfinite"), "nonfinite"),
            compile=dataclass_from_mapping(CompileConfig, sections.get("compile"), "compile"),
        )

    def to_plain(self) -> dict[str, dict[str, Any]]:
        """Nested plain containers (what checkpoints store: they load with `weights_only=True`)."""
        return {name: as_plain_dict(getattr(self, name)) for name in MODULE_SECTIONS}

    def with_search(self, search: SearchConfig) -> ModuleSettings:
        """The same settings decoding both validation and test with `search` (evaluate's `search=` override)."""
        return replace(self, decoding=DecodingConfig(val=search, test=search))
