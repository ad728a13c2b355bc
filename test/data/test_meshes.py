"""Tests for gs_perception.data.meshes: loading, normalisation and surface sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from gs_perception.data.meshes import (
    MeshError,
    check_mesh,
    load_mesh,
    normalise_to_unit_sphere,
    sample_surface,
)
from gs_perception.data.shapes import make_shape


def _coloured_box(rgb: tuple[int, int, int], offset: tuple[float, float, float] = (0.0, 0.0, 0.0)):
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    box.apply_translation(offset)
    box.visual.face_colors = np.tile((*rgb, 255), (len(box.faces), 1)).astype(np.uint8)
    return box


def test_sample_surface_is_deterministic_for_a_seed():
    mesh = make_shape("chair", 3)
    a, b, c = (
        sample_surface(mesh, 500, seed=7),
        sample_surface(mesh, 500, seed=7),
        sample_surface(mesh, 500, 8),
    )
    for field in ("points", "normals", "rgb"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.points, c.points)
    assert a.points.shape == a.normals.shape == a.rgb.shape == (500, 3)
    assert a.points.dtype == a.normals.dtype == a.rgb.dtype == torch.float32


def _distance_to_surface(mesh: trimesh.Trimesh, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force point→mesh distance [P] and nearest face [P] (trimesh.proximity needs rtree)."""
    distance, face = np.empty(len(points)), np.empty(len(points), dtype=int)
    tris = mesh.triangles
    for i, p in enumerate(points):
        closest = trimesh.triangles.closest_point(tris, np.broadcast_to(p, (len(tris), 3)))
        d = np.linalg.norm(closest - p, axis=1)
        face[i] = d.argmin()
        distance[i] = d[face[i]]
    return distance, face


def test_sampled_points_lie_on_the_surface_with_unit_face_normals():
    mesh = make_shape("chair", 1)
    samples = sample_surface(mesh, 300, seed=0)
    distance, face = _distance_to_surface(mesh, samples.points.double().numpy())
    assert distance.max() < 1e-5
    assert torch.allclose(samples.normals.norm(dim=1), torch.ones(300), atol=1e-5)
    # Where the nearest face is unambiguous (not on an edge) its normal is the sample's normal.
    dots = (samples.normals.double().numpy() * mesh.face_normals[face]).sum(axis=1)
    assert np.median(dots) > 0.999


def test_sampling_is_uniform_by_area():
    small = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    large = trimesh.creation.box(extents=(2.0, 2.0, 2.0)).apply_translation((5.0, 0.0, 0.0))
    mesh = trimesh.util.concatenate([small, large])  # areas 6 and 24: a fifth of the samples on the small box
    points = sample_surface(mesh, 20000, seed=1).points
    fraction = (points[:, 0] < 2.5).double().mean().item()
    assert abs(fraction - 0.2) < 0.015


def test_sample_colours_come_from_face_colours_or_grey():
    red = sample_surface(_coloured_box((255, 0, 0)), 100, seed=0).rgb
    assert torch.equal(red, torch.tensor([1.0, 0.0, 0.0]).expand(100, 3))
    grey = sample_surface(trimesh.creation.box(), 100, seed=0).rgb
    assert torch.equal(grey, torch.full((100, 3), 0.5))


def test_sample_colours_interpolate_vertex_colours():
    # Vertex colours red, green, blue at the corners: a sample's colour equals its barycentric coordinates.
    tri = trimesh.Trimesh(
        vertices=[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], faces=[[0, 1, 2]], process=False
    )
    tri.visual.vertex_colors = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]], np.uint8)
    s = sample_surface(tri, 200, seed=2)
    x, y = s.points[:, 0], s.points[:, 1]
    expected = torch.stack([1.0 - x - y, x, y], dim=1)
    assert torch.allclose(s.rgb, expected, atol=1e-5)


def test_normalise_centres_the_bounding_box_and_scales_to_the_unit_sphere():
    mesh = make_shape("table", 2)
    mesh.apply_scale(3.7)
    mesh.apply_translation((10.0, -4.0, 2.0))
    before = mesh.vertices.copy()
    unit = normalise_to_unit_sphere(mesh)
    assert np.allclose(unit.bounds.mean(axis=0), 0.0, atol=1e-9)
    assert np.linalg.norm(unit.vertices, axis=1).max() == pytest.approx(1.0, abs=1e-9)
    assert np.array_equal(mesh.vertices, before)  # the input is not modified
    assert np.array_equal(unit.visual.face_colors, mesh.visual.face_colors)


@pytest.mark.parametrize("suffix", ["obj", "ply", "stl", "off", "glb"])
def test_load_mesh_reads_common_formats(tmp_path: Path, suffix: str):
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    path = tmp_path / f"box.{suffix}"
    box.export(path)
    mesh = load_mesh(path)
    assert isinstance(mesh, trimesh.Trimesh)
    assert len(mesh.faces) == 12
    assert np.allclose(mesh.extents, (1.0, 2.0, 0.5), atol=1e-6)


def test_load_mesh_flattens_a_scene_and_keeps_colours(tmp_path: Path):
    scene = trimesh.Scene()
    scene.add_geometry(_coloured_box((255, 0, 0)), node_name="a", geom_name="a")
    scene.add_geometry(
        _coloured_box((0, 0, 255)),
        node_name="b",
        geom_name="b",
        transform=trimesh.transformations.translation_matrix((3.0, 0.0, 0.0)),
    )
    path = tmp_path / "scene.glb"
    scene.export(path)
    mesh = load_mesh(path)
    assert len(mesh.faces) == 24
    assert np.allclose(mesh.bounds, [[-0.5, -1.0, -0.25], [3.5, 1.0, 0.25]], atol=1e-6)
    rgb = sample_surface(mesh, 400, seed=0).rgb
    on_b = sample_surface(mesh, 400, seed=0).points[:, 0] > 1.5
    assert torch.allclose(rgb[on_b], torch.tensor([0.0, 0.0, 1.0]), atol=1e-2)
    assert torch.allclose(rgb[~on_b], torch.tensor([1.0, 0.0, 0.0]), atol=1e-2)


@pytest.mark.parametrize("suffix", ["obj", "ply"])
def test_load_mesh_rejects_a_corrupt_file_naming_it(tmp_path: Path, suffix: str):
    path = tmp_path / f"junk.{suffix}"
    path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 512, dtype=np.uint8)))
    with pytest.raises(MeshError, match=f"junk.{suffix}"):
        load_mesh(path)


def test_load_mesh_rejects_missing_empty_and_degenerate_meshes(tmp_path: Path):
    with pytest.raises(MeshError, match="missing.obj.*does not exist"):
        load_mesh(tmp_path / "missing.obj")
    empty = tmp_path / "empty.obj"
    empty.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(MeshError, match="empty.obj"):
        load_mesh(empty)
    point = tmp_path / "point.obj"
    point.write_text("v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n")
    with pytest.raises(MeshError, match="point.obj"):
        load_mesh(point)


def test_check_mesh_rejects_non_finite_vertices():
    mesh = trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [np.nan, 1, 0]], faces=[[0, 1, 2]], process=False)
    with pytest.raises(MeshError, match="non-finite"):
        check_mesh(mesh, name="bad.ply")


def test_load_mesh_keeps_coff_vertex_colours(tmp_path: Path):
    # Two triangles side by side (x < 1 red, x > 1 blue) that share no vertex, so sampled colours are exact.
    path = tmp_path / "two.off"
    path.write_text(
        "COFF\n6 2 0\n"
        "0 0 0 255 0 0 255\n1 0 0 255 0 0 255\n0 1 0 255 0 0 255\n"
        "2 0 0 0 0 255 255\n3 0 0 0 0 255 255\n3 1 0 0 0 255 255\n"
        "3 0 1 2\n3 3 4 5\n"
    )
    mesh = load_mesh(path)
    assert mesh.visual.kind == "vertex"
    assert np.array_equal(mesh.visual.vertex_colors, [[255, 0, 0, 255]] * 3 + [[0, 0, 255, 255]] * 3)
    samples = sample_surface(normalise_to_unit_sphere(mesh), 200, seed=0)
    on_blue = samples.points[:, 0] > 0.0
    assert 0 < int(on_blue.sum()) < 200
    assert torch.allclose(samples.rgb[on_blue], torch.tensor([0.0, 0.0, 1.0]))
    assert torch.allclose(samples.rgb[~on_blue], torch.tensor([1.0, 0.0, 0.0]))
