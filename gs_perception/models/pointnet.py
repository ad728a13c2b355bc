"""PointNet Gaussian encoder (Qi et al. 2017, without the input/feature transform nets).

An object's Gaussians arrive as ``[B, N, C]``: channels 0–2 are xyz normalised to the unit sphere, the rest
optional per-Gaussian features (scale, rotation, opacity, colour, SH, ...). A shared per-point MLP lifts
every Gaussian to 1024 channels, a max over the points makes the result order-independent, and a projection
head maps it to a ``[B, embed_dim]`` embedding. Losses live elsewhere: encoders return embeddings only.

:func:`~gs_perception.models.gaussian_encoder.build_gaussian_encoder` picks PointNet or PointNet++.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from ..core.choices import check_choices

ARCHS = ("pointnet", "pointnet2")


@dataclass(frozen=True)
class GaussianEncoderConfig:
    """Architecture of the Gaussian (point-set) encoder. PointNet++ settings are SSG (single-scale grouping)
    with the classification sizes of Qi et al. 2017; shrink the centre counts for fast CPU tests."""

    arch: Literal["pointnet", "pointnet2"] = "pointnet"
    """Encoder: 'pointnet' or 'pointnet2' (PointNet++ SSG)."""
    embed_dim: int = 512
    """Size of the output embedding."""
    dropout: float = 0.4
    """Dropout probability in the projection head."""
    pointnet2_centres: tuple[int, int] = (512, 128)
    """PointNet++: FPS centres of the first and second set abstraction (clamped to the points available)."""
    pointnet2_radii: tuple[float, float] = (0.2, 0.4)
    """PointNet++: ball-query radii of the first and second set abstraction (unit-sphere coordinates)."""
    pointnet2_neighbours: tuple[int, int] = (32, 64)
    """PointNet++: neighbours grouped per centre in the first and second set abstraction."""

    def __post_init__(self):
        check_choices(self)


class SharedMLP(nn.Sequential):
    """Per-point (shared) MLP: Linear → BatchNorm → ReLU for each width, applied to ``[..., C_in]``.

    Equivalent to the 1×1 convolutions of the original papers; the leading dimensions are flattened so
    BatchNorm normalises every channel over all points of the batch.

    Args:
        in_channels: Input width C_in.
        widths: Output width of each layer, e.g. (64, 64, 128).
    """

    def __init__(self, in_channels: int, widths: Sequence[int]):
        layers: list[nn.Module] = []
        for width in widths:
            # No bias: the BatchNorm shift that follows makes it redundant.
            layers += [
                nn.Linear(in_channels, width, bias=False),
                nn.BatchNorm1d(width),
                nn.ReLU(inplace=True),
            ]
            in_channels = width
        super().__init__(*layers)
        self.out_channels = in_channels

    def forward(self, x: Tensor) -> Tensor:
        """[..., C_in] -> [..., C_out]."""
        lead = x.shape[:-1]
        return super().forward(x.reshape(-1, x.shape[-1])).reshape(*lead, self.out_channels)


def projection_head(in_channels: int, embed_dim: int, dropout: float) -> nn.Sequential:
    """Linear(in, 512) → BatchNorm → ReLU → Dropout → Linear(512, embed_dim): [B, in] -> [B, embed_dim]."""
    return nn.Sequential(
        nn.Linear(in_channels, 512, bias=False),
        nn.BatchNorm1d(512),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(512, embed_dim),
    )


def check_gaussian_input(x: Tensor, in_channels: int) -> None:
    """Raise ValueError unless ``x`` is ``[B, N, in_channels]`` with B, N ≥ 1."""
    if x.ndim != 3:
        raise ValueError(f"expected input [B, N, C], got shape {tuple(x.shape)}")
    if x.shape[-1] != in_channels:
        raise ValueError(f"input has C={x.shape[-1]} channels but the encoder has in_channels={in_channels}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"need at least one object and one point, got shape {tuple(x.shape)}")


def check_in_channels(in_channels: int) -> None:
    """Raise ValueError unless an encoder's ``in_channels`` holds at least xyz."""
    if in_channels < 3:
        raise ValueError(f"in_channels must be >= 3 (xyz first), got in_channels={in_channels}")


class PointNetEncoder(nn.Module):
    """PointNet: shared MLP 64-64-128-1024, global max pool, projection head.

    Args:
        in_channels: Channels C per Gaussian (≥ 3; xyz first).
        config: Architecture settings (``arch`` is not consulted here); default ``GaussianEncoderConfig()``.

    Raises:
        ValueError: in_channels < 3.
    """

    def __init__(self, in_channels: int, config: GaussianEncoderConfig | None = None):
        super().__init__()
        check_in_channels(in_channels)
        config = config or GaussianEncoderConfig()
        self.in_channels = in_channels
        self.embed_dim = config.embed_dim
        self.point_mlp = SharedMLP(in_channels, (64, 64, 128, 1024))
        self.head = projection_head(1024, config.embed_dim, config.dropout)

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
        return self.head(self.point_mlp(x).amax(dim=1))
