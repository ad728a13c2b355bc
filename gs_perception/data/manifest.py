"""The dataset manifest: one JSON line per finished (or failed) object, appended as objects complete.

JSON Lines because appending one flushed and fsynced line is the only write a finished object needs, so an
interrupted run loses at most the line being written; :func:`read_manifest` skips such a torn last line.
When an object appears more than once (a retried failure) the last line wins. Paths are relative to the
dataset root so a dataset can be moved or copied.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class ExtraFit:
    """One more independent 3DGS fit of an object's views (``DatasetConfig.fits_per_object`` > 1): the
    same images, another seed (initial points and view order), so two fits of one object differ as two
    reconstructions of one thing would. Paths are relative to the dataset root."""

    ply: str
    features: str
    seed: int
    num_gaussians: int = 0
    psnr_test: float | None = None
    fit_seconds: float = 0.0


@dataclass(frozen=True)
class ManifestEntry:
    """One object of a generated dataset (``status`` 'ok' or 'error')."""

    object_id: str
    label: str
    split: str
    status: str
    source: str = ""
    """Mesh file, or ``<set>:<class>:<seed>`` for procedural shapes (set 'shapes10' or 'shapes10hard')."""
    folder: str | None = None
    """Object folder, relative to the dataset root (views, Gaussians, features)."""
    ply: str | None = None
    features: str | None = None
    n_train_views: int = 0
    n_test_views: int = 0
    num_gaussians: int = 0
    psnr_test: float | None = None
    ssim_test: float | None = None
    fit_seconds: float = 0.0
    total_seconds: float = 0.0
    backend: str = ""
    appearance: dict | None = None
    error: str | None = None
    extra_fits: tuple[ExtraFit, ...] = ()
    """Fits 2, 3, … of the object (fit 1 is ``ply`` / ``features``), in order."""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> ManifestEntry:
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in names}
        fields["extra_fits"] = tuple(ExtraFit(**fit) for fit in fields.get("extra_fits") or ())
        return cls(**fields)

    def fit_features(self) -> tuple[str, ...]:
        """The feature caches of every fit, fit 1 first (relative to the dataset root)."""
        return (self.features, *(fit.features for fit in self.extra_fits)) if self.features else ()


def append_entry(path: str | Path, entry: ManifestEntry) -> None:
    """Append ``entry`` as one line and make it durable before returning (flush + fsync)."""
    path = Path(path)
    # A crash mid-write can leave a torn line without its newline: end it, or this entry would join it.
    torn = path.exists() and path.stat().st_size > 0 and _last_byte(path) != b"\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(("\n" if torn else "") + entry.to_json() + "\n")
        f.flush()
        os.fsync(f.fileno())


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1)


def read_manifest(path: str | Path) -> dict[str, ManifestEntry]:
    """The entries of a manifest by object id (last line wins); ``{}`` if the file does not exist.

    A line that is not valid JSON (a write cut short by a crash) is skipped with a warning naming the line.
    """
    path = Path(path)
    if not path.exists():
        return {}
    entries: dict[str, ManifestEntry] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = ManifestEntry.from_dict(json.loads(line))
        except (json.JSONDecodeError, TypeError) as err:
            print(f"warning: {path}:{number}: skipping an unreadable manifest line ({err})", file=sys.stderr)
            continue
        entries[entry.object_id] = entry
    return entries


def rewrite_manifest(path: str | Path, entries: list[ManifestEntry]) -> None:
    """Replace the manifest with ``entries`` (one line each), atomically (compacts retried objects)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(e.to_json() + "\n" for e in entries), encoding="utf-8")
    os.replace(tmp, path)
