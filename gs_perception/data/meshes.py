"""Mesh loading (OFF with its variants and ModelNet's quirks; anything else trimesh reads), normalisation and
surface sampling.

:func:`read_off` leaves the parsing to trimesh and only adds what trimesh 5.2's OFF loader lacks: ``#``
comments after the first line (its comment stripper repeats lines), polygons above four corners (it fails on
them), faces with missing indices (it drops them silently), COFF vertex colours (it ignores them), ModelNet's
counts glued to the header (``OFF490 518 0``), and messages that say which vertex or face is wrong.

Meshes are :class:`trimesh.Trimesh` in metres (the world frame is REP-103, z up). Colours live in the mesh's
``ColorVisuals`` (per face or per vertex, uint8 RGBA); textured meshes are converted to per-vertex colours on
load so that scenes with different materials can be merged into one mesh and sampled uniformly.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from torch import Tensor

# Colour of surface samples on meshes without colours (mid grey, linear RGB in [0, 1]).
DEFAULT_GREY = 0.5


class MeshError(ValueError):
    """A mesh file that cannot be used: unreadable, empty or degenerate. The message names the file."""


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load any mesh format trimesh reads (OBJ, PLY, STL, GLB/GLTF, OFF, ...) as one triangle mesh.

    Scenes are flattened: every triangle geometry is moved by its scene-graph transform and all are
    concatenated. Face or vertex colours are kept; textures are baked to per-vertex colours.

    Args:
        path: Mesh file.

    Returns:
        The mesh, in the file's units and frame.

    Raises:
        MeshError: The file is missing or unreadable, holds no faces, or its geometry is degenerate
            (non-finite vertices, zero extent or zero surface area).
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"{path}: mesh file does not exist")
    if path.suffix.lower() == ".off":
        # trimesh alone mangles OFF comments, drops COFF colours and fails on polygons; read_off fixes that
        return read_off(path)
    try:
        loaded = trimesh.load(path)
    except Exception as exc:  # trimesh raises many unrelated types for corrupt files
        raise MeshError(f"{path}: cannot read mesh ({type(exc).__name__}: {exc})") from exc
    try:
        mesh = _flatten(loaded)
    except Exception as exc:
        raise MeshError(f"{path}: cannot merge the geometries of the file ({exc})") from exc
    if mesh is None:
        raise MeshError(f"{path}: file holds no triangle geometry")
    check_mesh(mesh, name=str(path))
    return mesh


def check_mesh(mesh: trimesh.Trimesh, name: str = "mesh") -> None:
    """Raise :class:`MeshError` (naming ``name``) unless ``mesh`` has finite vertices and nonzero area."""
    if len(mesh.faces) == 0:
        raise MeshError(f"{name}: mesh has no faces")
    vertices = np.asarray(mesh.vertices)
    if not np.isfinite(vertices).all():
        raise MeshError(f"{name}: mesh has non-finite vertex coordinates")
    used = vertices[np.unique(mesh.faces)]
    if float(np.ptp(used, axis=0).max()) <= 0.0:
        raise MeshError(f"{name}: mesh is degenerate (zero extent: all vertices coincide)")
    if not float(mesh.area) > 0.0:
        raise MeshError(f"{name}: mesh is degenerate (zero surface area)")


def _flatten(loaded: object) -> trimesh.Trimesh | None:
    """One Trimesh from what ``trimesh.load`` returned (mesh, scene or list); None if it has no triangles."""
    if isinstance(loaded, trimesh.Trimesh):
        parts = [loaded]
    elif isinstance(loaded, trimesh.Scene):
        parts = []
        for node in loaded.graph.nodes_geometry:
            transform, geometry_name = loaded.graph[node]
            geometry = loaded.geometry[geometry_name]
            if isinstance(geometry, trimesh.Trimesh):
                part = geometry.copy()
                part.apply_transform(transform)
                parts.append(part)
    elif isinstance(loaded, (list, tuple)):
        parts = [m for m in loaded if isinstance(m, trimesh.Trimesh)]
    else:  # point clouds and paths have no surface
        return None
    parts = [_bake_colours(p) for p in parts if len(p.faces) > 0]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts)


def _bake_colours(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """Replace texture visuals by per-vertex colours (concatenation and sampling need plain colours)."""
    if mesh.visual.kind == "texture":
        mesh.visual = mesh.visual.to_color()
    return mesh


def normalise_to_unit_sphere(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    """A copy of ``mesh`` centred at its bounding-box centre and scaled so its farthest vertex is at 1.

    The bounding-box centre (not the centroid) is the study's convention and does not depend on tessellation.
    """
    out = mesh.copy()
    out.apply_translation(-out.bounds.mean(axis=0))
    radius = float(np.linalg.norm(out.vertices, axis=1).max())
    if not radius > 0.0:
        raise MeshError("mesh is degenerate (zero extent): cannot normalise it")
    out.apply_scale(1.0 / radius)
    return out


@dataclass
class SurfaceSamples:
    """Points sampled uniformly by area on a mesh surface.

    Attributes:
        points: [N, 3] float32 positions (mesh frame).
        normals: [N, 3] float32 unit normals of the faces the points lie on.
        rgb: [N, 3] float32 colours in [0, 1] (0.5 grey when the mesh has no colours).
    """

    points: Tensor
    normals: Tensor
    rgb: Tensor


def sample_surface(mesh: trimesh.Trimesh, n: int, seed: int = 0) -> SurfaceSamples:
    """Sample ``n`` points uniformly by area on the surface of ``mesh``, deterministically for a seed.

    Own sampler (numpy Generator) rather than trimesh's, so results do not depend on the trimesh version and
    the barycentric coordinates needed for vertex-colour interpolation come for free.

    Args:
        mesh: Triangle mesh with nonzero area.
        n: Number of samples.
        seed: Seed of the random generator.

    Returns:
        :class:`SurfaceSamples` with [n, 3] points, normals and colours.
    """
    check_mesh(mesh)
    rng = np.random.default_rng(seed)
    areas = np.asarray(mesh.area_faces, dtype=np.float64)
    face = rng.choice(len(areas), size=n, p=areas / areas.sum())
    # Uniform barycentrics on a triangle (Osada et al. 2002): sqrt keeps the density uniform.
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1.0 - s, s * (1.0 - r2), s * r2], axis=1)  # [n, 3]
    corners = np.asarray(mesh.vertices, dtype=np.float64)[mesh.faces[face]]  # [n, 3, 3]
    points = np.einsum("nk,nkd->nd", bary, corners)
    normals = np.asarray(mesh.face_normals, dtype=np.float64)[face]
    rgb = _sample_colours(mesh, face, bary)
    return SurfaceSamples(
        points=torch.from_numpy(points).float(),
        normals=torch.from_numpy(normals).float(),
        rgb=torch.from_numpy(rgb).float(),
    )


def _sample_colours(mesh: trimesh.Trimesh, face: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Colours [n, 3] in [0, 1] at the samples: face colour, interpolated vertex colour, or grey."""
    visual = mesh.visual
    if visual.kind == "texture":
        visual = visual.to_color()
    if visual.kind == "face":
        return np.asarray(visual.face_colors, dtype=np.float64)[face, :3] / 255.0
    if visual.kind == "vertex":
        vertex_rgb = np.asarray(visual.vertex_colors, dtype=np.float64)[:, :3] / 255.0
        return np.einsum("nk,nkc->nc", bary, vertex_rgb[mesh.faces[face]])
    return np.full((len(face), 3), DEFAULT_GREY)


# -- OFF files -------------------------------------------------------------------------------------------

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
