""".splat I/O: the 32-byte record layout, viewer sort order, and round trips within quantisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gs_perception.core.gaussians import SH_C0, GaussianCloud, num_sh_bases, rgb_to_sh
from gs_perception.core.splat import SplatError, read_splat, write_splat


def random_cloud(n: int = 50, degree: int = 0, seed: int = 0) -> GaussianCloud:
    """Colours kept inside [0, 1] so the DC term survives the clip; random distinct scales and opacities."""
    g = torch.Generator().manual_seed(seed)
    sh = torch.randn(n, num_sh_bases(degree), 3, generator=g) * 0.3
    sh[:, 0] = rgb_to_sh(torch.rand(n, 3, generator=g) * 0.98 + 0.01)
    return GaussianCloud(
        means=torch.randn(n, 3, generator=g) * 5.0,
        log_scales=torch.randn(n, 3, generator=g) - 3.0,
        quats=torch.randn(n, 4, generator=g),
        opacity_logits=torch.randn(n, generator=g) * 3.0,
        sh=sh,
    )


def viewer_order(cloud: GaussianCloud) -> np.ndarray:
    """Descending prod(scales) · opacity, computed independently of splat.py."""
    scales = np.exp(cloud.log_scales.double().numpy())
    opacity = 1.0 / (1.0 + np.exp(-cloud.opacity_logits.double().numpy()))
    return np.argsort(-(scales.prod(axis=1) * opacity), kind="stable")


def test_file_is_32_bytes_per_gaussian_without_header(tmp_path):
    write_splat(tmp_path / "c.splat", random_cloud(n=37))
    assert (tmp_path / "c.splat").stat().st_size == 32 * 37


def test_record_layout_matches_antimatter15(tmp_path):
    cloud = GaussianCloud(
        means=torch.tensor([[1.0, -2.0, 3.5]]),
        log_scales=torch.log(torch.tensor([[0.5, 1.0, 2.0]])),
        quats=torch.tensor([[2.0, 0.0, 0.0, 0.0]]),  # unnormalised identity, wxyz
        opacity_logits=torch.logit(torch.tensor([0.8])),
        sh=rgb_to_sh(torch.tensor([[[1.0, 0.0, 0.2]]])),
    )
    write_splat(tmp_path / "one.splat", cloud)
    data = (tmp_path / "one.splat").read_bytes()
    assert np.array_equal(np.frombuffer(data[0:12], "<f4"), [1.0, -2.0, 3.5])
    assert np.allclose(np.frombuffer(data[12:24], "<f4"), [0.5, 1.0, 2.0], rtol=1e-6, atol=0)
    assert list(data[24:28]) == [255, 0, 51, 204]  # RGB clip(0.5 + SH_C0·f_dc)·255, A = sigmoid·255
    assert list(data[28:32]) == [255, 128, 128, 128]  # w = 1 → 256 clipped to 255


def test_gaussians_are_sorted_big_and_opaque_first(tmp_path):
    cloud = random_cloud(n=64, seed=1)
    write_splat(tmp_path / "c.splat", cloud)
    back = read_splat(tmp_path / "c.splat")
    order = viewer_order(cloud)
    assert not np.array_equal(order, np.arange(64))  # the test would prove nothing on pre-sorted input
    assert torch.equal(back.means, cloud.means[order])


def test_round_trip_within_quantisation(tmp_path):
    cloud = random_cloud(n=200, degree=2, seed=2)
    write_splat(tmp_path / "c.splat", cloud)
    back = read_splat(tmp_path / "c.splat")
    orig = cloud.subset(torch.from_numpy(viewer_order(cloud)))
    assert back.sh.shape == (200, 1, 3) and back.sh_degree == 0
    assert all(t.dtype == torch.float32 for t in (back.means, back.log_scales, back.quats, back.sh))
    assert torch.equal(back.means, orig.means)
    torch.testing.assert_close(back.scales(), orig.scales(), rtol=1e-6, atol=0.0)
    # Bytes are rounded to nearest: half a step of 1/255 in colour and opacity, of 1/128 in quaternions.
    half_u8 = 0.5 / 255.0 + 1e-6
    assert (back.rgb() - orig.rgb()).abs().max() <= half_u8
    assert (back.sh[:, 0] - orig.sh[:, 0]).abs().max() <= half_u8 / SH_C0
    assert (back.opacities() - orig.opacities()).abs().max() <= half_u8
    unit = orig.unit_quats()
    assert (back.quats - unit).abs().max() <= 0.5 / 128.0 + 1e-6
    # Same rotation up to a small angle: |<q, q'>| = cos(angle / 2).
    cos_half = (torch.nn.functional.normalize(back.quats, dim=-1) * unit).sum(-1).abs()
    assert cos_half.min() >= math.cos(math.radians(2.0) / 2)


def test_colour_and_opacity_extremes_clip_but_stay_finite(tmp_path):
    cloud = random_cloud(n=4)
    cloud.sh[:, 0] = torch.tensor([10.0, -10.0, 0.0])
    cloud.opacity_logits = torch.tensor([40.0, 0.0, 5.0, -40.0])
    # Scales falling by e^9 per Gaussian dominate the sort key, so file order is input order.
    cloud.log_scales = torch.tensor([9.0, 6.0, 3.0, 0.0])[:, None].repeat(1, 3)
    write_splat(tmp_path / "c.splat", cloud)
    back = read_splat(tmp_path / "c.splat")
    assert torch.isfinite(back.opacity_logits).all()
    assert torch.equal(back.rgb(), torch.tensor([[1.0, 0.0, 128 / 255]]).expand(4, 3))
    assert torch.equal(back.means, cloud.means)
    # Bytes 255 and 0 decode half a step inside (0, 1) so the logits stay finite.
    assert back.opacities()[0].item() == pytest.approx(1.0 - 0.5 / 255, abs=1e-6)
    assert back.opacities()[3].item() == pytest.approx(0.5 / 255, abs=1e-6)


def test_size_not_multiple_of_32_raises_naming_file(tmp_path):
    path = tmp_path / "bad.splat"
    write_splat(path, random_cloud(n=3))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(SplatError, match="multiple of 32") as info:
        read_splat(path)
    assert str(path) in str(info.value) and "91 bytes" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_empty_cloud_and_atomic_write_to_new_dirs(tmp_path):
    path = tmp_path / "x" / "y" / "empty.splat"
    write_splat(path, random_cloud(n=0))
    assert path.read_bytes() == b""
    assert read_splat(path).num == 0
    assert [p.name for p in path.parent.iterdir()] == ["empty.splat"]


def test_matches_gsplat_splat_export_record_for_record(tmp_path):
    exporter = pytest.importorskip("gsplat.exporter")  # gsplat's CPU-only exporter, no CUDA needed
    cloud = random_cloud(n=40, seed=4)
    theirs = exporter.export_splats(
        means=cloud.means,
        scales=cloud.log_scales,
        quats=cloud.quats,
        opacities=cloud.opacity_logits,
        sh0=cloud.sh[:, :1],
        shN=cloud.sh[:, 1:],
        format="splat",
    )
    write_splat(tmp_path / "ours.splat", cloud)
    ours = np.frombuffer((tmp_path / "ours.splat").read_bytes(), np.uint8).reshape(40, 32)
    theirs = np.frombuffer(theirs, np.uint8).reshape(40, 32)
    # gsplat sorts along a Morton curve, we by size·opacity: align the records by their position bytes.
    key = {row[:12].tobytes(): i for i, row in enumerate(theirs)}
    theirs = theirs[[key[row[:12].tobytes()] for row in ours]]
    assert np.array_equal(ours[:, :24], theirs[:, :24])  # position and exp(scale) floats, byte for byte
    # gsplat truncates colour, opacity and rotation bytes; we round to nearest.
    assert set(np.unique(ours[:, 24:].astype(int) - theirs[:, 24:].astype(int))) <= {0, 1}
