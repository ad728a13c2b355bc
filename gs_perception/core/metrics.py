"""Image losses and metrics: PSNR and SSIM (Wang et al. 2004, 11×11 Gaussian window, σ = 1.5)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1]. [..., H, W, 3] × 2 → scalar (over all)."""
    mse = F.mse_loss(pred, target)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _gaussian_window(size: int, sigma: float, channels: int, like: Tensor) -> Tensor:
    x = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(pred: Tensor, target: Tensor, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Mean structural similarity of images in [0, 1] (differentiable; 'valid' windows only, no padding).

    Args:
        pred, target: [B, H, W, C] images (channels last, as the renderer returns them).

    Returns:
        Scalar mean SSIM over the batch.
    """
    assert pred.shape == target.shape, (pred.shape, target.shape)
    x, y = pred.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)
    C = x.shape[1]
    w = _gaussian_window(min(window, x.shape[-2], x.shape[-1]), sigma, C, x)
    mu_x, mu_y = F.conv2d(x, w, groups=C), F.conv2d(y, w, groups=C)
    var_x = F.conv2d(x * x, w, groups=C) - mu_x**2
    var_y = F.conv2d(y * y, w, groups=C) - mu_y**2
    cov = F.conv2d(x * y, w, groups=C) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    return (num / den).mean()
