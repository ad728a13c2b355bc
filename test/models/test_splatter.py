"""The feed-forward predictor: shapes and bounds, the ray parameterisation round trip, rotations into the
world, and multi-view fusion in one world frame."""

from __future__ import annotations

import math

import pytest
import torch

from gs_perception.core.cameras import backproject_depth, look_at, orbit_poses, project_points
from gs_perception.core.projection import covariance_3d, quat_to_rotmat
from gs_perception.models.splatter import (
    HEAD_CHANNELS,
    SplatterConfig,
    SplatterImage,
    decode_pixels,
    depth_range_around,
    pixel_rays,
    quat_multiply,
    rotmat_to_quat,
    to_world,
)
from gs_perception.models.splatter_unet import SelfAttention

SMALL = SplatterConfig(channels=(8, 16), head_gain=1.0, layers=2)


def _K(fx: float, fy: float, cx: float, cy: float) -> torch.Tensor:
    return torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def _depth_logit(depth: torch.Tensor, near: float, far: float) -> torch.Tensor:
    return torch.logit((depth - near) / (far - near))


def _raw_with_depth(depth: torch.Tensor, near: float, far: float) -> torch.Tensor:
    """[B, 15, H, W] head output: the given z-depths [B, H, W], every other output neutral (zero)."""
    raw = torch.zeros(depth.shape[0], HEAD_CHANNELS, *depth.shape[1:], dtype=torch.float64)
    raw[:, 0] = _depth_logit(depth, near, far)
    return raw


def test_predictions_have_two_gaussians_per_pixel_within_their_bounds():
    torch.manual_seed(0)
    model = SplatterImage(SMALL)  # layers = 2
    with torch.no_grad():  # large head weights drive every output towards its bounds
        model.unet.out[-1].weight.normal_(0.0, 20.0)
    T = orbit_poses(torch.tensor([0.0, 120.0, 240.0]), torch.tensor([10.0, 30.0, -10.0]), 3.0, (0, 0, 0))
    K = _K(20.0, 22.0, 8.0, 8.0).expand(3, 3, 3)
    ranges = depth_range_around(T, torch.zeros(3), 1.0)
    images = torch.rand(3, 16, 16, 3)
    out = model(images, K, T, ranges)
    assert out.means.shape == (3, 512, 3) and out.quats.shape == (3, 512, 4) and out.rgb.shape == (3, 512, 3)
    assert out.opacity_logits.shape == (3, 512) and out.log_scales.shape == (3, 512, 3)
    assert torch.allclose(ranges, torch.tensor([[2.0, 4.0]] * 3), atol=1e-5)
    assert (out.depth >= ranges[:, :1] - 1e-6).all() and (out.depth <= ranges[:, 1:] + 1e-6).all()
    front, back = out.depth[:, :256], out.depth[:, 256:]
    assert (back >= front).all() and front.std() > 0.1 and (back - front).max() > 0.5  # back layer behind
    footprint = torch.log(out.depth / math.sqrt(20.0 * 22.0))[..., None]  # scale_init 1
    assert (out.log_scales - footprint).abs().max() <= SMALL.log_scale_range + 1e-5
    assert (out.log_scales - footprint).abs().max() > 1.0  # the bound is reached, not trivially met
    assert (out.rgb >= 0).all() and (out.rgb <= 1).all()
    assert (out.quats.norm(dim=-1) > 0).all()
    # offsets stay within offset_scale × half the depth range (1) of the pixel's ray, per camera axis
    cam = torch.einsum("bij,bnj->bni", T[:, :3, :3].transpose(1, 2), out.means - T[:, None, :3, 3])
    on_ray = pixel_rays(K, 16, 16).reshape(3, 1, 256, 3) * out.depth.reshape(3, 2, 256, 1)
    assert (cam - on_ray.reshape(3, 512, 3)).abs().max() <= SMALL.offset_scale + 1e-4
    cloud = out.cloud([0, 2])
    assert cloud.num == 1024 and cloud.sh.shape == (1024, 1, 3) and cloud.sh_degree == 0
    assert torch.allclose(cloud.rgb(), torch.cat([out.rgb[0], out.rgb[2]]), atol=1e-6)
    assert torch.isfinite(cloud.opacity_logits).all() and torch.isfinite(cloud.quats).all()


def test_an_untrained_predictor_starts_from_the_neutral_prediction():
    model = SplatterImage(SplatterConfig(channels=(8, 16), layers=2))  # head_gain 0.01
    T = orbit_poses(torch.tensor([30.0]), torch.tensor([20.0]), 3.0, (0, 0, 0))
    images = torch.rand(1, 16, 16, 3) * 0.9 + 0.05
    out = model(images, _K(20.0, 20.0, 8.0, 8.0)[None], T, depth_range_around(T, torch.zeros(3), 1.0))
    # the front layer on the object's centre plane, the second halfway from it to the far bound
    expected = torch.cat([torch.full((1, 256), 3.0), torch.full((1, 256), 3.5)], dim=1)
    assert torch.allclose(out.depth, expected, atol=0.05)
    assert torch.allclose(out.rgb, images.reshape(1, 256, 3).repeat(1, 2, 1), atol=0.02)  # the pixel's colour
    assert torch.allclose(out.opacity_logits.sigmoid(), torch.full((1, 512), 0.5), atol=0.02)


def test_a_known_depth_map_puts_gaussians_on_the_pixel_rays_at_that_depth():
    torch.manual_seed(1)
    H, W, near, far = 6, 8, 1.5, 4.5
    K = _K(9.0, 7.0, 3.7, 3.2).double()  # non-square pixels, principal point off the centre
    T = look_at(torch.tensor([2.0, -1.0, 1.5]), torch.tensor([0.1, 0.2, -0.1])).double()
    depth = near + (far - near) * (0.05 + 0.9 * torch.rand(1, H, W, dtype=torch.float64))
    images = torch.rand(1, H, W, 3, dtype=torch.float64)
    raw = torch.cat([_raw_with_depth(depth, near, far), torch.zeros(1, HEAD_CHANNELS, H, W).double()], 1)
    cam = decode_pixels(raw, images, K[None], torch.tensor([[near, far]]), SplatterConfig())
    world = to_world(cam, T[None])
    front = world.means[0, : H * W]
    assert torch.allclose(front, backproject_depth(depth[0], K, T).reshape(-1, 3), atol=1e-9)
    uv, z = project_points(front, T, K)
    v, u = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    assert torch.allclose(uv, torch.stack([u, v], -1).reshape(-1, 2).double(), atol=1e-9)
    assert torch.allclose(z, depth.reshape(-1), atol=1e-9)
    # the second layer (output 0: halfway into the range behind the first) lies on the same rays
    behind = depth + 0.5 * (far - depth)
    assert torch.allclose(world.depth[0], torch.cat([depth.reshape(-1), behind.reshape(-1)]), atol=1e-12)
    uv, z = project_points(world.means[0, H * W :], T, K)
    assert torch.allclose(uv, torch.stack([u, v], -1).reshape(-1, 2).double(), atol=1e-9)
    assert torch.allclose(z, behind.reshape(-1), atol=1e-9)


def test_rotation_matrices_and_quaternions_round_trip_including_half_turns():
    torch.manual_seed(2)
    q = torch.nn.functional.normalize(torch.randn(200, 4, dtype=torch.float64), dim=-1)
    half_turns = torch.tensor(
        [[0.0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0.6, 0.8, 0]], dtype=torch.float64
    )
    q = torch.cat([q, half_turns])
    R = quat_to_rotmat(q)
    back = rotmat_to_quat(R)
    assert torch.allclose(quat_to_rotmat(back), R, atol=1e-12)
    assert torch.allclose(back.abs(), q.abs(), atol=1e-12) and (back[:, 0] >= 0).all()
    assert torch.allclose(
        quat_to_rotmat(quat_multiply(q[:100], q[100:200])), R[:100] @ R[100:200], atol=1e-12
    )


def test_camera_frame_gaussians_turn_into_the_world_with_the_camera():
    """The fast path (composed quaternions) against the obvious one (R Σ Rᵀ)."""
    torch.manual_seed(3)
    raw = torch.randn(2, HEAD_CHANNELS, 4, 4)
    T = orbit_poses(torch.tensor([15.0, 200.0]), torch.tensor([40.0, -5.0]), 2.5, (0.3, 0, 0))
    cam = decode_pixels(
        raw,
        torch.rand(2, 4, 4, 3),
        _K(5.0, 5.0, 2.0, 2.0).expand(2, 3, 3),
        torch.tensor([[1.0, 4.0]] * 2),
        SplatterConfig(),
    )
    world = to_world(cam, T)
    for b in range(2):
        R = T[b, :3, :3]
        sigma_cam = covariance_3d(cam.quats[b], cam.log_scales[b].exp())
        sigma_world = covariance_3d(world.quats[b], world.log_scales[b].exp())
        assert torch.allclose(sigma_world, R @ sigma_cam @ R.T, atol=1e-5)
        assert torch.allclose(world.means[b], cam.means[b] @ R.T + T[b, :3, 3], atol=1e-5)


def _sphere_depth(T: torch.Tensor, K: torch.Tensor, H: int, W: int, radius: float):
    """z-depth of a ball of ``radius`` at the origin along each pixel ray ([H, W]) and where rays hit it."""
    rays = pixel_rays(K[None], H, W)[0]  # z = 1
    d = rays @ T[:3, :3].T  # world directions
    eye = T[:3, 3]
    a, b, c = (d * d).sum(-1), 2 * (d @ eye), eye @ eye - radius**2
    disc = b * b - 4 * a * c
    hit = disc > 0
    t = (-b - disc.clamp_min(0).sqrt()) / (2 * a)  # the near intersection, in units of z
    return torch.where(hit, t, torch.full_like(t, 3.0)), hit


def test_two_views_predictions_join_in_one_world_frame():
    H = W = 16
    T = orbit_poses(torch.tensor([0.0, 100.0]), torch.tensor([10.0, 35.0]), 3.0, (0, 0, 0))
    K = _K(18.0, 18.0, 8.0, 8.0)
    depths, hits = zip(*(_sphere_depth(T[i], K, H, W, 0.8) for i in range(2)))
    depth, hit = torch.stack(depths), torch.stack(hits).reshape(2, -1)
    assert hit.sum(1).min() > 40  # each view sees a good part of the ball
    ranges = depth_range_around(T, torch.zeros(3), 1.0)
    raw = torch.zeros(2, HEAD_CHANNELS, H, W)
    raw[:, 0] = _depth_logit(depth, ranges[:, :1, None], ranges[:, 1:, None])
    views = to_world(
        decode_pixels(raw, torch.rand(2, H, W, 3), K.expand(2, 3, 3), ranges, SplatterConfig()), T
    )
    fused = views.cloud()
    assert fused.num == 2 * H * W and torch.equal(fused.means[: H * W], views.means[0])
    on_ball = fused.means[hit.reshape(-1)]
    assert torch.allclose(on_ball.norm(dim=-1), torch.full((len(on_ball),), 0.8), atol=1e-4)
    for i in range(2):  # each view contributes the side of the ball that faces its own camera
        seen = views.means[i][hit[i]]
        assert ((seen @ T[i, :3, 3]) > 0).all()
    # and the two sides overlap: part of what view 1 predicts lies on the cap camera 0 sees
    assert ((views.means[1][hit[1]] @ T[0, :3, 3]) > 0.5).sum() > 10


def test_views_are_predicted_independently_so_fusion_equals_joining_single_predictions():
    torch.manual_seed(4)
    model = SplatterImage(SMALL).eval()
    T = orbit_poses(torch.tensor([0.0, 90.0]), torch.tensor([0.0, 30.0]), 3.0, (0, 0, 0))
    K, images = _K(20.0, 20.0, 8.0, 8.0).expand(2, 3, 3), torch.rand(2, 16, 16, 3)
    ranges = depth_range_around(T, torch.zeros(3), 1.0)
    with torch.no_grad():
        both = model(images, K, T, ranges).cloud()
        one = [
            model(images[i : i + 1], K[i : i + 1], T[i : i + 1], ranges[i : i + 1]).cloud() for i in range(2)
        ]
    assert torch.allclose(both.means, torch.cat([c.means for c in one]), atol=1e-5)
    assert torch.allclose(both.sh, torch.cat([c.sh for c in one]), atol=1e-5)


def test_the_prediction_depends_on_the_intrinsics():
    torch.manual_seed(5)
    model = SplatterImage(SMALL).eval()
    T = orbit_poses(torch.tensor([0.0]), torch.tensor([0.0]), 3.0, (0, 0, 0))
    image, ranges = torch.rand(1, 16, 16, 3), depth_range_around(T, torch.zeros(3), 1.0)
    with torch.no_grad():
        a = model(image, _K(20.0, 20.0, 8.0, 8.0)[None], T, ranges)
        b = model(image, _K(30.0, 30.0, 8.0, 8.0)[None], T, ranges)
    # the rays differ, and so does what the U-Net makes of the same pixels
    assert (a.depth - b.depth).abs().max() > 1e-3
    blind = SplatterImage(SplatterConfig(channels=(8, 16), ray_input=False))
    assert blind.unet.stem.in_channels == 3 and model.unet.stem.in_channels == 5


def test_bad_sizes_and_settings_are_refused():
    with pytest.raises(ValueError, match="divisible"):
        SplatterImage(SplatterConfig(channels=(8, 16, 16))).unet(torch.zeros(1, 5, 6, 6))
    with pytest.raises(ValueError, match="opacity_init"):
        SplatterConfig(opacity_init=1.0)


def test_attention_starts_as_the_identity_then_mixes_the_whole_map_of_each_image_only():
    torch.manual_seed(0)
    block = SelfAttention(16, 4)
    x = torch.randn(2, 16, 4, 4)
    assert torch.equal(block(x), x)  # zero output projection: the trained U-Net's start is unchanged
    torch.nn.init.normal_(block.proj.weight)
    moved = x.clone()
    moved[0, :, 0, 0] += 1.0  # one corner of the first image
    a, b = block(x), block(moved)
    assert (a[0, :, 3, 3] - b[0, :, 3, 3]).abs().max() > 1e-3  # reaches the opposite corner
    assert torch.equal(a[1], b[1])  # and nothing of the other image
