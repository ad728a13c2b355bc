"""Gaussian encoders: shapes, permutation invariance, determinism, gradients, a tiny fit, input errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gs_perception.core.sampling import farthest_point_sample
from gs_perception.models.gaussian_encoder import build_gaussian_encoder
from gs_perception.models.pointnet import GaussianEncoderConfig, PointNetEncoder
from gs_perception.models.pointnet2 import PointNet2Encoder, SetAbstraction

# Small PointNet++ levels keep the CPU tests fast; the layer widths are the real ones.
SMALL = {"pointnet2_centres": (32, 8), "pointnet2_neighbours": (8, 16)}
ARCHS = ("pointnet", "pointnet2")


def _config(arch: str, **overrides) -> GaussianEncoderConfig:
    return GaussianEncoderConfig(arch=arch, **{**SMALL, **overrides})


def _gaussians(batch: int, num: int, channels: int, seed: int) -> torch.Tensor:
    """[B, N, C]: xyz inside the unit sphere, then arbitrary features."""
    g = torch.Generator().manual_seed(seed)
    xyz = torch.randn(batch, num, 3, generator=g)
    xyz = xyz / xyz.norm(dim=-1, keepdim=True) * torch.rand(batch, num, 1, generator=g)
    return torch.cat([xyz, torch.randn(batch, num, channels - 3, generator=g)], dim=-1)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(("channels", "embed_dim"), [(3, 512), (10, 128), (14, 64)])
def test_output_shapes(arch, channels, embed_dim):
    torch.manual_seed(0)
    encoder = build_gaussian_encoder(_config(arch, embed_dim=embed_dim), channels)
    assert isinstance(encoder, PointNetEncoder if arch == "pointnet" else PointNet2Encoder)
    out = encoder(_gaussians(3, 64, channels, seed=channels))
    assert out.shape == (3, embed_dim) and out.dtype == torch.float32 and torch.isfinite(out).all()
    encoder.eval()
    assert encoder(_gaussians(1, 64, channels, seed=1)).shape == (1, embed_dim)


def test_pointnet_is_permutation_invariant():
    torch.manual_seed(0)
    encoder = PointNetEncoder(14, _config("pointnet")).eval()
    x = _gaussians(4, 128, 14, seed=2)
    shuffled = x[:, torch.randperm(128, generator=torch.Generator().manual_seed(3))]
    with torch.no_grad():
        torch.testing.assert_close(encoder(shuffled), encoder(x), rtol=0, atol=1e-5)


def test_pointnet2_is_invariant_to_permutations_that_keep_the_fps_start():
    # FPS starts at index 0, so only permutations fixing index 0 pick the same centres. With K at least the
    # number of points at each level, every ball is grouped whole and its order cannot matter either.
    torch.manual_seed(0)
    config = _config("pointnet2", pointnet2_centres=(16, 4), pointnet2_neighbours=(64, 16))
    encoder = PointNet2Encoder(10, config).eval()
    x = _gaussians(3, 64, 10, seed=4)
    perm = torch.cat([torch.zeros(1, dtype=torch.long), 1 + torch.randperm(63)])
    with torch.no_grad():
        out = encoder(x)
        torch.testing.assert_close(encoder(x[:, perm]), out, rtol=0, atol=1e-5)
        # Deterministic with the default grouping too, where K is smaller than some balls.
        small = PointNet2Encoder(10, _config("pointnet2")).eval()
        assert torch.equal(small(x), small(x.clone()))


def test_set_abstraction_centres_and_clamping():
    torch.manual_seed(0)
    x = _gaussians(2, 20, 5, seed=5)
    sa = SetAbstraction(2, (16, 32), num_centres=32, radius=0.3, neighbours=4)
    centres, features = sa(x[..., :3], x[..., 3:])
    # More centres than points: clamped to N, so every point becomes a centre, in FPS order from index 0.
    index = farthest_point_sample(x[..., :3], 20, start=0)
    assert torch.equal(centres, torch.stack([x[b, index[b], :3] for b in range(2)]))
    assert features.shape == (2, 20, 32)
    centres, features = SetAbstraction(32, (8,))(centres, features)
    assert centres.shape == (2, 1, 3) and features.shape == (2, 1, 8)
    # An encoder sees fewer points than its default 512 centres.
    assert PointNet2Encoder(3).eval()(x[..., :3]).shape == (2, 512)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_reach_every_parameter(arch):
    torch.manual_seed(0)
    encoder = build_gaussian_encoder(_config(arch, embed_dim=32), 14)
    encoder(_gaussians(4, 64, 14, seed=6)).square().mean().backward()
    for name, param in encoder.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name
    assert any(float(p.grad.abs().sum()) > 0 for p in encoder.parameters())


def _spheres_and_cubes(batch: int, num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Surface points of unit spheres (label 0) and of cubes inscribed in the unit sphere (label 1)."""
    g = torch.Generator().manual_seed(seed)
    sphere = torch.randn(batch // 2, num, 3, generator=g)
    sphere = sphere / sphere.norm(dim=-1, keepdim=True)
    cube = torch.rand(batch - batch // 2, num, 3, generator=g) * 2 - 1
    # Push one random coordinate of each point to ±1 to land on a face.
    face = torch.randint(3, (*cube.shape[:2], 1), generator=g)
    sign = torch.randint(2, (*cube.shape[:2], 1), generator=g).float() * 2 - 1
    cube = cube.scatter(2, face, sign) / math.sqrt(3)
    labels = torch.cat([torch.zeros(batch // 2), torch.ones(batch - batch // 2)]).long()
    return torch.cat([sphere, cube]), labels


@pytest.mark.parametrize("arch", ARCHS)
def test_a_few_adam_steps_fit_spheres_versus_cubes(arch):
    torch.manual_seed(0)
    x, labels = _spheres_and_cubes(8, 64, seed=7)
    encoder = build_gaussian_encoder(_config(arch, embed_dim=64, dropout=0.0), 3)
    model = nn.Sequential(encoder, nn.Linear(64, 2))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(20):
        loss = nn.functional.cross_entropy(model(x), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[0] > 0.5 and losses[-1] < 0.1 * losses[0], losses
    assert torch.equal(model(x).argmax(dim=1), labels)


def test_bad_channels_raise():
    with pytest.raises(ValueError, match="in_channels=2"):
        PointNetEncoder(2)
    with pytest.raises(ValueError, match="in_channels=2"):
        build_gaussian_encoder(GaussianEncoderConfig(arch="pointnet2"), 2)
    for encoder in (PointNetEncoder(10), PointNet2Encoder(10, _config("pointnet2"))):
        with pytest.raises(ValueError, match=r"C=14.*in_channels=10"):
            encoder(_gaussians(2, 32, 14, seed=8))
        with pytest.raises(ValueError, match=r"\[B, N, C\]"):
            encoder(torch.zeros(32, 10))
    with pytest.raises(ValueError, match="unknown arch 'dgcnn'"):  # refused where the config is made
        build_gaussian_encoder(GaussianEncoderConfig(arch="dgcnn"), 3)
