"""``dataset.json``: the settings a dataset was made with, checked on every rerun.

A rerun must use the same content settings, or objects made two ways would mix in one dataset. Two kinds of
field are exempt: fields added to the config after a dataset was made read as their defaults, and
*extendable* fields (``fits_per_object``) may change, because raising them adds work to finished objects
instead of changing what they are; the record then follows the latest run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from pathlib import Path

from ..provenance import provenance


def check_or_write_record(root: Path, wanted: dict, defaults: dict, extendable: Iterable[str] = ()) -> None:
    """Write ``root/dataset.json`` on the first run; on later runs, check it against ``wanted``.

    Args:
        root: Dataset root.
        wanted: This run's content settings as JSON types (run-only fields removed).
        defaults: The same for a default config (what a field missing from an older record means).
        extendable: Fields that may differ; the record is updated to this run's values.

    Raises:
        ValueError: Another content setting differs; the message lists them.
    """
    path = root / "dataset.json"
    extendable = tuple(extendable)
    if not path.exists():
        record = {"config": wanted, "provenance": provenance(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        _write(path, record)
        return
    record = json.loads(path.read_text())
    saved = record.get("config", {})
    differ = sorted(
        k
        for k in wanted.keys() | saved.keys()
        if k not in extendable and wanted.get(k) != saved.get(k, defaults.get(k))
    )
    if differ:
        raise ValueError(
            f"{root} was generated with different settings ({', '.join(differ)}); "
            "use the same config to resume, or a new --out folder"
        )
    if any(saved.get(k, defaults.get(k)) != wanted.get(k) for k in extendable):
        record["config"] = {**saved, **{k: wanted[k] for k in extendable}}
        _write(path, record)


def _write(path: Path, record: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
