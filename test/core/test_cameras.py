"""Cameras: intrinsics, look-at poses (OpenCV axes), view matrices, axis flips, trajectories, projection."""

from __future__ import annotations

import math

import pytest
import torch

from gs_perception.core.cameras import (
    Intrinsics,
    backproject_depth,
    invert_rigid,
    look_at,
    opencv_to_opengl,
    opengl_to_opencv,
    pose_from_viewmat,
    project_points,
    spiral_poses,
    viewmat_from_pose,
)

UP = torch.tensor([0.0, 0.0, 1.0])  # REP-103 world up


def random_rigid(n: int, seed: int = 0) -> torch.Tensor:
    """[n, 4, 4] random rigid transforms (rotation from a QR decomposition with det fixed to +1)."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, 3, 3, generator=g, dtype=torch.float64))
    Q = Q * torch.linalg.det(Q)[:, None, None]  # det(-Q) = -det(Q) for 3×3: flip reflections to rotations
    T = torch.eye(4, dtype=torch.float64).repeat(n, 1, 1)
    T[:, :3, :3] = Q
    T[:, :3, 3] = torch.randn(n, 3, generator=g, dtype=torch.float64) * 3.0
    return T


# -- intrinsics ------------------------------------------------------------------------------------------


def test_from_fov_puts_the_image_edge_at_half_the_field_of_view():
    intr = Intrinsics.from_fov(math.radians(60.0), 640, 480)
    assert intr.fx == pytest.approx(320.0 / math.tan(math.radians(30.0)))
    assert intr.fy == intr.fx  # square pixels by default
    assert (intr.cx, intr.cy, intr.width, intr.height) == (320.0, 240.0, 640, 480)
    assert intr.fov_x == pytest.approx(math.radians(60.0))


def test_from_fov_with_vertical_fov_sets_fy_independently():
    intr = Intrinsics.from_fov(math.radians(90.0), 100, 50, fov_y=math.radians(45.0))
    assert intr.fx == pytest.approx(50.0)
    assert intr.fy == pytest.approx(25.0 / math.tan(math.radians(22.5)))


def test_K_layout_dtype_and_from_K_round_trip():
    intr = Intrinsics(fx=500.0, fy=510.0, cx=319.5, cy=241.0, width=640, height=480)
    K = intr.K(dtype=torch.float64)
    expected = torch.tensor([[500.0, 0.0, 319.5], [0.0, 510.0, 241.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    assert K.dtype == torch.float64 and torch.equal(K, expected)
    assert intr.K().dtype == torch.float32
    assert Intrinsics.from_K(K, 640, 480) == intr


def test_scaled_keeps_the_image_edges_fixed():
    intr = Intrinsics(fx=400.0, fy=300.0, cx=320.0, cy=240.0, width=640, height=480)
    half = intr.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert (half.fx, half.fy, half.cx, half.cy) == (200.0, 150.0, 160.0, 120.0)
    assert half.fov_x == pytest.approx(intr.fov_x)
    # Rounding the size rescales by the realised ratio, so the field of view survives odd sizes too.
    odd = Intrinsics.from_fov(math.radians(50.0), 101, 77).scaled(1.0 / 3.0)
    assert (odd.width, odd.height) == (34, 26)
    assert odd.fov_x == pytest.approx(math.radians(50.0))
    assert odd.cx == pytest.approx(17.0) and odd.cy == pytest.approx(13.0)


# -- look_at ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "eye",
    [[3.0, 0.0, 0.0], [-1.0, 2.0, 0.5], [0.3, -0.2, -4.0], [1.0, 1.0, 1.0]],
)
def test_look_at_is_right_handed_opencv_with_z_to_target_and_y_against_up(eye):
    eye, target = torch.tensor(eye), torch.tensor([0.2, -0.1, 0.3])
    T = look_at(eye, target)
    R = T[:3, :3]
    torch.testing.assert_close(R.T @ R, torch.eye(3), atol=1e-6, rtol=0)
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(T[:3, 3], eye)
    torch.testing.assert_close(T[3], torch.tensor([0.0, 0.0, 0.0, 1.0]))
    x, y, z = R[:, 0], R[:, 1], R[:, 2]
    torch.testing.assert_close(z, (target - eye) / (target - eye).norm(), atol=1e-6, rtol=0)
    # Image rows run downward: +y has a negative up component, and x is level (no roll).
    assert (y @ UP).item() < 0.0
    assert abs((x @ UP).item()) < 1e-6


def test_look_at_along_world_x_gives_right_as_minus_y_and_down_as_minus_z():
    R = look_at(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([5.0, 0.0, 0.0]))[:3, :3]
    # REP-103: looking forward (+x) with z up, the right is -y (y points left) and down is -z.
    expected = torch.tensor([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    torch.testing.assert_close(R, expected, atol=1e-6, rtol=0)


def test_look_at_straight_down_is_still_a_rotation():
    R = look_at(torch.tensor([0.0, 0.0, 5.0]), torch.zeros(3))[:3, :3]
    torch.testing.assert_close(R.T @ R, torch.eye(3), atol=1e-6, rtol=0)
    assert torch.linalg.det(R).item() == pytest.approx(1.0, abs=1e-6)
    torch.testing.assert_close(R[:, 2], torch.tensor([0.0, 0.0, -1.0]))


def test_look_at_broadcasts_over_a_batch_of_eyes():
    eyes = torch.randn(5, 3, generator=torch.Generator().manual_seed(1)) * 3.0
    T = look_at(eyes, torch.zeros(3))
    assert T.shape == (5, 4, 4)
    for i in range(5):
        torch.testing.assert_close(T[i], look_at(eyes[i], torch.zeros(3)))


# -- projection ------------------------------------------------------------------------------------------


def test_project_points_known_points():
    intr = Intrinsics.from_fov(math.radians(60.0), 64, 48)
    eye, target = torch.tensor([2.0, 1.0, 1.5]), torch.tensor([0.0, 0.0, 0.5])
    T = look_at(eye, target)
    right, down = T[:3, 0], T[:3, 1]
    points = torch.stack([target, target + 0.1 * right, target + 0.1 * down, 2 * eye - target])
    uv, depth = project_points(points, T, intr.K())
    torch.testing.assert_close(uv[0], torch.tensor([intr.cx, intr.cy]), atol=1e-4, rtol=0)
    assert depth[0].item() == pytest.approx((target - eye).norm().item(), rel=1e-6)
    assert uv[1, 0] > intr.cx and uv[1, 1] == pytest.approx(intr.cy, abs=1e-4)  # +x cam: right of centre
    assert uv[2, 1] > intr.cy and uv[2, 0] == pytest.approx(intr.cx, abs=1e-4)  # +y cam: below centre
    assert depth[3].item() < 0.0  # the mirror point behind the camera
    # Pinhole model by hand: 0.1 m to the right at distance d lands fx·0.1/d pixels right of cx.
    assert uv[1, 0].item() == pytest.approx(intr.cx + intr.fx * 0.1 / depth[1].item(), abs=1e-3)


def test_backproject_then_project_returns_pixel_centres_and_depths():
    intr = Intrinsics(fx=40.0, fy=42.0, cx=15.5, cy=11.0, width=31, height=23)
    T = random_rigid(1, seed=3)[0].float()
    depth = 1.0 + torch.rand(23, 31, generator=torch.Generator().manual_seed(0)) * 4.0
    points = backproject_depth(depth, intr.K(), T)
    assert points.shape == (23, 31, 3)
    uv, z = project_points(points.reshape(-1, 3), T, intr.K())
    v, u = torch.meshgrid(torch.arange(23.0) + 0.5, torch.arange(31.0) + 0.5, indexing="ij")
    torch.testing.assert_close(uv, torch.stack([u, v], dim=-1).reshape(-1, 2), atol=1e-3, rtol=0)
    torch.testing.assert_close(z, depth.flatten(), atol=1e-5, rtol=1e-5)


# -- poses and view matrices -----------------------------------------------------------------------------


def test_viewmat_pose_round_trip_matches_the_general_inverse():
    T = random_rigid(6, seed=2)
    view = viewmat_from_pose(T)
    torch.testing.assert_close(view, torch.linalg.inv(T), atol=1e-12, rtol=0)
    torch.testing.assert_close(invert_rigid(T), torch.linalg.inv(T), atol=1e-12, rtol=0)
    torch.testing.assert_close(pose_from_viewmat(view), T, atol=1e-12, rtol=0)
    torch.testing.assert_close(
        view @ T, torch.eye(4, dtype=torch.float64).expand(6, 4, 4), atol=1e-12, rtol=0
    )


def test_viewmat_maps_the_camera_centre_to_the_origin():
    T = look_at(torch.tensor([1.0, -2.0, 0.5]), torch.zeros(3))
    centre = viewmat_from_pose(T) @ torch.tensor([1.0, -2.0, 0.5, 1.0])
    torch.testing.assert_close(centre, torch.tensor([0.0, 0.0, 0.0, 1.0]), atol=1e-6, rtol=0)


def test_opengl_opencv_flip_is_an_involution():
    T = random_rigid(4, seed=5)
    torch.testing.assert_close(opengl_to_opencv(opengl_to_opencv(T)), T)
    torch.testing.assert_close(opencv_to_opengl(opengl_to_opencv(T)), T)
    assert opengl_to_opencv(T).dtype == torch.float64


def test_opengl_camera_looking_down_minus_z_becomes_opencv_looking_down_plus_z_axis():
    # An OpenGL camera at (0, 0, 5) with identity rotation looks along world -z, its y (up) along world +y.
    T_gl = torch.eye(4)
    T_gl[2, 3] = 5.0
    T_cv = opengl_to_opencv(T_gl)
    torch.testing.assert_close(T_cv[:3, 2], torch.tensor([0.0, 0.0, -1.0]))  # OpenCV +z = viewing direction
    torch.testing.assert_close(T_cv[:3, 1], torch.tensor([0.0, -1.0, 0.0]))  # OpenCV +y = image down
    torch.testing.assert_close(T_cv[:3, 0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(T_cv[:3, 3], torch.tensor([0.0, 0.0, 5.0]))
    # The origin in front of the camera then projects with positive depth at the principal point.
    intr = Intrinsics.from_fov(math.radians(45.0), 32, 32)
    uv, depth = project_points(torch.zeros(1, 3), T_cv, intr.K())
    assert depth.item() == pytest.approx(5.0)
    torch.testing.assert_close(uv[0], torch.tensor([16.0, 16.0]))


# -- trajectories ----------------------------------------------------------------------------------------


def test_spiral_poses_count_radius_elevation_and_gaze():
    target = (0.5, -0.2, 1.0)
    T = spiral_poses(12, radius=2.5, elevation_range=(-10.0, 50.0), turns=1.5, target=target)
    assert T.shape == (12, 4, 4)
    tgt = torch.tensor(target)
    offset = T[:, :3, 3] - tgt
    torch.testing.assert_close(offset.norm(dim=-1), torch.full((12,), 2.5), atol=1e-5, rtol=0)
    elevation = torch.rad2deg(torch.asin(offset[:, 2] / 2.5))
    torch.testing.assert_close(elevation, torch.linspace(-10.0, 50.0, 12), atol=1e-3, rtol=0)
    # Every camera's optical axis passes through the target; the target projects to the principal point.
    z = T[:, :3, 2]
    torch.testing.assert_close(z, -offset / 2.5, atol=1e-5, rtol=0)
    intr = Intrinsics.from_fov(math.radians(40.0), 48, 40)
    for pose in T:
        uv, depth = project_points(tgt[None], pose, intr.K())
        torch.testing.assert_close(uv[0], torch.tensor([24.0, 20.0]), atol=1e-4, rtol=0)
        assert depth.item() == pytest.approx(2.5, abs=1e-5)
    dets = torch.linalg.det(T[:, :3, :3])
    torch.testing.assert_close(dets, torch.ones(12), atol=1e-5, rtol=0)


def test_spiral_azimuth_starts_at_offset_and_turns():
    T = spiral_poses(8, radius=1.0, elevation_range=(0.0, 0.0), turns=1.0, azimuth_offset=90.0)
    azimuth = torch.deg2rad(90.0 + 45.0 * torch.arange(8.0))  # one turn over 8 views, no repeated view
    expected = torch.stack([torch.cos(azimuth), torch.sin(azimuth), torch.zeros(8)], dim=-1)
    torch.testing.assert_close(T[:, :3, 3], expected, atol=1e-5, rtol=0)
