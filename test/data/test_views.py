"""Tests for gs_perception.data.views: pyrender views and NeRF-synthetic folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from gs_perception.core.cameras import Intrinsics, look_at, project_points
from gs_perception.data.meshes import normalise_to_unit_sphere
from gs_perception.data.shapes import make_shape
from gs_perception.data.views import ViewRenderConfig, render_views, write_nerf_synthetic

SMALL = ViewRenderConfig(width=32, height=32, n_train=6, n_test=3)


@pytest.fixture(scope="module")
def chair_views():
    mesh = normalise_to_unit_sphere(make_shape("chair", 0))
    return mesh, render_views(mesh, SMALL, SMALL.poses("train"))


def _sphere(radius: float, centre: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=4, radius=radius).apply_translation(centre)


def test_render_views_shapes_and_dtypes(chair_views):
    _, views = chair_views
    assert views.rgba.shape == (6, 32, 32, 4) and views.rgba.dtype == torch.uint8
    assert views.depth.shape == (6, 32, 32) and views.depth.dtype == torch.float32
    assert views.mask.shape == (6, 32, 32) and views.mask.dtype == torch.bool


def test_alpha_depth_and_mask_agree(chair_views):
    _, views = chair_views
    alpha = views.rgba[..., 3]
    assert views.mask.any(dim=(1, 2)).all()  # the object is in every view
    assert torch.equal(views.mask, views.depth > 0)
    # Pixels the object fully covers have depth, uncovered ones have none (the mask is sampled at pixel
    # centres, alpha from four MSAA samples: a sliver between samples may differ, hence a tiny allowance).
    assert (~views.mask[alpha == 255]).sum() <= 2 and views.mask[alpha == 0].sum() <= 2
    assert (views.mask != (alpha >= 128)).float().mean() < 0.02
    # Background pixels carry the configured background colour; depth lies within the camera-object range.
    assert (views.rgba[..., :3][alpha == 0] == 255).all()
    d = views.depth[views.mask]
    assert d.min() > SMALL.radius - 1.0 - 1e-3 and d.max() < SMALL.radius + 1.0 + 1e-3


def test_mesh_colours_are_kept_and_base_color_overrides_them(chair_views):
    mesh, views = chair_views
    solid = views.rgba[views.rgba[..., 3] == 255][:, :3]
    assert len(torch.unique(solid, dim=0)) > 10  # several part colours under varying light
    red = render_views(
        mesh, ViewRenderConfig(width=32, height=32, base_color=(1.0, 0.0, 0.0)), SMALL.poses("test")
    )
    red_solid = red.rgba[red.rgba[..., 3] == 255].float()
    # Diffuse light is red only; the dielectric specular lobe (F0 = 0.04) adds a little white.
    assert (red_solid[:, 0] > 50).all() and (red_solid[:, 0] > 3 * red_solid[:, 1:3].max(dim=1).values).all()


def test_rendering_is_deterministic(chair_views):
    mesh, views = chair_views
    again = render_views(mesh, SMALL, SMALL.poses("train"))
    assert torch.equal(views.rgba, again.rgba) and torch.equal(views.depth, again.depth)


def test_sphere_depth_matches_the_analytic_z_depth():
    config = ViewRenderConfig(width=33, height=33, fov_deg=30.0)
    r, distance = 0.5, 3.0
    pose = look_at(torch.tensor([distance, 0.0, 0.0]), torch.zeros(3))
    views = render_views(_sphere(r), config, pose[None])
    # Centre pixel (16, 16) lies on the optical axis: the surface is at distance - r.
    assert views.depth[0, 16, 16].item() == pytest.approx(distance - r, abs=1e-2)
    # Every fully covered pixel: intersect its ray (through the pixel centre) with the sphere.
    K = config.intrinsics()
    v, u = torch.meshgrid(torch.arange(33) + 0.5, torch.arange(33) + 0.5, indexing="ij")
    ray = torch.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, torch.ones_like(u)], dim=-1).double()
    # |t·ray - c|² = r² with c = (0, 0, distance) in the camera frame; z-depth = t (ray has z = 1).
    a, b, c = (ray**2).sum(-1), -2.0 * distance * ray[..., 2], distance**2 - r**2
    t = (-b - torch.sqrt((b**2 - 4 * a * c).clamp(min=0))) / (2 * a)
    solid = views.rgba[0, ..., 3] == 255
    assert solid.sum() > 50
    assert torch.allclose(views.depth[0][solid].double(), t[solid], atol=1e-2)


@pytest.mark.parametrize("point", [(0.3, -0.2, 0.25), (-0.25, 0.35, -0.15)])
def test_rendered_position_matches_project_points(point):
    # Off-centre principal point, fx ≠ fy and W ≠ H: a flipped cy or axis would move the blob by pixels.
    intr = Intrinsics(fx=50.0, fy=56.0, cx=21.0, cy=14.0, width=48, height=40)
    pose = look_at(torch.tensor([2.5, 0.8, 1.0]), torch.zeros(3))
    views = render_views(_sphere(0.06, point), ViewRenderConfig(), pose[None], intrinsics=intr)
    assert views.rgba.shape == (1, 40, 48, 4)
    weight = views.rgba[0, ..., 3].double() / 255.0
    assert weight.sum() > 2.0
    v, u = torch.meshgrid(torch.arange(40) + 0.5, torch.arange(48) + 0.5, indexing="ij")
    centroid = torch.stack([(u * weight).sum(), (v * weight).sum()]) / weight.sum()
    uv, z = project_points(torch.tensor([point]), pose, intr.K())
    assert torch.allclose(centroid.float(), uv[0], atol=1.0), (centroid, uv)
    iu, iv = int(uv[0, 0]), int(uv[0, 1])
    assert views.depth[0, iv, iu].item() == pytest.approx(z.item() - 0.06, abs=2e-2)


def test_test_poses_are_held_out_from_training_poses():
    config = ViewRenderConfig()
    train, test = config.poses("train"), config.poses("test")
    assert train.shape == (16, 4, 4) and test.shape == (4, 4, 4)
    gap = torch.cdist(test[:, :3, 3], train[:, :3, 3])
    assert gap.min() > 0.1 * config.radius
    assert torch.allclose(test[:, :3, 3].norm(dim=1), torch.full((4,), config.radius), atol=1e-5)
    with pytest.raises(ValueError, match="split"):
        config.poses("val")


def test_write_nerf_synthetic_layout_and_determinism(tmp_path: Path):
    config = ViewRenderConfig(width=32, height=32, n_train=3, n_test=2)
    mesh = make_shape("monitor", 1)
    first = write_nerf_synthetic(tmp_path / "a", mesh, config)
    second = write_nerf_synthetic(tmp_path / "b", mesh, config)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert [str(p) for p in files] == sorted(
        ["mesh.ply", "transforms_train.json", "transforms_test.json"]
        + [
            f"{kind}{split}/r_{i:03d}.png"
            for split, n in (("train", 3), ("test", 2))
            for i in range(n)
            for kind in ("", "depth/", "mask/")
        ]
    )
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    meta = json.loads((first / "transforms_test.json").read_text())
    assert meta["mesh_path"] == "mesh.ply" and meta["depth_scale"] == 10000.0
    assert (meta["w"], meta["h"]) == (32, 32) and len(meta["frames"]) == 2
    assert meta["frames"][1]["mask_path"] == "mask/test/r_001.png"
    ply = trimesh.load(first / "mesh.ply")
    assert np.linalg.norm(ply.vertices, axis=1).max() == pytest.approx(1.0, abs=1e-5)


def test_held_out_cameras_spread_over_azimuth_and_elevation():
    """4 golden-layout test cameras: 4 azimuths at least 40° apart, 4 elevations across the range, none on
    a training camera; the old 'spiral' layout (2 azimuths for 4 views, 2 turns) is still available."""
    config = ViewRenderConfig(n_train=16, n_test=4)

    def angles(poses):
        eye = poses[:, :3, 3].double()
        azimuth = torch.rad2deg(torch.atan2(eye[:, 1], eye[:, 0])) % 360
        elevation = torch.rad2deg(torch.asin(eye[:, 2] / eye.norm(dim=-1)))
        return azimuth, elevation

    azimuth, elevation = angles(config.poses("test"))
    gaps = (azimuth[:, None] - azimuth[None, :]).abs() % 360
    gaps = torch.minimum(gaps, 360 - gaps) + 360 * torch.eye(4)
    assert gaps.min() > 40
    assert elevation.min() > -15 and elevation.max() < 60 and elevation.max() - elevation.min() > 40
    train_eyes = config.poses("train")[:, :3, 3]
    assert torch.cdist(config.poses("test")[:, :3, 3], train_eyes).min() > 0.3
    old_azimuth, _ = angles(ViewRenderConfig(n_train=16, n_test=4, test_layout="spiral").poses("test"))
    assert len(set(((old_azimuth / 10).round() % 36).tolist())) == 2  # 10° bins
    with pytest.raises(ValueError, match="test_layout"):
        ViewRenderConfig(test_layout="grid")
