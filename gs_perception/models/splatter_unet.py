"""The image-to-image U-Net behind the feed-forward Gaussian predictor (models/splatter.py).

A plain encoder–decoder with skip connections (Ronneberger et al. 2015) built from residual blocks
(GroupNorm → SiLU → 3×3 conv, twice), strided-conv downsampling and nearest-neighbour upsampling, as in the
DDPM-style U-Nets Splatter Image uses, without the time embedding. Self-attention runs only at the coarsest
level (optional, ``attention_heads``): at 64² that is 64 tokens, a negligible cost, and it gives every pixel a
view of the whole object — what a single view needs to guess the sides it cannot see. One output vector per
input pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _norm(channels: int) -> nn.GroupNorm:
    # 8 groups where they divide the width: per-sample statistics, so batch size never matters.
    return nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)


class ResBlock(nn.Module):
    """Two normalised 3×3 convolutions with a residual connection (1×1 projection when widths differ)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(
            _norm(c_in),
            nn.SiLU(),
            nn.Conv2d(c_in, c_out, 3, padding=1),
            _norm(c_out),
            nn.SiLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.skip(x) + self.body(x)


class UNet(nn.Module):
    """U-Net mapping [B, C_in, H, W] to [B, C_out, H, W]; H and W must be divisible by 2^(levels - 1).

    Args:
        c_in: Input channels.
        c_out: Output channels per pixel.
        channels: Width of each level, finest first; level i works at resolution H / 2^i.
        blocks: Residual blocks per level on each side.
        attention_heads: Heads of a self-attention block between two residual blocks at the coarsest level
            (0: one residual block there, no attention).
    """

    def __init__(
        self, c_in: int, c_out: int, channels: Sequence[int], blocks: int = 1, attention_heads: int = 0
    ):
        super().__init__()
        if not channels or blocks < 1:
            raise ValueError(f"need at least one level and one block per level, got {channels}, {blocks}")
        self.levels = len(channels)
        self.stem = nn.Conv2d(c_in, channels[0], 3, padding=1)
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for i, width in enumerate(channels):
            c_prev = channels[max(i - 1, 0)]
            self.down_blocks.append(_stack(c_prev if i else width, width, blocks))
            if i + 1 < len(channels):
                self.downsample.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        c = channels[-1]
        self.middle = (
            nn.Sequential(ResBlock(c, c), SelfAttention(c, attention_heads), ResBlock(c, c))
            if attention_heads
            else ResBlock(c, c)
        )
        self.upsample = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for i in reversed(range(len(channels) - 1)):
            self.upsample.append(nn.Conv2d(channels[i + 1], channels[i], 3, padding=1))
            self.up_blocks.append(_stack(2 * channels[i], channels[i], blocks))
        self.out = nn.Sequential(_norm(channels[0]), nn.SiLU(), nn.Conv2d(channels[0], c_out, 1))

    def forward(self, x: Tensor) -> Tensor:
        factor = 2 ** (self.levels - 1)
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(f"image size {tuple(x.shape[-2:])} is not divisible by {factor} (U-Net levels)")
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h)
            if i < len(self.downsample):
                skips.append(h)
                h = self.downsample[i](h)
        h = self.middle(h)
        for up, block in zip(self.upsample, self.up_blocks):
            h = up(torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest"))
            h = block(torch.cat([h, skips.pop()], dim=1))
        return self.out(h)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection; the output
    projection starts at zero, so the block starts as the identity."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads:
            raise ValueError(f"{channels} channels do not split into {heads} attention heads")
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).unbind(1)
        out = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.proj(out.transpose(-1, -2).reshape(B, C, H, W))


def _stack(c_in: int, c_out: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(ResBlock(c_in, c_out), *(ResBlock(c_out, c_out) for _ in range(blocks - 1)))
