"""The Gaussian encoder a config names: PointNet (:mod:`.pointnet`) or PointNet++ (:mod:`.pointnet2`), for
``[B, N, C]`` per-Gaussian features (xyz first) → ``[B, embed_dim]`` embeddings."""

from __future__ import annotations

from torch import nn

from .pointnet import ARCHS, GaussianEncoderConfig, PointNetEncoder
from .pointnet2 import PointNet2Encoder


def build_gaussian_encoder(config: GaussianEncoderConfig, in_channels: int) -> nn.Module:
    """The encoder ``config.arch`` names, for ``[B, N, in_channels]`` input -> ``[B, embed_dim]``.

    Raises:
        ValueError: An unknown arch or in_channels < 3.
    """
    if config.arch == "pointnet":
        return PointNetEncoder(in_channels, config)
    if config.arch == "pointnet2":
        return PointNet2Encoder(in_channels, config)
    raise ValueError(f"unknown encoder arch {config.arch!r}; expected one of {ARCHS}")
