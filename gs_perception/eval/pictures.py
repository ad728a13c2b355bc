"""Pictures people look at: ground truth | render | error strips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def comparison_strip(
    gt: torch.Tensor, pred: torch.Tensor, scale: int = 4, error_gain: float = 4.0
) -> np.ndarray:
    """Side-by-side ground truth, render and amplified absolute error (black = exact).

    Args:
        gt, pred: [H, W, 3] images in [0, 1].
        scale: Nearest-neighbour upscaling so small renders stay legible.
        error_gain: Multiplier on |gt - pred| before clipping to [0, 1].

    Returns:
        [H·scale, 3·W·scale, 3] uint8 image.
    """
    err = ((gt - pred).abs().mean(dim=-1, keepdim=True) * error_gain).clamp(0, 1).expand_as(gt)
    strip = torch.cat([gt.clamp(0, 1), pred.clamp(0, 1), err], dim=1)
    img = (strip.detach().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)


def save_comparisons(
    gt: torch.Tensor, pred: torch.Tensor, out_dir: str | Path, prefix: str = "view"
) -> list[Path]:
    """Write one comparison strip PNG per view. gt, pred: [V, H, W, 3]. Returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (g, p) in enumerate(zip(gt, pred)):
        path = out_dir / f"{prefix}_{i:03d}.png"
        Image.fromarray(comparison_strip(g, p)).save(path)
        paths.append(path)
    return paths
