"""The instance test: retrieval of an object's second fit, held to cases whose answer is known."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch

from gs_perception.data.generate import generate_dataset
from gs_perception.data.manifest import read_manifest
from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig
from gs_perception.train.datasets import ClassificationDataset, SampleConfig
from gs_perception.train.instance import descriptor_instance_figures, has_two_fits, instance_figures

from ..data.test_generate import TINY

DATA = dataclasses.replace(TINY, train_per_class=2, test_per_class=0, val_fraction=0.0, fits_per_object=2)
SAMPLE = SampleConfig(num_points=32, feature_groups=("xyz", "scale", "rgb"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("instance") / "data"
    assert generate_dataset(root, DATA, show_progress=False).complete
    return root


def _model() -> DualEncoder:
    torch.manual_seed(0)
    config = DualEncoderConfig(
        image=ImageEncoderConfig(embed_dim=16), gaussian=GaussianEncoderConfig(embed_dim=16)
    )
    return DualEncoder(config, 9).eval()


def _copy_fits(root, second_of):
    """Make each object's fit 2 a copy of fit 1 of ``second_of[object]``."""
    entries = read_manifest(root / "manifest.jsonl")
    for object_id, entry in entries.items():
        source = entries[second_of[object_id]]
        shutil.copyfile(root / source.features, root / entry.extra_fits[0].features)


def test_a_second_fit_equal_to_the_first_is_always_found_and_a_swapped_one_never(dataset, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    ids = sorted(read_manifest(root / "manifest.jsonl"))
    _copy_fits(root, {i: i for i in ids})
    model = _model()
    gaussians, images = instance_figures(model, model.head, root, "train", SAMPLE, "ssl", seed=0)
    assert (gaussians.query, images.query) == ("gaussians", "images")
    assert gaussians.recall_at_1 == 1.0 and gaussians.hits_at_1 == [1] * len(ids)
    assert gaussians.chance_at_1 == pytest.approx(0.5)  # two objects per class: a gallery of two
    assert descriptor_instance_figures(root, "train", SAMPLE, seed=0).recall_at_1 == 1.0
    assert len(images.hits_at_1) == len(ids) and 0.0 <= images.recall_at_1 <= 1.0

    # Within each class the two objects swap fit 2: the query's exact copy is now the distractor's fit 2.
    pairs = {ids[0]: ids[1], ids[1]: ids[0], ids[2]: ids[3], ids[3]: ids[2]}
    _copy_fits(root, pairs)
    gaussians, _ = instance_figures(model, model.head, root, "train", SAMPLE, "ssl", seed=0)
    assert gaussians.recall_at_1 == 0.0 and gaussians.recall_at_5 == 1.0
    assert descriptor_instance_figures(root, "train", SAMPLE, seed=0).recall_at_1 == 0.0


def test_real_second_fits_are_close_to_the_first_by_the_descriptor(dataset):
    figures = descriptor_instance_figures(dataset, "train", SAMPLE, seed=0)
    assert figures.recall_at_1 >= 0.75  # another seed, the same object: its shape descriptor barely moves


def test_samples_read_the_asked_fit_and_random_fit_draws_both(dataset):
    assert has_two_fits(dataset, "train", SAMPLE)
    first = ClassificationDataset(dataset, "train", SAMPLE)
    second = ClassificationDataset(dataset, "train", dataclasses.replace(SAMPLE, fit=2))
    assert first.num_fits == 2 and not torch.equal(first.gaussians(0), second.gaussians(0))
    mixed = ClassificationDataset(dataset, "train", dataclasses.replace(SAMPLE, random_fit=True))
    drawn = set()
    for epoch in range(8):
        mixed.set_epoch(epoch)
        g = mixed.gaussians(0, augment=True)
        drawn.add(next(k for k, d in ((1, first), (2, second)) if torch.equal(g, d.gaussians(0))))
    assert drawn == {1, 2}
    with pytest.raises(ValueError, match="fit 3"):
        ClassificationDataset(dataset, "train", dataclasses.replace(SAMPLE, fit=3))
    assert np.isfinite(first.gaussians(1).numpy()).all()
