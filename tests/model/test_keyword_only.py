"""Arguments that could be swapped unnoticed are keyword-only: no hand-written constructor in the model
package takes two positional parameters of the same type (e.g. a decoder layer's three residual wrappers,
an attention module's sizes), and neither do the named functions below."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import transformer_lab.model as model_package
from transformer_lab.decoding.limits import max_output_lengths
from transformer_lab.model.attention import attend
from transformer_lab.model.positional import build_positional

FUNCTIONS = [build_positional, max_output_lengths]


def swappable(function) -> list[str]:
    """Names of the positional parameters sharing their annotation with another positional parameter."""
    positional = [p for p in inspect.signature(function).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"]
    types = [str(p.annotation) for p in positional]
    return [p.name for p, t in zip(positional, types) if types.count(t) > 1]


def constructors() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(model_package.__path__):
        module = importlib.import_module(f"{model_package.__name__}.{info.name}")
        out += [cls for cls in vars(module).values() if inspect.isclass(cls) and cls.__module__ == module.__name__
                and "__init__" in vars(cls) and not dataclasses.is_dataclass(cls)]
    return out


def test_swappable_finds_same_typed_positional_parameters():
    def f(a: int, b: str, c: int, *, d: int) -> None: ...

    assert swappable(f) == ["a", "c"]


def test_no_constructor_or_listed_function_takes_swappable_positional_arguments():
    found = constructors()
    assert {"DecoderLayer", "EncoderLayer", "SelfAttention", "CrossAttention", "FeedForward"} <= {c.__name__ for c in found}
    offenders = {c.__qualname__: swappable(c.__init__) for c in found} | {f.__name__: swappable(f) for f in FUNCTIONS}
    assert not {name: names for name, names in offenders.items() if names}


def test_attention_takes_only_q_k_v_by_position():
    assert swappable(attend) == ["q", "k", "v"]  # scaled_dot_product_attention's order; mask and flags by name
