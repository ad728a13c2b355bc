"""Tests for gs_perception.data.sim: the simulated orbiting camera (poses, stamps, renders, ground truth)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import trimesh

from gs_perception.core.cameras import backproject_depth, project_points
from gs_perception.data.meshes import MeshError
from gs_perception.data.sim import (
    SimConfig,
    object_positions,
    scene_labels,
    sim_intrinsics,
    sim_trajectory,
    simulate,
)

# Tiny images keep every render a few milliseconds on llvmpipe.
TINY = SimConfig(width=48, height=36, frames=8, held_out_every=4, rate_hz=4.0)


@pytest.fixture(scope="module")
def chair_frames():
    return list(simulate(TINY))


@pytest.fixture(scope="module")
def ball_path(tmp_path_factory):
    """A sphere of radius 2 at (5, 5, 5) in a ModelNet-style tree: normalised, it is the unit sphere."""
    path = tmp_path_factory.mktemp("meshes") / "ball" / "train" / "ball_0001.ply"
    path.parent.mkdir(parents=True)
    trimesh.creation.icosphere(subdivisions=3, radius=2.0).apply_translation((5, 5, 5)).export(path)
    return path


def _dilate(mask: torch.Tensor) -> torch.Tensor:
    """``mask`` [H, W] bool grown by one pixel (3×3)."""
    return torch.nn.functional.max_pool2d(mask[None, None].float(), 3, 1, 1)[0, 0].bool()


def test_frame_count_held_out_and_stamps(chair_frames):
    assert len(chair_frames) == 10  # 8 training frames + one held-out frame after every 4th
    held = [f.held_out for f in chair_frames]
    assert held == [False] * 4 + [True] + [False] * 4 + [True]
    stamps = [f.frame.stamp_ns for f in chair_frames]
    period = 250_000_000  # 4 Hz
    train = [s for s, h in zip(stamps, held) if not h]
    assert train == [TINY.start_stamp_ns + i * period for i in range(8)]
    # Held-out frames sit half a period after training frames 3 and 7 (in-between time and pose).
    expected = [TINY.start_stamp_ns + round(k * period) for k in (3.5, 7.5)]
    assert [s for s, h in zip(stamps, held) if h] == expected
    assert stamps == sorted(stamps)
    poses, stamps, held = sim_trajectory(dataclasses.replace(TINY, held_out_every=0))
    assert len(poses) == len(stamps) == 8 and not any(held)


def test_frames_are_valid_core_frames(chair_frames):
    intr = sim_intrinsics(TINY)
    assert (intr.width, intr.height) == (48, 36)
    assert intr.fx == pytest.approx(24.0 / math.tan(math.radians(30.0))) and intr.fx == intr.fy
    for sim in chair_frames:
        f = sim.frame
        assert f.rgb.shape == (36, 48, 3) and f.rgb.dtype == torch.float32
        assert 0.0 <= float(f.rgb.min()) and float(f.rgb.max()) <= 1.0
        assert f.T_world_cam.dtype == torch.float32 and f.intrinsics == intr
        assert f.frame_id == "camera_optical_frame"
        assert f.depth.dtype == torch.float32 and f.mask.dtype == torch.bool
        assert sim.labels == ("chair",)


def test_poses_orbit_the_centre_and_look_at_it():
    poses, _, _ = sim_trajectory(dataclasses.replace(TINY, positions=(1.0, -2.0, 0.5)))
    centre = torch.tensor([1.0, -2.0, 0.5])
    eyes, R = poses[:, :3, 3], poses[:, :3, :3]
    offset = eyes - centre
    assert torch.allclose(offset.norm(dim=-1), torch.full((10,), TINY.radius), atol=1e-5)
    elevation = torch.rad2deg(torch.asin(offset[:, 2] / TINY.radius))
    lo, hi = TINY.elevation_range
    assert float(elevation.min()) == pytest.approx(lo, abs=1e-3)  # t = 0
    assert float(elevation.max()) == pytest.approx(hi, abs=1e-3)  # a quarter turn on (2 bobs per turn)
    # Rotations are proper and orthonormal; +z (optical axis) points at the centre; image rows run down.
    eye3 = torch.eye(3).expand(10, 3, 3)
    assert torch.allclose(R @ R.transpose(1, 2), eye3, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.ones(10), atol=1e-5)
    assert torch.allclose(R[:, :, 2], -offset / offset.norm(dim=-1, keepdim=True), atol=1e-5)
    assert (R[:, 2, 1] < 0).all()  # camera +y (down in the image) has a negative world z component
    # One turn over the 8 training frames; held-out frames at the in-between azimuths (t = 3.5, 7.5).
    t = torch.tensor([0, 1, 2, 3, 3.5, 4, 5, 6, 7, 7.5])
    azimuth = 2.0 * math.pi * t / 8
    horizontal = torch.nn.functional.normalize(offset[:, :2], dim=-1)
    assert torch.allclose(horizontal, torch.stack([azimuth.cos(), azimuth.sin()], dim=-1), atol=1e-5)


def test_object_centre_projects_to_the_image_centre(chair_frames):
    intr = sim_intrinsics(TINY)
    for sim in chair_frames:
        uv, z = project_points(torch.zeros(1, 3), sim.frame.T_world_cam, intr.K())
        assert torch.allclose(uv[0], torch.tensor([24.0, 18.0]), atol=1e-3) and float(z) > 0


def test_depth_and_mask_lie_on_the_object(chair_frames):
    K = sim_intrinsics(TINY).K()
    for sim in chair_frames:
        f = sim.frame
        assert torch.equal(f.mask, f.depth > 0) and f.mask.sum() > 20
        d = f.depth[f.mask]
        assert float(d.min()) > TINY.radius - 1.0 and float(d.max()) < TINY.radius + 1.0
        points = backproject_depth(f.depth, K, f.T_world_cam)[f.mask]
        assert float(points.norm(dim=-1).max()) <= 1.01  # inside the unit bounding sphere at the origin
        # The background keeps the configured colour exactly wherever no object is near.
        far = ~_dilate(f.mask)
        assert torch.equal(f.rgb[far], torch.ones_like(f.rgb[far]))


def test_sphere_file_depth_is_exact(ball_path):
    config = dataclasses.replace(TINY, objects=(str(ball_path),), positions=(0.5, 0.0, 0.2), frames=4)
    centre = torch.tensor([0.5, 0.0, 0.2])
    K = sim_intrinsics(config).K()
    for sim in simulate(config):
        f = sim.frame
        assert sim.labels == ("ball",)  # the class folder above train/, ModelNet-style
        # The central ray hits the unit sphere's near pole: depth = radius - 1 (the four centre pixels).
        assert torch.allclose(f.depth[17:19, 23:25], torch.tensor(config.radius - 1.0), atol=0.01)
        points = backproject_depth(f.depth, K, f.T_world_cam)[f.mask]
        distance = (points - centre).norm(dim=-1)
        assert float(distance.min()) > 0.98 and float(distance.max()) < 1.005
        v, u = torch.nonzero(f.mask, as_tuple=True)
        assert float(u.float().mean()) + 0.5 == pytest.approx(24.0, abs=0.3)
        assert float(v.float().mean()) + 0.5 == pytest.approx(18.0, abs=0.3)


def test_two_objects_both_appear(ball_path):
    config = dataclasses.replace(
        TINY, objects=("table", str(ball_path)), positions=(0.0, -1.5, 0.0, 0.0, 1.5, 0.0), radius=6.0
    )
    positions = object_positions(config).float()
    K = sim_intrinsics(config).K()
    seen = torch.zeros(2)
    for sim in simulate(config):
        assert sim.labels == ("table", "ball")
        points = backproject_depth(sim.frame.depth, K, sim.frame.T_world_cam)[sim.frame.mask]
        distance = torch.cdist(points, positions)  # [P, 2]
        assert (distance.min(dim=1).values < 1.01).all()  # every pixel is on one of the two objects
        seen += (distance < 1.01).any(dim=0).float()
    assert (seen >= 8).all()  # each object is visible in most of the 10 frames (occlusion aside)


def test_default_layout_puts_objects_in_a_row():
    config = SimConfig(objects=("chair", "table", "mug"))
    expected = torch.tensor([[0.0, -2.5, 0.0], [0.0, 0.0, 0.0], [0.0, 2.5, 0.0]], dtype=torch.float64)
    assert torch.equal(object_positions(config), expected)
    assert torch.equal(object_positions(SimConfig()), torch.zeros(1, 3, dtype=torch.float64))


def test_same_config_gives_identical_frames(chair_frames):
    again = list(simulate(TINY))
    for a, b in zip(chair_frames, again):
        assert torch.equal(a.frame.rgb, b.frame.rgb) and torch.equal(a.frame.depth, b.frame.depth)
        assert torch.equal(a.frame.T_world_cam, b.frame.T_world_cam)


def test_appearance_background_and_depth_switch(chair_frames):
    grey = dataclasses.replace(
        TINY, frames=2, held_out_every=0, background=(0.2, 0.4, 0.6), depth=False, camera_frame="cam"
    )
    grey = dataclasses.replace(grey, appearance=dataclasses.replace(grey.appearance, mode="fixed"))
    frames = list(simulate(grey))
    f = frames[0].frame
    assert f.depth is None and f.mask is not None and f.frame_id == "cam"
    assert torch.equal(f.mask, chair_frames[0].frame.mask)  # same geometry and pose, other colours
    far = ~_dilate(f.mask)
    assert torch.allclose(f.rgb[far], torch.tensor([0.2, 0.4, 0.6]), atol=1e-6)
    # Grey material: R = G = B inside the silhouette (edge pixels blend with the background).
    inside = ~_dilate(~f.mask)
    solid = f.rgb[inside]
    assert len(solid) > 10 and float((solid[:, 0] - solid[:, 2]).abs().max()) < 2.0 / 255
    assert not torch.allclose(chair_frames[0].frame.rgb, f.rgb)


def test_y_up_mesh_files_are_stood_upright(tmp_path):
    path = tmp_path / "pole" / "pole.obj"
    path.parent.mkdir()
    trimesh.creation.box(extents=(0.3, 2.0, 0.3)).export(path)  # tall along +y, as a glTF/OBJ model
    base = dataclasses.replace(TINY, objects=(str(path),), frames=1, held_out_every=0, elevation_range=(0, 0))
    for up, tall in (("y", True), ("z", False)):
        mask = next(simulate(dataclasses.replace(base, mesh_up=up))).frame.mask
        rows, cols = mask.any(dim=1).sum(), mask.any(dim=0).sum()
        assert bool(rows > 2 * cols) is tall


def test_labels_from_names_and_paths():
    config = SimConfig(objects=("chair", "/data/ModelNet10/toilet/test/toilet_0400.off", "meshes/bowl/b.obj"))
    assert scene_labels(config) == ("chair", "toilet", "bowl")


def test_bad_objects_and_settings_raise_named_errors(tmp_path):
    with pytest.raises(ValueError, match="chiar"):
        simulate(SimConfig(objects=("chiar",)))
    missing = tmp_path / "sofa" / "missing.obj"
    with pytest.raises(MeshError, match="missing.obj"):
        simulate(SimConfig(objects=(str(missing),)))
    with pytest.raises(ValueError, match="positions"):
        simulate(SimConfig(objects=("chair", "mug"), positions=(0.0, 0.0, 0.0)))
    with pytest.raises(ValueError, match="rate_hz"):
        sim_trajectory(SimConfig(rate_hz=0.0))
