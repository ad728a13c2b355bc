"""Result tables: mean ± std over seeds and samplings, formatted into Markdown."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EMPTY_CELL = "–"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation of the non-nan values.

    A failed run (nan) is left out rather than poisoning the mean. The std uses ddof=1 (spread over
    seeds, not of a population) and is 0.0 for a single value.

    Args:
        values: [R] results, one per seed / sampling.

    Returns:
        (mean, std); (nan, nan) when there is no finite value.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan")
    return float(x.mean()), (float(x.std(ddof=1)) if len(x) >= 2 else 0.0)


def format_mean_std(values: Sequence[float], digits: int = 3, percent: bool = False) -> str:
    """Mean ± std as a table cell: "0.912 ± 0.013", or "91.2 ± 1.3 %" with ``percent``.

    Args:
        values: [R] results (nans ignored).
        digits: Decimals of the value as a fraction; with ``percent`` the same precision is kept, i.e.
            ``digits - 2`` decimals of the percentage.
        percent: Show fractions as percentages.

    Returns:
        The cell; just the value when there is a single one (no spread to show), "–" when none.
    """
    mean, std = mean_std(values)
    if math.isnan(mean):
        return EMPTY_CELL
    scale, places, unit = (100.0, max(digits - 2, 0), " %") if percent else (1.0, digits, "")
    n = int(np.count_nonzero(~np.isnan(np.asarray(values, dtype=np.float64))))
    if n == 1:
        return f"{mean * scale:.{places}f}{unit}"
    return f"{mean * scale:.{places}f} ± {std * scale:.{places}f}{unit}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table ("|" inside cells is escaped).

    Args:
        header: [C] column titles.
        rows: [R][C] cells, already formatted.

    Returns:
        The table, lines joined by newlines (no trailing newline).
    """
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {i} has {len(row)} cells, the header {len(header)}")

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header)] + [line(r) for r in rows])
