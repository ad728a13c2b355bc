"""ModelNet10/40 meshes: the OFF reader and the ``<class>/{train,test}/*.off`` index.

Get the data from the Princeton ModelNet page (ModelNet10.zip or ModelNet40.zip), unpack it anywhere; nothing
is downloaded at run time. Many ModelNet files glue the counts to the header (``OFF490 518 0``).

:func:`read_off` leaves the parsing to trimesh and only adds what trimesh 5.2's OFF loader lacks: ``#``
comments after the first line (its comment stripper repeats lines), polygons above four corners (it fails on
them), faces with missing indices (it drops them silently), COFF vertex colours (it ignores them), and
messages that say which vertex or face is wrong.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from .meshes import MeshError, check_mesh

# Geomview's header keyword: [ST][C][N][4][n]OFF; whatever follows it on the line is ModelNet's glued counts.
_HEADER = re.compile(r"(ST)?(C)?(N)?(4)?(n)?OFF")


def read_off(path: str | Path) -> trimesh.Trimesh:
    """Read an OFF mesh (OFF, COFF, NOFF, CNOFF, STOFF; ModelNet's ``OFF<nv> <nf> <ne>`` first line).

    Per-vertex normals and texture coordinates and per-face colours are skipped; COFF vertex colours become
    the mesh's vertex colours. Polygons are fan-triangulated.

    Args:
        path: ``.off`` file.

    Returns:
        The triangle mesh (file units, no normalisation, vertices in file order).

    Raises:
        MeshError: Naming the file and what is wrong: not an OFF file, bad counts, fewer vertices or faces
            than declared (truncated file), malformed faces, indices out of range, or degenerate geometry.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise MeshError(f"{path}: cannot read ({exc})") from exc
    # One vertex or face per line, as trimesh reads it; comments and blank lines removed here.
    lines = [s for s in (line.split("#", 1)[0].strip() for line in text.splitlines()) if s]
    if not lines:
        raise MeshError(f"{path}: no OFF header (the file is empty or holds only comments)")
    match = _HEADER.match(lines[0])
    if match is None:
        raise MeshError(f"{path}: not an OFF file (first token {lines[0].split()[0][:20]!r})")
    st, colour, normal, four, n_dim = match.groups()
    rest = lines[0][match.end() :].strip()
    if four or n_dim or rest.startswith("BINARY"):
        raise MeshError(f"{path}: header {lines[0]!r} is 4-D, n-D or binary OFF; only 3-D text OFF is read")
    if rest:  # the ModelNet quirk: put the counts on their own line, where trimesh and the spec expect them
        lines.insert(1, rest)
    n_vertices, n_faces = _counts(lines[1] if len(lines) > 1 else "", path)
    body = lines[2:]
    width = 3 + 3 * bool(normal) + 3 * bool(colour) + 2 * bool(st)  # fewest numbers on a vertex line
    _check_lengths(body, n_vertices, n_faces, width, path)
    vertex_lines, face_lines = body[:n_vertices], body[n_vertices : n_vertices + n_faces]
    triangles = _triangulate(face_lines, path)
    fixed = "\n".join(["OFF", f"{n_vertices} {len(triangles)} 0", *vertex_lines, *triangles])
    try:
        mesh = trimesh.load(io.BytesIO(fixed.encode()), file_type="off", force="mesh", process=False)
    except Exception as exc:  # trimesh's messages name neither the vertex nor the face; find it
        problem = _diagnose(vertex_lines, face_lines, n_vertices)
        raise MeshError(f"{path}: {problem or f'cannot read it ({type(exc).__name__}: {exc})'}") from exc
    if colour:
        rgba = _vertex_colours(vertex_lines, 6 if normal else 3, 2 if st else 0, path)
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=rgba)
    check_mesh(mesh, name=str(path))
    return mesh


def _counts(line: str, path: Path) -> tuple[int, int]:
    """(vertices, faces) from the counts line ``<nv> <nf> [<ne>]``."""
    try:
        n_vertices, n_faces = (int(word) for word in line.split()[:2])
    except ValueError:  # too few words or not integers
        raise MeshError(f"{path}: bad counts line {line!r} (expected '<vertices> <faces> <edges>')") from None
    if n_vertices < 0 or n_faces < 0:
        raise MeshError(f"{path}: negative counts ({n_vertices} vertices, {n_faces} faces)")
    return n_vertices, n_faces


def _check_lengths(body: list[str], n_vertices: int, n_faces: int, width: int, path: Path) -> None:
    """Raise unless ``body`` has a line for every declared vertex and face.

    Only a file with fewer numbers than the counts need (``width`` per vertex, ``3 a b c`` per face) is
    called truncated; one with enough numbers on too few lines is reported as such.
    """
    if len(body) >= n_vertices + n_faces:
        return
    if sum(len(line.split()) for line in body) >= width * n_vertices + 4 * n_faces:
        raise MeshError(
            f"{path}: declares {n_vertices} vertices and {n_faces} faces on {len(body)} lines; the numbers "
            "are there but this reader needs one vertex or face per line"
        )
    if len(body) < n_vertices:
        raise MeshError(f"{path}: file truncated: declares {n_vertices} vertices, has {len(body)}")
    raise MeshError(f"{path}: file truncated: declares {n_faces} faces, has {len(body) - n_vertices}")


def _triangulate(face_lines: list[str], path: Path) -> list[str]:
    """Face lines with every polygon above four corners fanned into ``3 a b c`` lines (trimesh fails on them).

    Raises on the lines trimesh would drop or misread silently: fewer than 3 corners, or fewer indices than
    the corner count.
    """
    out = []
    for f, line in enumerate(face_lines):
        words = line.split()
        try:
            k = int(words[0])
        except ValueError:
            raise MeshError(
                f"{path}: face {f} does not start with its corner count ({line[:40]!r})"
            ) from None
        if k < 3:
            raise MeshError(f"{path}: face {f} has {k} corners (a face needs at least 3)")
        if len(words) < 1 + k:
            raise MeshError(f"{path}: face {f} declares {k} corners but lists {len(words) - 1} indices")
        if k <= 4:
            out.append(line)  # trimesh splits quads itself and skips trailing per-face colours
        else:
            out += [f"3 {words[1]} {words[i]} {words[i + 1]}" for i in range(2, k)]
    return out


def _diagnose(vertex_lines: list[str], face_lines: list[str], n_vertices: int) -> str | None:
    """The first vertex or face trimesh cannot read, in words; None if none is found."""
    for v, line in enumerate(vertex_lines):
        words = line.split()
        if len(words) < 3:
            return f"vertex {v} has {len(words)} coordinates, needs 3"
        try:
            np.asarray(words[:3], dtype=np.float64)
        except ValueError:
            return f"vertex {v} is not numeric ({line[:40]!r})"
    for f, line in enumerate(face_lines):
        words = line.split()
        for word in words[1 : 1 + int(words[0])]:  # corner counts were checked by _triangulate
            if not re.fullmatch(r"[+-]?\d+", word):
                return f"face {f} has a non-integer vertex index {word!r}"
            if not 0 <= int(word) < n_vertices:
                return f"face {f} references vertex {int(word)} of {n_vertices} (outside 0..{n_vertices - 1})"
    return None


def _vertex_colours(vertex_lines: list[str], start: int, tail: int, path: Path) -> np.ndarray:
    """[V, 4] uint8 RGBA from the ``r g b [a]`` columns of COFF vertex lines.

    Args:
        start: First colour column (3, or 6 after a normal).
        tail: Columns after the colour (2 for STOFF's ``s t``), so that RGB lines are told from RGBA ones.
    """
    rows = [(words := line.split())[start : len(words) - tail][:4] for line in vertex_lines]
    short = next((v for v, row in enumerate(rows) if len(row) < 3), None)
    if short is not None:
        raise MeshError(f"{path}: vertex {short} has no 'r g b' colour at column {start} (COFF header)")
    channels = 4 if all(len(row) == 4 for row in rows) else 3
    try:
        rgba = np.asarray([row[:channels] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise MeshError(f"{path}: non-numeric vertex colour ({exc})") from exc
    # The spec says floats in [0, 1]; many writers use 0..255 instead. Decide once for the whole file.
    scale = 1.0 if rgba.size and rgba.max() > 1.0 else 255.0
    rgba = np.clip(np.rint(rgba * scale), 0, 255).astype(np.uint8)
    if channels == 3:
        rgba = np.column_stack([rgba, np.full(len(rgba), 255, dtype=np.uint8)])
    return rgba


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
