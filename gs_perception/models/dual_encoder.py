"""The two encoders and the fusion head trained together: images and Gaussians into one feature space."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from .fusion import FusionHead
from .image_encoder import ImageEncoder, ImageEncoderConfig
from .pointnet import GaussianEncoderConfig, build_gaussian_encoder


@dataclass(frozen=True)
class DualEncoderConfig:
    """Architecture of the image encoder, the Gaussian encoder and the fusion head."""

    image: ImageEncoderConfig = ImageEncoderConfig()
    """ResNet-18 image encoder (random init by default, as in the study)."""
    gaussian: GaussianEncoderConfig = GaussianEncoderConfig()
    """PointNet / PointNet++ over per-Gaussian features."""
    fusion_hidden: int = 256
    """Hidden width of the fusion head."""
    fusion_dropout: float = 0.2
    """Dropout in the fusion head."""
    normalise_embeddings: bool = True
    """L2-normalise embeddings in the triplet loss and before the fusion head (False: raw, as an option)."""


class DualEncoder(nn.Module):
    """ResNet-18 on views, PointNet(++) on Gaussians, and the head that pairs them.

    Args:
        config: The architecture.
        in_channels: Per-Gaussian feature width C (3 for xyz only; see data/features.py feature_width).
    """

    def __init__(self, config: DualEncoderConfig, in_channels: int):
        super().__init__()
        self.config, self.in_channels = config, in_channels
        self.image = ImageEncoder(config.image)
        self.gaussian = build_gaussian_encoder(config.gaussian, in_channels)
        self.head = FusionHead(
            self.image.embed_dim,
            config.gaussian.embed_dim,
            hidden=config.fusion_hidden,
            dropout=config.fusion_dropout,
            normalise=config.normalise_embeddings,
        )

    def embed_views(self, views: Tensor) -> Tensor:
        """[B, V, 3, H, W] RGB in [0, 1] → [B, V, D_image]."""
        return self.image.encode_views(views)

    def embed_gaussians(self, gaussians: Tensor) -> Tensor:
        """[B, P, C] per-Gaussian features (xyz first) → [B, D_gaussian]."""
        return self.gaussian(gaussians)

    def same_object_logits(self, image_emb: Tensor, gaussian_emb: Tensor) -> Tensor:
        """[B, D_image] × [B, D_gaussian] → [B] logits (> 0: the pair shows the same object)."""
        return self.head(image_emb, gaussian_emb)
