"""The paper's Table 3 (newstest2013 dev, beam search, no averaging) as data, for side-by-side comparison.

Values are copied from the paper (Vaswani et al., 2017, Table 3); row labels A1..E1 are this project's
names for the paper's unnamed rows, in the paper's order. `None` = the paper leaves the cell blank (same as base) or gives no
number (params for rows A, D, E).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperRow:
    ppl: float
    bleu: float
    params_m: float | None  # x10^6, assuming the shared ~37k vocabulary and tied embeddings


TABLE3: dict[str, PaperRow] = {
    "base": PaperRow(4.92, 25.8, 65),
    "A1": PaperRow(5.29, 24.9, None),
    "A2": PaperRow(5.00, 25.5, None),
    "A3": PaperRow(4.91, 25.8, None),
    "A4": PaperRow(5.01, 25.4, None),
    "B1": PaperRow(5.16, 25.1, 58),
    "B2": PaperRow(5.01, 25.4, 60),
    "C1": PaperRow(6.11, 23.7, 36),
    "C2": PaperRow(5.19, 25.3, 50),
    "C3": PaperRow(4.88, 25.5, 80),
    "C4": PaperRow(5.75, 24.5, 28),
    "C5": PaperRow(4.66, 26.0, 168),
    "C6": PaperRow(5.12, 25.4, 53),
    "C7": PaperRow(4.75, 26.2, 90),
    "D1": PaperRow(5.77, 24.6, None),
    "D2": PaperRow(4.95, 25.5, None),
    "D3": PaperRow(4.67, 25.3, None),
    "D4": PaperRow(5.47, 25.7, None),
    "E1": PaperRow(4.92, 25.7, None),
    "big": PaperRow(4.33, 26.4, 213),
}

ROW_ORDER: list[str] = list(TABLE3)  # the paper's order; other rows (variants, sweeps) follow it
