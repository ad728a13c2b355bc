"""The two encoders and the fusion head trained together: images and Gaussians into one feature space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from ..core.choices import check_choices
from .fusion import FusionHead
from .gaussian_encoder import build_gaussian_encoder
from .image_encoder import ImageEncoder, ImageEncoderConfig
from .pointnet import GaussianEncoderConfig


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
    fusion_mode: Literal["concat", "compare"] = "concat"
    """Fusion head input: 'concat' (the study's) or 'compare' (element-wise product and difference of
    projected embeddings; see models/fusion.py)."""
    projection_dim: int = 0
    """0 (the study): the losses and the fusion head act on the encoders' embeddings. > 0: each encoder
    gets an MLP projection (D → D → ReLU → projection_dim) and the losses act on the projections, while
    probes, the bundle and the online pipeline keep using the embeddings before it — the SimCLR finding
    that the layer before the projection keeps more of what the pretext task does not need (here: class)."""
    normalise_embeddings: bool = True
    """L2-normalise embeddings in the triplet loss and before the fusion head (False: raw, as an option)."""

    def __post_init__(self):
        check_choices(self)


class DualEncoder(nn.Module):
    """ResNet-18 on views, PointNet(++) on Gaussians, and the head that pairs them.

    Args:
        config: The architecture.
        in_channels: Per-Gaussian feature width C (3 for xyz only; see core/features.py feature_width).
    """

    def __init__(self, config: DualEncoderConfig, in_channels: int):
        super().__init__()
        self.config, self.in_channels = config, in_channels
        self.image = ImageEncoder(config.image)
        self.gaussian = build_gaussian_encoder(config.gaussian, in_channels)
        self.image_projection = _projection(self.image.embed_dim, config.projection_dim)
        self.gaussian_projection = _projection(config.gaussian.embed_dim, config.projection_dim)
        dims = (self.image.embed_dim, config.gaussian.embed_dim)
        if config.projection_dim > 0:
            dims = (config.projection_dim, config.projection_dim)
        self.head = FusionHead(
            *dims,
            hidden=config.fusion_hidden,
            dropout=config.fusion_dropout,
            normalise=config.normalise_embeddings,
            mode=config.fusion_mode,
        )

    def embed_views(self, views: Tensor) -> Tensor:
        """[B, V, 3, H, W] RGB in [0, 1] → [B, V, D_image]."""
        return self.image.encode_views(views)

    def embed_gaussians(self, gaussians: Tensor) -> Tensor:
        """[B, P, C] per-Gaussian features (xyz first) → [B, D_gaussian]."""
        return self.gaussian(gaussians)

    def project(self, image_emb: Tensor, gaussian_emb: Tensor) -> tuple[Tensor, Tensor]:
        """Embeddings → the space the losses and the fusion head work in (identity without projections).

        Args:
            image_emb: [..., D_image] image embeddings.
            gaussian_emb: [..., D_gaussian] Gaussian embeddings.

        Returns:
            ([..., P_image], [..., P_gaussian]) projections.
        """
        return self.image_projection(image_emb), self.gaussian_projection(gaussian_emb)

    def same_object_logits(self, image_emb: Tensor, gaussian_emb: Tensor) -> Tensor:
        """[B, D_image] × [B, D_gaussian] embeddings → [B] logits (> 0: the pair shows the same object)."""
        return self.head(*self.project(image_emb, gaussian_emb))


def _projection(dim: int, out: int) -> nn.Module:
    if out <= 0:
        return nn.Identity()
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out))
