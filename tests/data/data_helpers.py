"""Helpers for the data tests: small corpora written by the tests themselves (no network)."""

from __future__ import annotations

from pathlib import Path

EN = ["the dog sees the cat .", "a small house stands in the garden .", "we eat bread every day .",
      "the old man reads a long book .", "she calls her brother tomorrow .", "they work in the city ."]
DE = ["der Hund sieht die Katze .", "ein kleines Haus steht im Garten .", "wir essen jeden Tag Brot .",
      "der alte Mann liest ein langes Buch .", "sie ruft morgen ihren Bruder an .", "sie arbeiten in der Stadt ."]


def write_parallel(directory: Path, splits: dict[str, tuple[list[str], list[str]]],
                   src: str = "en", tgt: str = "de") -> Path:
    """DIR/{split}.{src,tgt} with one line per sentence (newline-terminated)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, (sources, targets) in splits.items():
        (directory / f"{split}.{src}").write_text("".join(s + "\n" for s in sources), encoding="utf-8")
        (directory / f"{split}.{tgt}").write_text("".join(t + "\n" for t in targets), encoding="utf-8")
    return directory
