"""The controls of the evaluation: untrained encoders, the frozen-encoder head, cross-modal figures."""

from __future__ import annotations

import numpy as np
import torch

from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig
from gs_perception.train.controls import cross_modal_figures, train_frozen_head, untrained_model
from gs_perception.train.embeddings import Embeddings

CONFIG = DualEncoderConfig(image=ImageEncoderConfig(embed_dim=8), gaussian=GaussianEncoderConfig(embed_dim=8))


def synthetic(objects: int = 40, views: int = 3, classes: int = 4, noise: float = 0.05, seed: int = 0):
    """Embeddings where every view is its object's Gaussian embedding plus noise; objects of a class
    share a direction, so only a head that looks at more than the class can tell them apart."""
    rng = np.random.default_rng(seed)
    labels = np.arange(objects) % classes
    centres = rng.normal(size=(classes, 8))
    gauss = centres[labels] + 0.5 * rng.normal(size=(objects, 8))
    view = gauss[:, None] + noise * rng.normal(size=(objects, views, 8))
    return Embeddings(
        object_ids=[f"o{i}" for i in range(objects)],
        labels=labels,
        views=view.astype(np.float32),
        gaussians=gauss.astype(np.float32),
    )


class CosineHead(torch.nn.Module):
    """A head that scores a pair by cosine similarity: perfect when views equal their Gaussians."""

    def forward(self, image, gaussians):
        return 10 * (torch.nn.functional.cosine_similarity(image, gaussians, dim=-1) - 0.9)


def test_cross_modal_figures_of_a_perfect_head_and_of_a_blind_one():
    model = DualEncoder(CONFIG, in_channels=3)
    test = synthetic()
    perfect = cross_modal_figures(model, CosineHead(), test, "ssl", seed=0)
    assert perfect.recall_at_1 == 1.0 and perfect.same_class_auc > 0.99
    assert perfect.chance_at_1 == 0.1 and len(perfect.hits_at_1) == 40  # galleries of 10 (40 / 4 classes)
    shuffled = synthetic()
    shuffled.gaussians = shuffled.gaussians[np.random.default_rng(1).permutation(40)]
    blind = cross_modal_figures(model, CosineHead(), shuffled, "x", seed=0)
    assert blind.recall_at_1 < 0.4 and blind.same_class_auc < 0.75


def test_a_head_on_frozen_encoders_learns_the_correspondence_it_can():
    model = DualEncoder(CONFIG, in_channels=3).eval()
    head = train_frozen_head(model, synthetic(seed=2), steps=300, seed=0)
    figures = cross_modal_figures(model, head, synthetic(seed=3), "untrained", seed=0)
    assert figures.balanced_accuracy > 0.75  # other-object negatives: mostly another class, easy
    assert figures.recall_at_1 > figures.chance_at_1


def test_untrained_model_is_seeded_fresh_and_leaves_the_global_rng_alone():
    model = DualEncoder(CONFIG, in_channels=3)
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = untrained_model(model, seed=1)
    assert torch.equal(torch.rand(1), before)
    b, c = untrained_model(model, seed=1), untrained_model(model, seed=2)
    first = next(iter(a.state_dict()))
    assert torch.equal(a.state_dict()[first], b.state_dict()[first])
    assert not torch.equal(a.state_dict()[first], c.state_dict()[first])
    assert not torch.equal(a.state_dict()[first], model.state_dict()[first])


def test_the_control_head_is_not_defeated_by_scale():
    """Untrained encoders give Gaussian embeddings that differ by a few % between objects around a large
    common part; the control standardises its inputs, so that alone does not make it look blind."""
    model = DualEncoder(CONFIG, in_channels=3).eval()

    def squashed(seed):
        e = synthetic(seed=seed)
        e.gaussians = (5.0 + 0.01 * e.gaussians).astype(np.float32)  # cosine ≈ 1 between all objects
        return e

    head = train_frozen_head(model, squashed(2), steps=300, seed=0)
    assert cross_modal_figures(model, head, squashed(3), "untrained", seed=0).balanced_accuracy > 0.75
