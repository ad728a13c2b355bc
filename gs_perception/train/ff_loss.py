"""The feed-forward predictor's training loss: renders at other views of the same object, plus what a
rendered dataset knows besides colour (coverage masks, depth maps) — see train/feedforward.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..core.cameras import viewmat_from_pose
from ..core.choices import check_choices
from ..core.metrics import psnr, ssim
from ..core.render import render_batch
from ..models.splatter import SplatterImage, ViewGaussians, depth_range_around, pixel_rays
from .ff_data import Views


@dataclass(frozen=True)
class FFLossConfig:
    """The training loss of the feed-forward predictor: render terms and the weights of the two terms that
    use a rendered dataset's masks and depth."""

    image_loss: Literal["l1", "l2"] = "l2"
    """Per-pixel colour loss of the renders: 'l2' (Splatter Image's, and what PSNR measures: where one view
    leaves the colour uncertain, the mean is what scores best) or 'l1' (the fitter's)."""
    ssim_lambda: float = 0.2
    """Weight λ of the D-SSIM term of the render loss."""
    alpha_weight: float = 0.5
    """Weight of an L1 loss between the rendered coverage (alpha) at the target poses and the targets'
    masks: a silhouette signal that does not depend on the object's colour differing from the background
    (0: render colours only, as Splatter Image)."""
    surface_weight: float = 1.0
    """Weight of an L1 loss (in object radii) between each covered input pixel's Gaussian and the surface
    point the dataset's depth map puts on that pixel's ray. Training-time supervision only: prediction never
    sees depth (0: none, as Splatter Image)."""

    def __post_init__(self):
        check_choices(self)


@dataclass
class RenderLoss:
    """The loss of a batch (a tensor) and its terms and image scores (floats, means over objects)."""

    loss: Tensor
    image: float
    alpha: float
    surface: float
    psnr: float
    ssim: float


def object_depth_range(T_world_cam: Tensor, radius: float) -> Tensor:
    """[V, 2] depth ranges of views of an object inside a ``radius`` ball around the world origin."""
    return depth_range_around(T_world_cam, torch.zeros(3), radius)


def predict_object(model: SplatterImage, views: Views, radius: float, device: torch.device) -> ViewGaussians:
    """The predictor's Gaussians for views of one object (world frame; ``.cloud()`` fuses them)."""
    T = views.T_world_cam.to(device)
    return model(views.rgb.to(device), views.K.to(device), T, object_depth_range(T, radius))


def surface_points(views: Views) -> Tensor:
    """[V, H·W, 3] world point each pixel's ray meets at the depth map's z-depth (row-major pixels)."""
    V, H, W = views.depth.shape
    rays = pixel_rays(views.K, H, W) * views.depth[..., None]
    R, t = views.T_world_cam[:, :3, :3], views.T_world_cam[:, :3, 3]
    return rays.reshape(V, H * W, 3) @ R.transpose(1, 2) + t[:, None, :]


def ff_loss(
    batch: list[tuple[ViewGaussians, Views, Views]], config: FFLossConfig, radius: float, backend: str
) -> RenderLoss:
    """Render each object's fused prediction at its target poses and score it (see :class:`FFConfig`).

    Args:
        batch: Per object: its input views' Gaussians (world frame), the input views (their depth and
            alpha feed the surface term) and the target views (rgb on the background, alpha). Every
            object has as many inputs and as many targets as the others: all are rendered in one call.
        config: Loss terms and weights.
        radius: The objects' bounding radius (the surface term is in these units).
        backend: Concrete render backend.

    Returns:
        The loss averaged over objects, with its terms and the renders' mean PSNR and SSIM.
    """
    gaussians = [g for g, _, _ in batch]
    device = gaussians[0].means.device
    targets = [t for _, _, t in batch]
    width, height = targets[0].size
    out = render_batch(
        [g.cloud() for g in gaussians],
        viewmat_from_pose(torch.stack([t.T_world_cam for t in targets]).to(device)),
        torch.stack([t.K for t in targets]).to(device),
        width,
        height,
        backgrounds=torch.stack([t.background.expand(len(t.K), 3) for t in targets]).to(device),
        backend=backend,
    )  # all objects in one render: the same images as one render each, in a fraction of the time
    B = len(batch)
    colors, rgb = out.colors.unflatten(0, (B, -1)), torch.stack([t.rgb for t in targets]).to(device)
    alphas = out.alphas[..., 0].unflatten(0, (B, -1))
    image, similarity, alpha = [], [], []
    for b, target in enumerate(targets):
        similarity.append(ssim(colors[b], rgb[b]))
        error = colors[b] - rgb[b]
        pixel = error.square().mean() if config.image_loss == "l2" else error.abs().mean()
        image.append((1 - config.ssim_lambda) * pixel + config.ssim_lambda * (1 - similarity[b]))
        alpha.append((alphas[b] - target.alpha.to(device)).abs().mean())
    surface = [_surface_term(g, inputs, radius) for g, inputs, _ in batch]
    losses = [
        i + config.alpha_weight * a + config.surface_weight * s for i, a, s in zip(image, alpha, surface)
    ]
    psnrs = [psnr(colors[b].detach().clamp(0, 1), rgb[b]) for b in range(B)]
    return RenderLoss(
        torch.stack(losses).mean(),
        _mean(image),
        _mean(alpha),
        _mean(surface),
        _mean(psnrs),
        _mean(similarity),
    )


def _mean(values: list[Tensor]) -> float:
    return sum(float(v.detach()) for v in values) / len(values)


def _surface_term(gaussians: ViewGaussians, inputs: Views, radius: float) -> Tensor:
    """Mean distance (object radii) of covered input pixels' front Gaussians from their surface points."""
    device = gaussians.means.device
    if inputs.depth is None:
        return torch.zeros((), device=device)
    covered = ((inputs.alpha > 0.5) & (inputs.depth > 0)).reshape(inputs.depth.shape[0], -1).to(device)
    if not covered.any():
        return torch.zeros((), device=device)
    front = gaussians.means[:, : covered.shape[1]]  # the front layer: what each pixel sees
    error = (front - surface_points(inputs).to(device)).abs().sum(-1)
    return error[covered].mean() / radius
