"""Mesh loading, normalisation and surface sampling.

Meshes are :class:`trimesh.Trimesh` in metres (the world frame is REP-103, z up). Colours live in the mesh's
``ColorVisuals`` (per face or per vertex, uint8 RGBA); textured meshes are converted to per-vertex colours on
load so that scenes with different materials can be merged into one mesh and sampled uniformly.
"""

from __future__ import annotations

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
        from .modelnet import read_off

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
