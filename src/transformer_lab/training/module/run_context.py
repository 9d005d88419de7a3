"""`RunContext`: what a `TranslationModule` needs from the run besides its own settings, given to its
constructor (nothing is attached to the module afterwards, and the module never reaches into a datamodule).

- `tokenizer`: decodes hypotheses; travels inside every checkpoint; its pad id is the model's.
- `split_texts`: split name -> (sources, references), for BLEU and the callbacks' samples and figures
  (the datamodule's `split_texts`); None where the module only translates (`translate`, `export`).
- `data_config`: the plain data settings, stored in checkpoints so that `evaluate` can rebuild the data.
- `init_from`: the record of the checkpoint the run started from (`training/init_from.py`), stored in
  checkpoints: its tokenizer, not one built from `data_config`, encodes the data (`evaluate` reads this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class TextTokenizer(Protocol):
    """The tokenizer interface the module and the callbacks use (data.tokenizer.Tokenizer and the external ones)."""

    pad_id: int

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Any) -> str: ...
    def id_to_piece(self, piece_id: int) -> str: ...
    def to_json(self) -> str: ...


SplitTexts = Callable[[str], tuple[list[str], list[str]]]


@dataclass(frozen=True)
class RunContext:
    tokenizer: TextTokenizer
    split_texts: SplitTexts | None = None
    data_config: Mapping[str, Any] | None = None
    init_from: Mapping[str, Any] | None = None

    @classmethod
    def of_datamodule(cls, datamodule: Any, data_config: Mapping[str, Any],
                      init_from: Mapping[str, Any] | None = None) -> RunContext:
        """The context of a training or evaluation run: the prepared datamodule's tokenizer and splits."""
        return cls(tokenizer=datamodule.tokenizer, split_texts=datamodule.split_texts, data_config=dict(data_config),
                   init_from=None if init_from is None else dict(init_from))

    def references(self, split: str) -> list[str]:
        if self.split_texts is None:
            raise RuntimeError(f"this module was built to translate only: it has no {split} references")
        return self.split_texts(split)[1]

    def sources(self, split: str) -> list[str]:
        if self.split_texts is None:
            raise RuntimeError(f"this module was built to translate only: it has no {split} sources")
        return self.split_texts(split)[0]
