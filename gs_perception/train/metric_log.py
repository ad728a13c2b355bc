"""A training run's ``metrics.csv`` (and TensorBoard events), resumable: shared by train-ssl and train-ff."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any


def tensorboard_writer(folder: Path) -> Any | None:
    """A TensorBoard ``SummaryWriter`` for ``folder``, or None without the optional tensorboard package."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # optional: metrics.csv has everything
        return None
    return SummaryWriter(str(folder))


class MetricLog:
    """Rows (dataclasses with a ``split`` and a ``step`` field) appended to a CSV file, and their
    ``scalars`` to TensorBoard as ``<split>/<name>``; on resume, rows past the resumed step are dropped
    first, so a resumed run's file reads as an uninterrupted one's.

    Args:
        path: The CSV file (rewritten at once: header, and the kept rows on resume).
        fields: The CSV columns: the row dataclass's field names, in order.
        scalars: The fields also written to TensorBoard.
        resume_step: The step the run resumes from; None: a fresh run (the file starts empty).
        tb: A SummaryWriter, or None.
    """

    def __init__(
        self, path: Path, fields: tuple[str, ...], scalars: tuple[str, ...], resume_step: int | None, tb
    ):
        self.path, self.fields, self.scalars, self.tb = path, fields, scalars, tb
        kept = []
        if resume_step is not None and path.exists():
            with open(path, newline="") as f:
                kept = [r for r in csv.DictReader(f) if int(r["step"]) <= resume_step]
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fields)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, row: Any) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow(dataclasses.asdict(row))
        if self.tb is not None:
            for key in self.scalars:
                self.tb.add_scalar(f"{row.split}/{key}", getattr(row, key), row.step)
