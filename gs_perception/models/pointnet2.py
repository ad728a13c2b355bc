"""PointNet++ Gaussian encoder, single-scale grouping (Qi et al. 2017, "PointNet++").

Three set abstractions: two that sample centres by FPS, group each centre's ball neighbours in local
coordinates and pool a shared MLP over them, and a final one over all remaining points; then the PointNet
projection head. Input ``[B, N, C]`` with xyz in channels 0–2 and optional per-Gaussian features after.

FPS always starts at index 0, so the encoder is deterministic (the dataset stores Gaussians in FPS order,
which makes index 0 a sensible start); sampling and grouping run without gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..core.sampling import ball_query, farthest_point_sample
from .pointnet import (
    GaussianEncoderConfig,
    SharedMLP,
    check_gaussian_input,
    check_in_channels,
    projection_head,
)


def _gather(values: Tensor, index: Tensor) -> Tensor:
    """Per-item indexing: values [B, N, C], index [B, *S] -> [B, *S, C]."""
    batch = torch.arange(values.shape[0], device=values.device).view(-1, *([1] * (index.ndim - 1)))
    return values[batch, index]


class SetAbstraction(nn.Module):
    """One PointNet++ set-abstraction level: sample, group, shared MLP, max over each group.

    Args:
        in_features: Feature channels D per input point, excluding xyz (0 for bare points).
        widths: Shared MLP widths, e.g. (64, 64, 128); the last is the output feature width.
        num_centres: FPS centres M (clamped to the number of input points), or None to group all points
            into a single set (the final level).
        radius: Ball-query radius (ignored when grouping all).
        neighbours: Points grouped per centre K (ignored when grouping all).
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        num_centres: int | None = None,
        radius: float = 0.0,
        neighbours: int = 1,
    ):
        super().__init__()
        if num_centres is not None and (num_centres < 1 or neighbours < 1 or radius < 0):
            raise ValueError(
                f"need num_centres >= 1, neighbours >= 1, radius >= 0; got {num_centres}, {neighbours}, "
                f"{radius}"
            )
        self.num_centres = num_centres
        self.radius = radius
        self.neighbours = neighbours
        self.mlp = SharedMLP(3 + in_features, widths)
        self.out_features = self.mlp.out_channels

    def forward(self, xyz: Tensor, features: Tensor | None) -> tuple[Tensor, Tensor]:
        """Abstract a point set.

        Args:
            xyz: [B, N, 3] point positions.
            features: [B, N, D] point features, or None when D = 0.

        Returns:
            (centres [B, M, 3], features [B, M, out_features]); M = 1 with a zero centre when grouping all.
        """
        if self.num_centres is None:
            # The single centre is the origin, so the local coordinates are the positions themselves.
            grouped = xyz if features is None else torch.cat([xyz, features], dim=-1)  # [B, N, 3 + D]
            return xyz.new_zeros(xyz.shape[0], 1, 3), self.mlp(grouped).amax(dim=1, keepdim=True)

        num_centres = min(self.num_centres, xyz.shape[1])
        with torch.no_grad():
            centre_index = farthest_point_sample(xyz.detach(), num_centres, start=0)  # [B, M]
        centres = _gather(xyz, centre_index)  # [B, M, 3]
        with torch.no_grad():  # [B, M, K] neighbour indices
            group_index = ball_query(xyz.detach(), centres.detach(), self.radius, self.neighbours)
        grouped = _gather(xyz, group_index) - centres[:, :, None, :]  # [B, M, K, 3], local coordinates
        if features is not None:
            grouped = torch.cat([grouped, _gather(features, group_index)], dim=-1)  # [B, M, K, 3 + D]
        return centres, self.mlp(grouped).amax(dim=2)


class PointNet2Encoder(nn.Module):
    """PointNet++ SSG: SA(M₁, r₁, K₁; 64-64-128) → SA(M₂, r₂, K₂; 128-128-256) → SA(all; 256-512-1024) →
    projection head.

    Args:
        in_channels: Channels C per Gaussian (≥ 3; xyz first, the other C - 3 are carried as features).
        config: Architecture settings (centres, radii, neighbours, head); default ``GaussianEncoderConfig()``.

    Raises:
        ValueError: in_channels < 3 or invalid set-abstraction settings.
    """

    def __init__(self, in_channels: int, config: GaussianEncoderConfig | None = None):
        super().__init__()
        check_in_channels(in_channels)
        config = config or GaussianEncoderConfig()
        self.in_channels = in_channels
        self.embed_dim = config.embed_dim
        (m1, m2), (r1, r2), (k1, k2) = (
            config.pointnet2_centres,
            config.pointnet2_radii,
            config.pointnet2_neighbours,
        )
        self.sa1 = SetAbstraction(in_channels - 3, (64, 64, 128), m1, r1, k1)
        self.sa2 = SetAbstraction(self.sa1.out_features, (128, 128, 256), m2, r2, k2)
        self.sa3 = SetAbstraction(self.sa2.out_features, (256, 512, 1024))
        self.head = projection_head(self.sa3.out_features, config.embed_dim, config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """Embed a batch of Gaussian sets.

        Args:
            x: [B, N, C] Gaussians, C = ``in_channels``, xyz in channels 0–2.

        Returns:
            [B, embed_dim] embeddings.

        Raises:
            ValueError: A shape other than [B, N, in_channels].
        """
        check_gaussian_input(x, self.in_channels)
        xyz, features = x[..., :3], (x[..., 3:] if self.in_channels > 3 else None)
        xyz, features = self.sa1(xyz, features)
        xyz, features = self.sa2(xyz, features)
        _, features = self.sa3(xyz, features)  # [B, 1, 1024]
        return self.head(features[:, 0])
