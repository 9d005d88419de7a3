"""Fixtures for the data tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_helpers import DE, EN, write_parallel


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    """A parallel_text directory: 60 training pairs, 6 dev, 6 test (dev/test with unseen characters)."""
    train = ([f"{s} {i}" for i in range(10) for s in EN], [f"{t} {i}" for i in range(10) for t in DE])
    valid = (EN[:5] + ["Größe: 5 km² — “Zürich” 日本 🙂"], DE[:5] + ["Größe: 5 km² — „Zürich“ 日本 🙂"])
    test = (EN[1:] + ["ça va? naïve façade"], DE[1:] + ["Ça va ? naïve Fassade"])
    return write_parallel(tmp_path / "corpus", {"train": train, "valid": valid, "test": test})
