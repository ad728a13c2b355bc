"""Per-Gaussian features: activations by hand, filters, FPS order and prefixes, columns, the .npz cache."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gs_perception.core.features import (
    FEATURE_CACHE_VERSION,
    FEATURE_GROUPS,
    FeatureConfig,
    GaussianFeatures,
    feature_width,
    gaussian_features,
)
from gs_perception.core.gaussians import SH_C0, GaussianCloud, num_sh_bases
from gs_perception.core.ply import read_ply, write_ply
from gs_perception.core.sampling import farthest_point_sample
from gs_perception.data.feature_cache import (
    FeatureCacheError,
    build_feature_cache,
    read_feature_cache,
    write_feature_cache,
)


def random_cloud(n: int = 300, degree: int = 0, seed: int = 0) -> GaussianCloud:
    g = torch.Generator().manual_seed(seed)
    return GaussianCloud(
        means=torch.randn(n, 3, generator=g) * 3.0 + torch.tensor([5.0, -1.0, 2.0]),
        log_scales=torch.randn(n, 3, generator=g) - 3.0,
        quats=torch.randn(n, 4, generator=g),
        opacity_logits=torch.rand(n, generator=g) * 4.0 + 1.0,
        sh=torch.randn(n, num_sh_bases(degree), 3, generator=g),
    )


def tiny_cloud() -> GaussianCloud:
    """Four Gaussians at ±1 on x and ±2 on y: centre 0, radius 2."""
    dc_white = 0.5 / SH_C0
    return GaussianCloud(
        means=torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [0, 2.0, 0], [0, -2.0, 0]]),
        log_scales=torch.log(torch.tensor([[2.0, 2, 2], [0.5, 1, 4], [1.0, 1, 1], [8.0, 2, 2]])),
        quats=torch.tensor([[-2.0, 0, 0, 0], [0, 0, 0, 3.0], [-1.0, 1, 1, 1], [3.0, 4, 0, 0]]),
        opacity_logits=torch.tensor([0.0, math.log(3.0), -math.log(3.0), 20.0]),
        sh=torch.tensor([[[0.0, 0, 0]], [[dc_white, dc_white, dc_white]], [[-10.0, 0, 10.0]], [[0, 0, 0]]]),
    )


def input_rows(features: GaussianFeatures, cloud: GaussianCloud) -> list[int]:
    """Index into ``cloud`` of each feature row, found by undoing the normalisation."""
    means = features.xyz * features.radius + features.centre
    return [int(torch.cdist(m[None], cloud.means).argmin()) for m in means]


def test_activations_by_hand():
    cloud = tiny_cloud()
    f = gaussian_features(cloud)
    assert len(f) == 4 and f.sh_degree == 0 and f.sh_rest.shape == (4, 0, 3)
    assert torch.equal(f.centre, torch.zeros(3)) and f.radius == 2.0
    rows = input_rows(f, cloud)
    assert sorted(rows) == [0, 1, 2, 3]
    back = torch.tensor(rows).argsort()  # features in input order
    xyz, scales, quats = f.xyz[back], f.scales[back], f.quats[back]
    assert torch.equal(xyz, torch.tensor([[0.5, 0, 0], [-0.5, 0, 0], [0, 1.0, 0], [0, -1.0, 0]]))
    expected_scales = torch.tensor([[1.0, 1, 1], [0.25, 0.5, 2], [0.5, 0.5, 0.5], [4, 1, 1]])
    assert torch.allclose(scales, expected_scales, rtol=1e-6)
    expected_quats = torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 1], [0.5, -0.5, -0.5, -0.5], [0.6, 0.8, 0, 0]])
    assert torch.allclose(quats, expected_quats, atol=1e-7)
    assert torch.allclose(f.opacity[back], torch.tensor([0.5, 0.75, 0.25, 1.0]))
    expected_rgb = torch.tensor([[0.5, 0.5, 0.5], [1, 1, 1], [0, 0.5, 1], [0.5, 0.5, 0.5]])
    assert torch.allclose(f.rgb[back], expected_rgb)
    for t in (f.xyz, f.scales, f.quats, f.opacity, f.rgb, f.sh_rest, f.centre):
        assert t.dtype == torch.float32
    assert f.dropped_invalid == f.dropped_transparent == 0


def test_opacity_filter_uses_the_activated_value():
    cloud = tiny_cloud()
    # sigmoid(logit(p)) = p: 0.004 is dropped, 0.006 kept by the default opacity_min of 0.005.
    cloud.opacity_logits[:] = torch.logit(
        torch.tensor([0.004, 0.006, 0.9, 0.001], dtype=torch.float64)
    ).float()
    f = gaussian_features(cloud)
    assert sorted(input_rows(f, cloud)) == [1, 2]
    assert f.dropped_transparent == 2 and f.dropped_invalid == 0
    # Centre and radius come from the kept Gaussians only: (-1, 0, 0) and (0, 2, 0).
    assert torch.allclose(f.centre, torch.tensor([-0.5, 1.0, 0.0]))
    assert math.isclose(f.radius, math.hypot(0.5, 1.0), rel_tol=1e-6)
    assert len(gaussian_features(cloud, FeatureConfig(opacity_min=0.0))) == 4
    with pytest.raises(ValueError, match="no Gaussians left of 4: 0 non-finite.*4 with opacity below"):
        gaussian_features(cloud, FeatureConfig(opacity_min=0.95))


def test_non_finite_gaussians_are_dropped_and_counted():
    cloud = random_cloud(40, degree=1)
    cloud.means[3, 1] = float("nan")
    cloud.log_scales[7, 0] = float("inf")
    cloud.log_scales[8, 2] = 200.0  # exp overflows
    cloud.sh[9, 2, 1] = float("nan")
    cloud.quats[10] = 0.0
    cloud.opacity_logits[11] = float("-inf")
    f = gaussian_features(cloud, FeatureConfig(sh_degree=1))
    assert f.dropped_invalid == 6 and len(f) == 34
    # NaN means cannot be matched; move them far away so the row lookup ignores them.
    findable = dataclasses.replace(cloud, means=torch.nan_to_num(cloud.means, nan=1e6))
    assert not set(input_rows(f, findable)) & {3, 7, 8, 9, 10, 11}
    for t in (f.xyz, f.scales, f.quats, f.opacity, f.rgb, f.sh_rest):
        assert torch.isfinite(t).all()


def test_order_is_farthest_point_order_and_max_points_keeps_a_prefix():
    cloud = random_cloud(300)
    f = gaussian_features(cloud, FeatureConfig(seed=5))
    xyz = (cloud.means - cloud.means.mean(dim=0)) / (cloud.means - cloud.means.mean(dim=0)).norm(dim=1).max()
    start = int(torch.randint(300, (1,), generator=torch.Generator().manual_seed(5)))
    order = farthest_point_sample(xyz, 300, start=start)
    assert int(order[0]) == start
    assert torch.allclose(f.xyz, xyz[order], atol=1e-6)
    assert torch.equal(torch.tensor(input_rows(f, cloud)), order)
    assert f.xyz.norm(dim=1).max() <= 1.0 + 1e-6
    small = gaussian_features(cloud, FeatureConfig(seed=5, max_points=50))
    assert len(small) == 50
    for name in ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest"):
        assert torch.equal(getattr(small, name), getattr(f, name)[:50]), name
    assert torch.equal(f.subset(slice(0, 50)).xyz, small.xyz)
    other = gaussian_features(cloud, FeatureConfig(seed=6, max_points=50))
    assert not torch.equal(other.xyz[0], small.xyz[0])


def test_sh_degree_padding_truncation_and_config_checks():
    assert gaussian_features(random_cloud(20), FeatureConfig(sh_degree=2)).sh_rest.shape == (20, 8, 3)
    deg3 = random_cloud(20, degree=3)
    f = gaussian_features(deg3, FeatureConfig(sh_degree=1))
    assert f.sh_rest.shape == (20, 3, 3) and f.sh_degree == 1
    assert torch.equal(f.sh_rest, deg3.sh[input_rows(f, deg3), 1:4])
    single = gaussian_features(random_cloud(1).to(dtype=torch.float64))
    assert single.radius == 1.0 and torch.equal(single.xyz, torch.zeros(1, 3))
    assert single.xyz.dtype == torch.float32
    for bad in (dict(max_points=0), dict(sh_degree=4), dict(opacity_min=1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            gaussian_features(random_cloud(5), FeatureConfig(**bad))


def hand_features(n: int = 2) -> GaussianFeatures:
    # sh_rest[i, k, c] = 100·i + 10·k + c makes every coefficient's position in a column readable.
    i, k, c = torch.meshgrid(torch.arange(n), torch.arange(3), torch.arange(3), indexing="ij")
    return GaussianFeatures(
        xyz=torch.arange(3.0).repeat(n, 1),
        scales=torch.full((n, 3), 7.0),
        quats=torch.tensor([1.0, 0, 0, 0]).repeat(n, 1),
        opacity=torch.full((n,), 0.25),
        rgb=torch.full((n, 3), 0.5),
        sh_rest=(100 * i + 10 * k + c).float(),
        centre=torch.tensor([1.0, 2.0, 3.0]),
        radius=4.0,
    )


def test_columns_order_widths_and_channel_major_sh():
    f = hand_features()
    sh = f.columns(["sh"])
    assert torch.equal(sh[1], torch.tensor([100.0, 110, 120, 101, 111, 121, 102, 112, 122]))
    cols = f.columns(["opacity", "rot", "xyz", "sh", "scale", "rgb"])
    assert cols.shape == (2, 1 + 4 + 3 + 9 + 3 + 3) == (2, feature_width(list(FEATURE_GROUPS), sh_degree=1))
    assert torch.equal(cols[:, 0], f.opacity) and torch.equal(cols[:, 1:5], f.quats)
    assert torch.equal(cols[:, 5:8], f.xyz) and torch.equal(cols[:, 8:17], sh)
    assert torch.equal(cols[:, 17:20], f.scales) and torch.equal(cols[:, 20:], f.rgb)
    assert f.columns([]).shape == (2, 0)
    assert feature_width(["xyz", "sh"], sh_degree=0) == 3
    assert gaussian_features(random_cloud(10)).columns(["rgb", "sh"]).shape == (10, 3)
    with pytest.raises(ValueError, match="'normals'.*xyz, scale, rot, opacity, rgb, sh"):
        f.columns(["xyz", "normals"])
    with pytest.raises(ValueError, match="sequence of names"):
        f.columns("xyz")
    with pytest.raises(ValueError, match="sh_rest"):
        GaussianFeatures(**{**vars(f), "sh_rest": torch.zeros(2, 2, 3)})


def test_cache_round_trip_is_exact(tmp_path: Path):
    f = gaussian_features(random_cloud(60, degree=2), FeatureConfig(sh_degree=2, max_points=40))
    f.dropped_transparent = 3
    path = tmp_path / "cache" / "obj.npz"
    write_feature_cache(path, f)
    assert sorted(p.name for p in path.parent.iterdir()) == ["obj.npz"]  # no temp file left
    g = read_feature_cache(path)
    for name in ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest", "centre"):
        assert torch.equal(getattr(g, name), getattr(f, name)), name
    assert g.radius == f.radius and g.dropped_transparent == 3 and g.dropped_invalid == 0
    with np.load(path) as archive:
        assert int(archive["format_version"]) == FEATURE_CACHE_VERSION
        assert archive["xyz"].dtype == np.float32


def test_bad_cache_files_raise_naming_the_file(tmp_path: Path):
    good = tmp_path / "good.npz"
    write_feature_cache(good, hand_features())
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    damaged = tmp_path / "damaged.npz"  # intact zip structure, a member's bytes overwritten: bad CRC
    damaged.write_bytes(data[:300] + bytes(40) + data[340:])
    contents = {"junk.npz": b"not a cache at all", "stub.npz": data[:3], "empty.npz": b""}
    for name, content in contents.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "array.npy", np.zeros(3))
    for name in ("truncated.npz", "damaged.npz", *contents, "array.npy"):
        with pytest.raises(FeatureCacheError, match=rf"{name}: (corrupt|not an \.npz)"):
            read_feature_cache(tmp_path / name)
    with np.load(good) as archive:
        arrays = dict(archive)
    cases = {
        "missing.npz": ({k: v for k, v in arrays.items() if k != "quats"}, "missing key.*quats"),
        "shape.npz": ({**arrays, "rgb": arrays["rgb"][:, :2]}, "rgb has shape"),
        "version.npz": ({**arrays, "format_version": np.asarray(99)}, "format_version 99"),
        "dtype.npz": ({**arrays, "xyz": arrays["xyz"].astype(np.int32)}, "'xyz' has dtype"),
        "radius.npz": ({**arrays, "radius": np.asarray(-1.0)}, "radius must be"),
    }
    for name, (content, message) in cases.items():
        np.savez(tmp_path / name, **content)
        with pytest.raises(FeatureCacheError, match=f"{name}.*{message}"):
            read_feature_cache(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        read_feature_cache(tmp_path / "absent.npz")


def test_build_feature_cache_from_a_ply(tmp_path: Path):
    cloud = random_cloud(80, degree=1, seed=3)
    ply = tmp_path / "obj.ply"
    write_ply(ply, cloud)
    config = FeatureConfig(max_points=64, sh_degree=1, seed=2)
    built = build_feature_cache(ply, tmp_path / "obj.npz", config)
    expected = gaussian_features(read_ply(ply), config)
    cached = read_feature_cache(tmp_path / "obj.npz")
    for name in ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest", "centre"):
        assert torch.equal(getattr(built, name), getattr(expected, name)), name
        assert torch.equal(getattr(cached, name), getattr(expected, name)), name
    assert len(cached) == 64 and cached.radius == expected.radius


@pytest.mark.gpu
def test_cuda_features_match_cpu():
    cloud = random_cloud(500, degree=1, seed=4)
    config = FeatureConfig(max_points=200, sh_degree=1, seed=1)
    cpu = gaussian_features(cloud, config)
    gpu = gaussian_features(cloud.to(device="cuda"), config)
    assert gpu.xyz.device.type == "cuda" and len(gpu) == 200
    for name in ("xyz", "scales", "quats", "opacity", "rgb", "sh_rest", "centre"):
        assert torch.allclose(getattr(gpu, name).cpu(), getattr(cpu, name), atol=1e-5), name
