"""Insertion: the pixels a keyframe shows that the memory does not explain, and the Gaussians
back-projected from them. Conventions (docs/architecture.md §4): ``T_world_cam`` camera→world (OpenCV
axes), quaternions wxyz, raw Gaussian parameters, metres; pixel ``(u, v)``'s centre is at
``(u + 0.5, v + 0.5)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..gaussians import GaussianCloud
from .keyframes import Keyframe

if TYPE_CHECKING:
    from .config import MemoryConfig

# Below this rendered alpha the rendered depth (Σ wᵢ zᵢ / alpha) is too noisy to place a Gaussian at.
_PARTIAL_ALPHA = 0.1


def unexplained_pixels(
    kf: Keyframe, rgb: Tensor, alpha: Tensor, depth: Tensor, config: MemoryConfig
) -> Tensor:
    """Pixels the memory (rendered at the keyframe: rgb [h, w, 3], alpha and depth [h, w]) does not explain.

    With depth: pixels with a measurement where the rendered alpha is below ``insert_alpha_threshold`` or the
    measured surface is more than ``insert_depth_error_m`` in front of the rendered one (a rendered surface in
    front of the measurement is left to the optimiser: a Gaussian added behind it would be hidden). Without
    depth: low-alpha pixels whose colour differs from the rendered one by more than ``insert_color_error``.
    With a mask, only masked pixels. Returns [h, w] bool.
    """
    out = alpha < config.insert_alpha_threshold
    if kf.depth is None:
        out = out & ((rgb - kf.rgb).abs().mean(dim=-1) > config.insert_color_error)
    else:
        out = (out | (depth > kf.depth + config.insert_depth_error_m)) & (kf.depth > 0)
    return out if kf.mask is None else out & kf.mask


def seed_gaussians(
    kf: Keyframe,
    unexplained: Tensor,
    alpha: Tensor,
    depth: Tensor,
    config: MemoryConfig,
    default_depth: float,
) -> GaussianCloud:
    """New Gaussians at every ``insert_stride``-th unexplained pixel (both axes), at most
    ``max_new_per_frame`` (evenly spread over the candidates: deterministic and spatially uniform).

    Depth per pixel: the measurement when the keyframe has depth; else the rendered ``depth`` where the memory
    is partly there (alpha ≥ 0.1), else ``default_depth`` (metres; :mod:`.depth` chooses it). Colour
    is the pixel's, rotation identity (wxyz),
    isotropic standard deviation ``insert_scale · depth · stride / fx`` (∝ the samples' world spacing).
    Returns a cloud on the keyframe's device (possibly empty).
    """
    stride, offset = config.insert_stride, config.insert_stride // 2
    grid = torch.zeros_like(unexplained)
    grid[offset::stride, offset::stride] = True
    v, u = torch.nonzero(unexplained & grid, as_tuple=True)
    cap = min(config.max_new_per_frame, config.max_gaussians)
    if v.numel() > cap:
        pick = torch.linspace(0, v.numel() - 1, cap, device=v.device).round().long()
        v, u = v[pick], u[pick]
    if kf.depth is not None:
        z = kf.depth[v, u]
    else:
        z = torch.where(alpha[v, u] >= _PARTIAL_ALPHA, depth[v, u], torch.zeros_like(depth[v, u]))
        z = torch.where(torch.isfinite(z) & (z > 0), z, torch.full_like(z, default_depth))
    K, T = kf.K, kf.T_world_cam
    p_cam = torch.stack(
        [(u.to(z) + 0.5 - K[0, 2]) / K[0, 0] * z, (v.to(z) + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1
    )
    scale = config.insert_scale * z * stride / K[0, 0]
    return GaussianCloud.from_points(
        p_cam @ T[:3, :3].T + T[:3, 3], kf.rgb[v, u], scale, config.new_opacity, config.sh_degree
    )
