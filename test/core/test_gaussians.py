"""GaussianCloud: validation, activations, selection, concatenation, SH padding, initialisation."""

from __future__ import annotations

import pytest
import torch

from gs_perception.core.gaussians import (
    SH_C0,
    GaussianCloud,
    knn_mean_distance,
    rgb_to_sh,
    sh_degree_from_bases,
    sh_to_rgb,
)


def _cloud(n: int = 5, degree: int = 1) -> GaussianCloud:
    g = torch.Generator().manual_seed(0)
    k = (degree + 1) ** 2
    return GaussianCloud(
        torch.randn(n, 3, generator=g),
        torch.randn(n, 3, generator=g),
        torch.randn(n, 4, generator=g),
        torch.randn(n, generator=g),
        torch.randn(n, k, 3, generator=g),
    )


def test_activations_are_the_documented_functions():
    c = _cloud()
    assert torch.equal(c.scales(), torch.exp(c.log_scales))
    assert torch.equal(c.opacities(), torch.sigmoid(c.opacity_logits))
    assert torch.allclose(c.unit_quats().norm(dim=-1), torch.ones(5))
    assert torch.allclose(c.rgb(), (0.5 + SH_C0 * c.sh[:, 0]).clamp(0, 1))
    assert c.sh_degree == 1 and c.num == len(c) == 5


def test_rgb_sh_round_trip_and_degree_counts():
    rgb = torch.rand(10, 3)
    assert torch.allclose(sh_to_rgb(rgb_to_sh(rgb)), rgb, atol=1e-6)
    assert [sh_degree_from_bases(k) for k in (1, 4, 9, 16)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="SH coefficients"):
        sh_degree_from_bases(5)


def test_shape_validation_names_the_field():
    c = _cloud()
    with pytest.raises(ValueError, match="quats"):
        GaussianCloud(c.means, c.log_scales, c.quats[:, :3], c.opacity_logits, c.sh)
    with pytest.raises(ValueError, match="sh"):
        GaussianCloud(c.means, c.log_scales, c.quats, c.opacity_logits, c.sh[:, :3])


def test_subset_cat_and_sh_padding():
    a, b = _cloud(5, degree=1), _cloud(3, degree=3)
    sub = a.subset(torch.tensor([4, 0]))
    assert torch.equal(sub.means, a.means[[4, 0]]) and torch.equal(sub.sh, a.sh[[4, 0]])
    both = GaussianCloud.cat([a, b])
    assert both.num == 8 and both.sh_degree == 3
    assert torch.equal(both.sh[:5, :4], a.sh) and both.sh[:5, 4:].abs().sum() == 0
    assert torch.equal(both.sh[5:], b.sh)
    assert torch.equal(b.with_sh_degree(0).sh, b.sh[:, :1])
    mask = torch.tensor([True, False, True, False, False])
    assert a.subset(mask).num == 2


def test_from_points_initialisation():
    pts = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]])
    c = GaussianCloud.from_points(pts, rgb=torch.full((4, 3), 0.25), opacity=0.2, sh_degree=2)
    assert torch.allclose(c.opacities(), torch.full((4,), 0.2))
    assert torch.allclose(c.rgb(), torch.full((4, 3), 0.25), atol=1e-6)
    assert c.sh.shape == (4, 9, 3) and c.sh[:, 1:].abs().sum() == 0
    assert torch.equal(c.quats, torch.tensor([[1.0, 0, 0, 0]] * 4))
    # Scale = mean distance to the 3 nearest neighbours, equal along the three axes.
    d = torch.cdist(pts, pts)
    expected = d.sort(dim=1).values[:, 1:4].mean(dim=1)
    assert torch.allclose(c.scales()[:, 0], expected) and torch.allclose(c.scales()[:, 0], c.scales()[:, 2])


def test_knn_mean_distance_matches_brute_force_across_chunks():
    pts = torch.randn(300, 3)
    d = torch.cdist(pts, pts).sort(dim=1).values[:, 1:4].mean(dim=1)
    assert torch.allclose(knn_mean_distance(pts, k=3, chunk=64), d, atol=1e-6)
    assert knn_mean_distance(pts[:1]).tolist() == [0.0]
