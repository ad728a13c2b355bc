"""torch Datasets over a generated dataset: shapes, labels, sampling rules, determinism, batching."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from gs_perception.core.features import FeatureConfig, GaussianFeatures
from gs_perception.core.fit import FitConfig
from gs_perception.core.projection import quat_to_rotmat
from gs_perception.data.feature_cache import read_feature_cache
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.views import ViewRenderConfig
from gs_perception.train.datasets import (
    ClassificationDataset,
    SampleConfig,
    SSLDataset,
    collate,
    crop_augment,
    gaussian_augment,
)

CONFIG = DatasetConfig(
    source="shapes10",
    classes=("bed", "sofa"),
    train_per_class=2,
    test_per_class=1,
    val_fraction=0.0,
    view=ViewRenderConfig(width=20, height=20, n_train=5, n_test=1, background=(0.0, 0.0, 1.0)),
    fit=FitConfig(
        steps=20, refine_start=5, refine_stop=15, refine_every=5, init_points=200, max_gaussians=400
    ),
    features=FeatureConfig(max_points=64),
    workers=1,
)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset")
    assert generate_dataset(out, CONFIG, show_progress=False).complete
    return out


def test_classification_samples_have_labels_gaussians_and_views(root):
    config = SampleConfig(num_points=32, feature_groups=("xyz", "rgb", "opacity"), num_views=3)
    train, test = ClassificationDataset(root, "train", config), ClassificationDataset(root, "test", config)
    assert len(train) == 4 and len(test) == 2 and train.class_names == test.class_names == ("bed", "sofa")
    sample = train[0]
    assert sample.gaussians.shape == (32, 7) and sample.views.shape == (3, 3, 20, 20)
    assert [train[i].label for i in range(4)] == [0, 0, 1, 1]
    features = read_feature_cache(root / train.entries[0].features)
    expected = features.subset(slice(0, 32)).columns(("xyz", "rgb", "opacity"))  # fps = cache prefix
    assert torch.equal(sample.gaussians, expected)


def test_views_are_composited_on_the_dataset_background(root):
    ds = ClassificationDataset(root, "train", SampleConfig(num_views=1))
    view = ds[0].views[0]
    png = ds.root / ds.view_files(0)[0]
    rgba = np.asarray(Image.open(png).convert("RGBA"), dtype=np.float32) / 255.0
    empty = rgba[..., 3] == 0
    assert empty.any() and torch.allclose(view[:, torch.from_numpy(empty)].T, torch.tensor([0.0, 0.0, 1.0]))
    full = rgba[..., 3] == 1
    assert np.allclose(view.permute(1, 2, 0).numpy()[full], rgba[..., :3][full], atol=1e-6)
    resized = ClassificationDataset(root, "train", SampleConfig(num_views=1, image_size=10))[0].views
    assert resized.shape == (1, 3, 10, 10)
    assert torch.allclose(resized[0], torch.nn.functional.avg_pool2d(view[None], 2)[0], atol=1e-6)


def test_uniform_sampling_is_seeded_by_epoch_and_draws_distinct_gaussians(root):
    config = SampleConfig(num_points=16, sampling="uniform", feature_groups=("xyz",))
    ds = SSLDataset(root, "train", config)
    a, b = ds[1].gaussians, ds[1].gaussians
    ds.set_epoch(1)
    c = ds[1].gaussians
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(torch.unique(a, dim=0)) == 16
    cached = ds.features(1).xyz
    assert all((cached == row).all(dim=1).any() for row in a)  # every sampled row comes from the cache


def test_ssl_samples_draw_distinct_views_and_batch(root):
    ds = SSLDataset(root, ("train", "test"), SampleConfig(num_points=8, views_per_sample=3))
    samples = [ds[i] for i in range(len(ds))]
    assert len(ds) == 6
    for s in samples:
        assert s.views.shape == (3, 3, 20, 20) and len(set(s.view_ids.tolist())) == 3
        assert torch.equal(s.views, ds.load_views(s.index, s.view_ids))
    batch = collate(samples[:4])
    assert batch.gaussians.shape == (4, 8, 14) and batch.views.shape == (4, 3, 3, 20, 20)
    assert batch.view_ids.shape == (4, 3) and batch.labels.tolist() == [s.label for s in samples[:4]]
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate)
    assert [b.gaussians.shape[0] for b in loader] == [3, 3]


def test_too_few_gaussians_repeat_cyclically_and_bad_settings_fail(root):
    ds = ClassificationDataset(root, "train", SampleConfig(num_points=200, feature_groups=("xyz",)))
    cached = ds.features(0).xyz
    assert len(cached) <= 64
    g = ds[0].gaussians
    assert g.shape == (200, 3) and torch.equal(g[len(cached)], cached[0])
    with pytest.raises(ValueError, match="views_per_sample"):
        SSLDataset(root, "train", SampleConfig(views_per_sample=9))[0]
    with pytest.raises(ValueError, match="sampling"):
        SSLDataset(root, "train", SampleConfig(sampling="random"))
    with pytest.raises(ValueError, match="split"):
        SSLDataset(root, "training")
    with pytest.raises(FileNotFoundError, match="manifest"):
        SSLDataset(root / "nowhere", "train")


def test_failed_objects_are_left_out(root, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    lines = (copy / "manifest.jsonl").read_text().splitlines()
    first = lines[0].replace('"status": "ok"', '"status": "error"')
    (copy / "manifest.jsonl").write_text("\n".join([first, *lines[1:]]) + "\n")
    assert len(ClassificationDataset(copy, ("train", "test"))) == 5
    assert dataclasses.replace(SampleConfig(), seed=1).seed == 1


def test_crop_augment_keeps_shape_and_zero_strength_is_identity():
    views = torch.rand(3, 3, 16, 16)
    assert torch.allclose(crop_augment(views, torch.Generator().manual_seed(0), 0.0), views, atol=1e-6)
    out = crop_augment(views, torch.Generator().manual_seed(0), 0.5)
    assert out.shape == views.shape and not torch.allclose(out, views)
    # A constant image stays constant under any crop and resize.
    flat = torch.full((2, 3, 16, 16), 0.25)
    assert torch.allclose(crop_augment(flat, torch.Generator().manual_seed(1), 0.5), flat)
    with pytest.raises(ValueError, match="crop strength"):
        crop_augment(views, torch.Generator(), 1.0)


def random_features(n: int = 50, seed: int = 0) -> GaussianFeatures:
    g = torch.Generator().manual_seed(seed)
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
    quats = torch.where(quats[:, :1] < 0, -quats, quats)
    return GaussianFeatures(
        xyz=torch.rand(n, 3, generator=g) - 0.5, scales=torch.rand(n, 3, generator=g) * 0.1, quats=quats,
        opacity=torch.rand(n, generator=g), rgb=torch.rand(n, 3, generator=g), sh_rest=torch.zeros(n, 0, 3),
        centre=torch.zeros(3), radius=1.0,
    )  # fmt: skip


def test_gaussian_yaw_turns_positions_and_rotations_together():
    """The quaternion update against its slow twin: rotation matrices turned by the same R_z(θ)."""
    f = random_features()
    out = gaussian_augment(f, torch.Generator().manual_seed(3), yaw=True, jitter=0.0)
    # θ from the positions (the z column and the lengths stay; the turn is one rigid rotation).
    assert torch.equal(out.xyz[:, 2], f.xyz[:, 2])
    torch.testing.assert_close(out.xyz.norm(dim=-1), f.xyz.norm(dim=-1))
    theta = torch.atan2(out.xyz[0, 1], out.xyz[0, 0]) - torch.atan2(f.xyz[0, 1], f.xyz[0, 0])
    c, s = torch.cos(theta), torch.sin(theta)
    Rz = torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(out.xyz, f.xyz @ Rz.T, atol=1e-6, rtol=0)
    torch.testing.assert_close(quat_to_rotmat(out.quats), Rz @ quat_to_rotmat(f.quats), atol=1e-5, rtol=0)
    assert (out.quats[:, 0] >= 0).all() and torch.allclose(out.quats.norm(dim=-1), torch.ones(len(f)))
    for name in ("scales", "opacity", "rgb"):
        assert torch.equal(getattr(out, name), getattr(f, name)), name
    assert torch.equal(f.xyz, random_features().xyz), "the input must not change"


def test_gaussian_jitter_and_determinism():
    f = random_features(4000)
    a = gaussian_augment(f, torch.Generator().manual_seed(0), yaw=False, jitter=0.02)
    b = gaussian_augment(f, torch.Generator().manual_seed(0), yaw=False, jitter=0.02)
    assert torch.equal(a.xyz, b.xyz) and torch.equal(a.quats, f.quats)
    assert abs(float((a.xyz - f.xyz).std()) - 0.02) < 0.002
    off = gaussian_augment(f, torch.Generator().manual_seed(0), yaw=False, jitter=0.0)
    assert torch.equal(off.xyz, f.xyz)
    with pytest.raises(ValueError, match="sh"):
        SampleConfig(gaussian_yaw=True, feature_groups=("xyz", "sh"))
    with pytest.raises(ValueError, match="gaussian_jitter"):
        SampleConfig(gaussian_jitter=-0.1)


def test_ssl_samples_augment_gaussians_only_when_asked(root):
    plain = SSLDataset(root, "train", SampleConfig(num_points=32, feature_groups=("xyz", "rot")))
    turned = SSLDataset(
        root, "train", SampleConfig(num_points=32, feature_groups=("xyz", "rot"), gaussian_yaw=True)
    )
    a, b = plain[0], turned[0]
    assert torch.equal(a.views, b.views) and torch.equal(a.view_ids, b.view_ids)
    assert not torch.allclose(a.gaussians, b.gaussians)
    torch.testing.assert_close(a.gaussians[:, :3].norm(dim=-1), b.gaussians[:, :3].norm(dim=-1))
    # Classification (probe) samples are never augmented.
    probe = ClassificationDataset(
        root, "train", SampleConfig(num_points=32, feature_groups=("xyz", "rot"), gaussian_yaw=True)
    )
    assert torch.equal(probe[0].gaussians, ClassificationDataset(root, "train", plain.config)[0].gaussians)
