"""DualEncoder: embeddings for probes, projections for the losses and the fusion head."""

from __future__ import annotations

import torch
from torch import nn

from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig


def _model(projection_dim: int, fusion_mode: str = "concat") -> DualEncoder:
    config = DualEncoderConfig(
        image=ImageEncoderConfig(embed_dim=32),
        gaussian=GaussianEncoderConfig(embed_dim=24),
        projection_dim=projection_dim,
        fusion_mode=fusion_mode,
    )
    return DualEncoder(config, in_channels=6).eval()


def test_without_projection_the_losses_see_the_embeddings_themselves():
    model = _model(0)
    image, gauss = torch.randn(5, 32), torch.randn(5, 24)
    projected = model.project(image, gauss)
    assert torch.equal(projected[0], image) and torch.equal(projected[1], gauss)
    assert isinstance(model.image_projection, nn.Identity)


def test_projections_map_both_modalities_to_one_width_and_feed_the_head():
    model = _model(16, "compare")
    views = torch.rand(2, 3, 3, 32, 32)
    image = model.embed_views(views)
    assert image.shape == (2, 3, 32)  # probes read this, before the projection
    gauss = model.embed_gaussians(torch.randn(2, 64, 6))
    pi, pg = model.project(image.flatten(0, 1), gauss)
    assert pi.shape == (6, 16) and pg.shape == (2, 16)
    logits = model.same_object_logits(image[:, 0], gauss)
    assert logits.shape == (2,)
    assert torch.allclose(logits, model.head(*model.project(image[:, 0], gauss)))
