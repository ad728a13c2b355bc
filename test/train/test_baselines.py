"""Supervised baselines on a tiny generated dataset: mesh points, augmentation, both trainers, learning."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from gs_perception.core.features import FeatureConfig
from gs_perception.core.fit import FitConfig
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.manifest import MANIFEST_NAME, ManifestEntry, read_manifest
from gs_perception.data.shapes import make_shape
from gs_perception.data.views import ViewRenderConfig
from gs_perception.train.baselines import (
    BaselineConfig,
    augment_points,
    mesh_points,
    train_mvcnn_baseline,
    train_point_baseline,
)

DATA = DatasetConfig(
    source="shapes10",
    classes=("chair", "sofa", "table"),
    train_per_class=3,
    test_per_class=2,
    val_fraction=0.34,
    view=ViewRenderConfig(width=24, height=24, n_train=4, n_test=2),
    # The baselines never read the Gaussians: a token fit keeps the fixture fast.
    fit=FitConfig(steps=2, refine_start=1000, init_points=64, max_gaussians=64),
    features=FeatureConfig(max_points=32),
    workers=1,
)
TINY = BaselineConfig(epochs=2, batch_size=4, num_points=128, embed_dim=16, device="cpu")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines") / "data"
    assert generate_dataset(root, DATA, show_progress=False).complete
    return root


def test_mesh_points_lie_on_the_unit_sphere_scale_and_repeat_per_seed(dataset):
    entry = next(iter(read_manifest(dataset / MANIFEST_NAME).values()))
    assert entry.source.startswith("shapes10:")
    points = mesh_points(dataset, entry, 128, seed=3)
    norms = points.norm(dim=-1)
    assert points.shape == (128, 3) and points.dtype == torch.float32
    assert 0.5 < float(norms.max()) <= 1.0 + 1e-6
    assert torch.equal(points, mesh_points(dataset, entry, 128, seed=3))
    assert not torch.equal(points, mesh_points(dataset, entry, 128, seed=4))
    points.zero_()  # callers get a copy: the cache stays intact
    assert torch.equal(mesh_points(dataset, entry, 128, seed=4), mesh_points(dataset, entry, 128, seed=4))
    assert float(mesh_points(dataset, entry, 128, seed=3).norm(dim=-1).max()) > 0.5


def test_mesh_points_read_mesh_files_relative_to_the_dataset(tmp_path):
    (tmp_path / "meshes").mkdir()
    make_shape("table", 2).export(tmp_path / "meshes" / "table.ply")
    entry = ManifestEntry("table/t", "table", "train", "ok", source="meshes/table.ply")
    points = mesh_points(tmp_path, entry, 64, seed=0)
    assert points.shape == (64, 3) and 0.5 < float(points.norm(dim=-1).max()) <= 1.0 + 1e-6
    for source in ("", "shapes10:table", "shapes10:table:x"):
        with pytest.raises(ValueError, match="source"):
            mesh_points(tmp_path, dataclasses.replace(entry, source=source), 64, seed=0)


def test_augment_points_rotates_about_z_and_jitters_deterministically():
    points = torch.randn(3, 50, 3, generator=torch.Generator().manual_seed(0))
    rotated = augment_points(points, torch.Generator().manual_seed(1), jitter=0.0)
    assert torch.allclose(rotated[..., 2], points[..., 2])
    assert torch.allclose(rotated[..., :2].norm(dim=-1), points[..., :2].norm(dim=-1), atol=1e-5)
    assert not torch.allclose(rotated, points)
    jittered = augment_points(points, torch.Generator().manual_seed(1), jitter=0.01)
    assert torch.equal(jittered, augment_points(points, torch.Generator().manual_seed(1), jitter=0.01))
    assert 0 < float((jittered - rotated).abs().max()) <= 0.05 + 1e-6


def _check_result(result, epochs: int) -> None:
    assert [row[0] for row in result.per_epoch] == list(range(1, epochs + 1))
    assert all(math.isfinite(loss) and loss > 0 for _, loss, _ in result.per_epoch)
    for accuracy in (result.val_accuracy, result.test_accuracy, result.train_accuracy):
        assert 0.0 <= accuracy <= 1.0
    assert 1 <= result.best_epoch <= epochs and result.seconds > 0
    assert result.val_accuracy == max(val for _, _, val in result.per_epoch)
    assert set(result.test_correct) <= {0, 1} and result.test_accuracy == sum(result.test_correct) / len(
        result.test_correct
    )


def test_point_baselines_train_and_repeat_with_a_seed(dataset):
    result = train_point_baseline(dataset, TINY)
    assert result.name == "pointnet"
    _check_result(result, 2)
    assert train_point_baseline(dataset, TINY).per_epoch == result.per_epoch
    config = dataclasses.replace(TINY, point_arch="pointnet2", epochs=1, num_points=32)
    plus = train_point_baseline(dataset, config)
    assert plus.name == "pointnet2"
    _check_result(plus, 1)


def test_mvcnn_baseline_trains_on_the_views(dataset):
    result = train_mvcnn_baseline(dataset, dataclasses.replace(TINY, batch_size=6, num_views=2))
    assert result.name == "mvcnn"
    _check_result(result, 2)


def test_point_baseline_learns_chairs_sofas_and_tables(dataset):
    # 6 train and 3 val objects of 3 classes: chance is 1/3; 20 short epochs suffice from the points alone.
    config = BaselineConfig(epochs=20, batch_size=3, lr=3e-3, num_points=128, embed_dim=32, device="cpu")
    result = train_point_baseline(dataset, config)
    assert result.train_accuracy >= 0.66 and result.val_accuracy >= 0.66, result


def test_bad_settings_are_refused(dataset):
    with pytest.raises(ValueError, match="point_arch"):
        train_point_baseline(dataset, dataclasses.replace(TINY, point_arch="dgcnn"))
    with pytest.raises(ValueError, match="batch_size"):
        train_mvcnn_baseline(dataset, dataclasses.replace(TINY, batch_size=1))
