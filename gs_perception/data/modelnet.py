"""ModelNet10/40: the ``<class>/{train,test}/*.off`` index (the OFF files themselves are read by
data/meshes.py :func:`~gs_perception.data.meshes.read_off`, quirks included).

Get the data from the Princeton ModelNet page (ModelNet10.zip or ModelNet40.zip), unpack it anywhere; nothing
is downloaded at run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MeshRecord:
    """One mesh of a class-per-folder set."""

    label: str
    split: str
    path: Path

    @property
    def object_id(self) -> str:
        """``<label>/<split>/<file stem>``: unique within a dataset."""
        return f"{self.label}/{self.split}/{self.path.stem}"


def index_modelnet(root: str | Path) -> list[MeshRecord]:
    """Every ``<root>/<class>/{train,test}/*.off``, sorted by (class, split, name).

    Raises:
        FileNotFoundError: ``root`` holds no such files (names the folder and the expected layout).
    """
    root = Path(root)
    records = [
        MeshRecord(p.parent.parent.name, p.parent.name, p)
        for split in ("train", "test")
        for p in root.glob(f"*/{split}/*.off")
    ]
    if not records:
        raise FileNotFoundError(f"{root}: no ModelNet meshes found (expected <class>/train|test/*.off)")
    return sorted(records, key=lambda r: (r.label, r.split, r.path.name))
