"""ModelNet10/40 meshes: a tolerant OFF reader and the ``<class>/{train,test}/*.off`` index.

Get the data from the Princeton ModelNet page (ModelNet10.zip or ModelNet40.zip), unpack it anywhere; nothing
is downloaded at run time. Many ModelNet files break the OFF spec by putting the counts on the first line
(``OFF490 518 0``) instead of the line after ``OFF``; :func:`read_off` reads both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from .meshes import MeshError, check_mesh


def _tokens(text: str) -> list[str]:
    """Whitespace tokens with ``#`` comments removed."""
    return " ".join(line.split("#", 1)[0] for line in text.splitlines()).split()


def read_off(path: str | Path) -> trimesh.Trimesh:
    """Read an OFF mesh (standard or ModelNet's ``OFF<nv> <nf> <ne>`` first line), polygons fan-triangulated.

    Args:
        path: ``.off`` file.

    Returns:
        The triangle mesh (file units, no normalisation).

    Raises:
        MeshError: Naming the file: missing ``OFF`` header, bad counts, too few numbers (truncated file),
            face indices out of range, or degenerate geometry.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MeshError(f"{path}: cannot read ({exc})") from exc
    tokens = _tokens(text)
    if not tokens or not tokens[0].startswith("OFF"):
        raise MeshError(f"{path}: not an OFF file (no 'OFF' header)")
    head = tokens[0][3:]  # the ModelNet quirk: counts glued to the header
    tokens = ([head] if head else []) + tokens[1:]
    try:
        n_vertices, n_faces = int(tokens[0]), int(tokens[1])
        numbers = tokens[3:]
        vertices = np.asarray(numbers[: 3 * n_vertices], dtype=np.float64).reshape(n_vertices, 3)
    except (IndexError, ValueError) as exc:
        raise MeshError(f"{path}: bad OFF counts or vertex block ({exc}); file truncated?") from exc
    faces = _read_faces(numbers[3 * n_vertices :], n_faces, n_vertices, path)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    check_mesh(mesh, name=str(path))
    return mesh


def _read_faces(tokens: list[str], n_faces: int, n_vertices: int, path: Path) -> np.ndarray:
    triangles, pos = [], 0
    for f in range(n_faces):
        try:
            k = int(tokens[pos])
            idx = [int(t) for t in tokens[pos + 1 : pos + 1 + k]]
        except (IndexError, ValueError) as exc:
            raise MeshError(f"{path}: face {f} of {n_faces} is unreadable; file truncated?") from exc
        if len(idx) != k or k < 3:
            raise MeshError(f"{path}: face {f} has {len(idx)} of {k} indices (need ≥ 3); file truncated?")
        if min(idx) < 0 or max(idx) >= n_vertices:
            raise MeshError(f"{path}: face {f} indexes a vertex outside 0..{n_vertices - 1}")
        triangles += [(idx[0], idx[i], idx[i + 1]) for i in range(1, k - 1)]
        pos += 1 + k
    return np.asarray(triangles, dtype=np.int64).reshape(-1, 3)


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
