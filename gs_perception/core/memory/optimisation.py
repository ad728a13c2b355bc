"""Optimisation: the memory's loss over a window of keyframes, the budget (pruning), and the deterministic
mode's switch. Conventions (docs/architecture.md §4): ``T_world_cam`` camera→world (OpenCV axes), viewmats
world→camera, quaternions wxyz, raw Gaussian parameters, metres.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..gaussians import GaussianCloud
from ..metrics import ssim
from .keyframes import Keyframe

if TYPE_CHECKING:
    from .config import MemoryConfig


def memory_loss(
    rgb: Tensor, target: Tensor, depth: Tensor, alpha: Tensor, target_depth: Tensor, config: MemoryConfig
) -> Tensor:
    """``(1 - λ)·L1 + λ·(1 - SSIM)`` on colour ([C, h, w, 3]), plus ``depth_lambda ·`` mean |depth error|
    (metres; [C, h, w], target 0 = none) where the memory is mostly opaque (alpha > 0.5): there the rendered
    depth Σ wᵢ zᵢ / alpha is well defined, elsewhere its gradient through 1/alpha explodes."""
    lam = config.ssim_lambda
    loss = (1 - lam) * (rgb - target).abs().mean() + lam * (1 - ssim(rgb, target))
    valid = (target_depth > 0) & (alpha.detach() > 0.5)
    if config.depth_lambda > 0 and bool(valid.any()):
        loss = loss + config.depth_lambda * (depth[valid] - target_depth[valid]).abs().mean()
    return loss


def window_loss(
    cloud: GaussianCloud, keyframes: list[Keyframe], render_fn: Callable[..., Any], config: MemoryConfig
) -> float:
    """Render ``cloud`` at the keyframes (batched per image size, one batch per camera), back-propagate
    :func:`memory_loss` (weighted by each batch's share of the keyframes) and return the loss."""
    groups: dict[tuple[int, int], list[Keyframe]] = {}
    for kf in keyframes:
        groups.setdefault(kf.size, []).append(kf)
    total = 0.0
    for (w, h), group in groups.items():
        out = render_fn(
            cloud, torch.stack([k.viewmat for k in group]), torch.stack([k.K for k in group]), w, h
        )
        target_depth = torch.stack([k.rgb.new_zeros(h, w) if k.depth is None else k.depth for k in group])
        target = torch.stack([k.rgb for k in group])
        loss = memory_loss(out.colors, target, out.depths[..., 0], out.alphas[..., 0], target_depth, config)
        loss = loss * (len(group) / len(keyframes))
        loss.backward()
        total += float(loss.detach())
    return total


def prune_index(params: torch.nn.ParameterDict, prune_opacity: float, max_gaussians: int) -> Tensor:
    """Rows to keep [M] (ascending): finite, opacity ≥ ``prune_opacity``, and the ``max_gaussians`` most
    opaque of those (the budget)."""
    values = [v.detach() for v in params.values()]
    rows = [v[:, None] if v.ndim == 1 else v.flatten(1) for v in values]
    finite = torch.stack([torch.isfinite(r).all(dim=1) for r in rows]).all(dim=0)
    opacity = torch.sigmoid(params["opacities"].detach())
    keep = torch.nonzero(finite & (opacity >= prune_opacity)).flatten()
    if keep.numel() > max_gaussians:
        keep = keep[torch.topk(opacity[keep], max_gaussians).indices].sort().values
    return keep


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """torch's deterministic algorithms on for the block, then the previous setting back (process-wide: the
    deterministic mode's price). Needed for bitwise-equal runs with several CPU threads: the torch
    rasteriser's backward otherwise differs by ~1e-9 between runs, which Adam amplifies (measured)."""
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
