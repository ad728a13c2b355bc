"""Brute-force rasterisation: the slow, obvious twin of :func:`gs_perception.core.rasterize.rasterize_tiled`.

Every Gaussian is evaluated at every pixel, one Gaussian at a time in depth order, exactly as gsplat's CUDA
kernel walks its list for one pixel. No tiles, no segmented sums: the test oracle, and the baseline of
``benchmarks/bench_rasterizer.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .rasterize import RasterConfig


def rasterize_dense(
    means2d: Tensor,
    conics: Tensor,
    opacities: Tensor,
    colors: Tensor,
    radii: Tensor,
    depths: Tensor,
    width: int,
    height: int,
    backgrounds: Tensor | None = None,
    config: RasterConfig = RasterConfig(),
) -> tuple[Tensor, Tensor]:
    """Same arguments and results as :func:`~gs_perception.core.rasterize.rasterize_tiled`."""
    C, N, D = colors.shape
    if opacities.dim() == 1:
        opacities = opacities.expand(C, N)
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=means2d.dtype) + 0.5,
        torch.arange(width, dtype=means2d.dtype) + 0.5,
        indexing="ij",
    )
    images, alphas = [], []
    for c in range(C):
        T = torch.ones(height, width, dtype=means2d.dtype)
        color = torch.zeros(height, width, D, dtype=means2d.dtype)
        done = torch.zeros(height, width, dtype=torch.bool)
        visible = (radii[c] > 0).all(dim=-1)
        for i in torch.argsort(depths[c], stable=True).tolist():
            if not visible[i]:
                continue
            dx, dy = xs - means2d[c, i, 0], ys - means2d[c, i, 1]
            a, b, cc = conics[c, i]
            sigma = 0.5 * (a * dx * dx + cc * dy * dy) + b * dx * dy
            alpha = (opacities[c, i] * torch.exp(-sigma)).clamp_max(config.alpha_max)
            used = (sigma >= 0) & (alpha >= config.alpha_min) & ~done
            next_T = T * (1.0 - alpha)
            finishes = used & (next_T <= config.transmittance_min)
            done = done | finishes
            used = used & ~finishes
            color = color + torch.where(used, alpha * T, 0.0)[..., None] * colors[c, i]
            T = torch.where(used, next_T, T)
        if backgrounds is not None:
            color = color + T[..., None] * backgrounds[c]
        images.append(color)
        alphas.append(1.0 - T)
    return torch.stack(images), torch.stack(alphas)[..., None]
