"""Per-scene 3DGS fitting (Kerbl et al. 2023, with gsplat's densification strategy).

Loss ``(1 - λ)·L1 + λ·(1 - SSIM)``, Adam with per-parameter learning rates (means decay exponentially),
densify/prune/opacity-reset by :class:`FixedDefaultStrategy` (gsplat 1.5.3's DefaultStrategy with its reset
bug worked around), SH degree raised stepwise. Runs on any backend of
:func:`~gs_perception.core.render.render`.
Poses are ``T_world_cam`` with OpenCV axes; images are RGB in [0, 1] already composited on ``background``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .cameras import backproject_depth, optical_axes_system, viewmat_from_pose
from .choices import check_choices
from .gaussians import GaussianCloud
from .metrics import psnr, ssim
from .parameters import cloud_from_parameters, gaussian_parameters, per_parameter_adam
from .render import RenderConfig, render
from .strategy import make_strategy


@dataclass(frozen=True)
class FitConfig:
    """Settings of one per-scene fit. Defaults suit a 64 px object on CPU (~2 min on 2 cores); on a GPU at
    256–800 px use the 3DGS schedule (30k steps, refine 500–15k every 100, reset every 3k)."""

    steps: int = 500
    """Optimisation steps."""
    batch_views: int = 1
    """Training views rendered per step."""
    ssim_lambda: float = 0.2
    """Weight λ of the D-SSIM term."""
    sh_degree: int = 3
    """Final SH degree."""
    sh_degree_interval: int = 100
    """Steps between SH degree increments (starting at 0)."""
    init: Literal["auto", "points", "depth", "random"] = "auto"
    """Initialisation: 'auto' (points if given, else depth if present, else random), 'points', 'depth',
    'random'."""
    init_points: int = 3000
    """Number of initial Gaussians (sub-sampled from points/depth, or drawn at random)."""
    init_opacity: float = 0.1
    """Initial opacity of every Gaussian."""
    init_extent: float = 1.0
    """Radius of the ball random initialisation fills, in units of the scene scale (the cameras' distance
    to the point they look at, / 3): 1.0 is a 1 m ball for cameras 3 m from an object. Its centre is that
    point. Random points take their colour from the training images they project into."""
    init_background: float = 0.0
    """Share of the random-init points placed on a far shell (twice the cameras' distance from what they
    look at) instead of the ball: a capture's walls, floor and sky are there, not around the object."""
    prune_scale: float = 0.1
    """Gaussians larger than this × the scene scale are pruned after the first opacity reset (gsplat's
    prune_scale3d); raise it for scenes whose background needs large Gaussians."""
    lr_means: float = 1.6e-3
    """Initial learning rate of the means, × scene scale (decays to 1 % of it by the last step)."""
    lr_scales: float = 5e-3
    """Learning rate of the log-scales."""
    lr_quats: float = 1e-3
    """Learning rate of the quaternions."""
    lr_opacities: float = 5e-2
    """Learning rate of the opacity logits."""
    lr_sh0: float = 2.5e-3
    """Learning rate of the DC colour; higher SH bands use 1/20 of it."""
    refine_start: int = 100
    """First densification step."""
    refine_stop: int = 400
    """No densification from this step on."""
    refine_every: int = 100
    """Steps between densifications."""
    reset_every: int = 200
    """Steps between opacity resets (only before refine_stop)."""
    grow_grad2d: float = 2e-4
    """View-space gradient threshold for clone/split."""
    max_gaussians: int = 10000
    """Hard budget: growth stops at this count, and a refine step that overshoots it drops the least
    opaque Gaussians."""
    render: RenderConfig = RenderConfig()
    """The rasteriser (core/render.py RenderConfig)."""
    seed: int = 0
    """Seed for initialisation, view order and splits."""

    def __post_init__(self):
        check_choices(self)


@dataclass
class FitViews:
    """Posed training or evaluation images of one scene.

    Attributes:
        rgb: [V, H, W, 3] images in [0, 1], composited on ``background``.
        T_world_cam: [V, 4, 4] camera→world poses, OpenCV axes.
        K: [V, 3, 3] intrinsics.
        depth: [V, H, W] z-depth in metres (0 = none), optional.
        background: [3] background colour the images were composited on.
    """

    rgb: Tensor
    T_world_cam: Tensor
    K: Tensor
    depth: Tensor | None = None
    background: Tensor = field(default_factory=lambda: torch.ones(3))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[2], self.rgb.shape[1]


@dataclass
class FitResult:
    """Outcome of :func:`fit_gaussians` (all plain values, JSON-ready except ``cloud``)."""

    cloud: GaussianCloud
    psnr: float | None
    ssim: float | None
    num_gaussians: int
    seconds: float
    backend: str
    init: str
    loss_history: list[float]
    count_history: list[int]


def initial_cloud(views: FitViews, config: FitConfig, points: Tensor | None, rgb: Tensor | None):
    """The starting cloud and the name of the initialisation used (see ``FitConfig.init``)."""
    gen = torch.Generator().manual_seed(config.seed)
    mode = config.init
    if mode == "auto":
        mode = "points" if points is not None else "depth" if views.depth is not None else "random"
    if mode == "points":
        if points is None:
            raise ValueError("init='points' needs surface points (e.g. the folder's mesh.ply)")
        idx = torch.randperm(points.shape[0], generator=gen)[: config.init_points]
        pts, col = points[idx], None if rgb is None else rgb[idx]
    elif mode == "depth":
        if views.depth is None:
            raise ValueError("init='depth' needs depth images")
        pts, col = _depth_points(views)
        idx = torch.randperm(pts.shape[0], generator=gen)[: config.init_points]
        pts, col = pts[idx], col[idx]
    elif mode == "random":
        centre, radius = scene_frame(views.T_world_cam)
        d = torch.randn(config.init_points, 3, generator=gen)
        r = config.init_extent * (radius / 3.0) * torch.rand(config.init_points, 1, generator=gen) ** (1 / 3)
        far = torch.arange(config.init_points) < round(config.init_background * config.init_points)
        r = torch.where(far[:, None], torch.full_like(r, 2.0 * radius), r)
        pts = centre + torch.nn.functional.normalize(d, dim=-1) * r
        # Colours seen where the points project: random colours take far more steps to unlearn than the
        # colour learning rate allows on a real capture (seen: 8.8 dB, below a flat mean-colour image).
        col = colours_from_views(pts, views)
    else:
        raise ValueError(f"unknown init {config.init!r}; use auto, points, depth or random")
    return GaussianCloud.from_points(
        pts, rgb=col, opacity=config.init_opacity, sh_degree=config.sh_degree
    ), mode


def scene_frame(T_world_cam: Tensor) -> tuple[Tensor, float]:
    """Where the cameras look and how far they are from it.

    The centre is the least-squares point closest to every camera's optical axis (OpenCV +z), pulled
    slightly toward the cameras' centroid so that near-parallel axes (a forward-facing capture) stay well
    posed; the radius is the largest camera distance to it. For cameras orbiting an object, the object.

    Args:
        T_world_cam: [N, 4, 4] camera→world, OpenCV axes.

    Returns:
        (centre [3] float32, radius in the poses' units).
    """
    system = optical_axes_system(T_world_cam)
    eyes, reg = system.centres, 1e-3 * len(system.centres)
    A = system.A + reg * torch.eye(3, dtype=torch.float64)
    centre = torch.linalg.solve(A, system.b + reg * eyes.mean(0))
    radius = float((eyes - centre).norm(dim=-1).max().clamp_min(1e-6))
    return centre.float().to(T_world_cam.device), radius


def colours_from_views(points: Tensor, views: FitViews, max_views: int = 16) -> Tensor:
    """Mean image colour at each point's projection over up to ``max_views`` views (0.5 grey where unseen).

    Args:
        points: [P, 3] world points.
        views: Posed images (``rgb`` [N, H, W, 3], ``K`` [N, 3, 3], ``T_world_cam`` [N, 4, 4] OpenCV axes).

    Returns:
        [P, 3] colours in [0, 1].
    """
    total, seen = torch.zeros(points.shape[0], 3), torch.zeros(points.shape[0], 1)
    h, w = views.rgb.shape[1:3]
    step = max(1, views.rgb.shape[0] // max_views)
    for i in range(0, views.rgb.shape[0], step):
        T = views.T_world_cam[i].float()
        cam = (points - T[:3, 3]) @ T[:3, :3]  # world → camera: R^T (p - t)
        z = cam[:, 2].clamp_min(1e-6)
        u = views.K[i, 0, 0] * cam[:, 0] / z + views.K[i, 0, 2]
        v = views.K[i, 1, 1] * cam[:, 1] / z + views.K[i, 1, 2]
        ok = (cam[:, 2] > 1e-6) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
        ui, vi = u[ok].long().clamp(0, w - 1), v[ok].long().clamp(0, h - 1)
        total[ok] += views.rgb[i, vi, ui].float()
        seen[ok] += 1
    return torch.where(seen > 0, total / seen.clamp_min(1), torch.full_like(total, 0.5))


def _depth_points(views: FitViews) -> tuple[Tensor, Tensor]:
    pts, cols = [], []
    for i in range(views.rgb.shape[0]):
        d = views.depth[i]
        world = backproject_depth(d, views.K[i], views.T_world_cam[i])
        valid = d > 0
        pts.append(world[valid])
        cols.append(views.rgb[i][valid])
    return torch.cat(pts), torch.cat(cols)


def fit_gaussians(
    train: FitViews,
    config: FitConfig = FitConfig(),
    test: FitViews | None = None,
    points: Tensor | None = None,
    points_rgb: Tensor | None = None,
    device: torch.device | str = "cpu",
    progress: Callable[[int, dict], None] | None = None,
    start: GaussianCloud | None = None,
) -> FitResult:
    """Fit 3D Gaussians to posed images.

    Args:
        train: Training views.
        config: Fit settings.
        test: Held-out views for PSNR/SSIM (optional).
        points, points_rgb: [P, 3] surface samples and their colours, for ``init='points'``.
        device: Where to optimise ("cuda" uses gsplat when available).
        progress: Called as ``progress(step, {"loss": ..., "gaussians": ...})`` after every step.
        start: A cloud to start from instead of ``config.init`` (e.g. a feed-forward prediction; its SH
            degree is kept). The scene scale then comes from the cameras' distance to the cloud's median
            point, which one camera alone can give (the optical axes' meeting point cannot).

    Returns:
        A :class:`FitResult` whose cloud is detached, on the CPU (``init`` is 'given' with ``start``).
    """
    torch.manual_seed(config.seed)
    device = torch.device(device)
    backend = config.render.resolve(device)
    if start is None:
        cloud, init = initial_cloud(train, config, points, points_rgb)
        scene_scale = scene_frame(train.T_world_cam)[1] / 3.0  # ≈ 1 for cameras 3 m from what they look at
    else:
        cloud, init = start.detach(), "given"
        eyes = train.T_world_cam[:, :3, 3].to(cloud.means)
        scene_scale = (
            float((eyes - cloud.means.median(dim=0).values).norm(dim=-1).max().clamp_min(1e-6)) / 3.0
        )
    params = gaussian_parameters(cloud, device)
    c = config
    optimizers = per_parameter_adam(
        params, c.lr_means * scene_scale, c.lr_scales, c.lr_quats, c.lr_opacities, c.lr_sh0
    )
    strategy, state = make_strategy(config, scene_scale)
    decay = 0.01 ** (1.0 / max(config.steps, 1))
    views = _to_device(train, device)
    gen = torch.Generator().manual_seed(config.seed)
    losses, counts, start = [], [], time.perf_counter()
    for step in range(config.steps):
        idx = torch.randperm(views.rgb.shape[0], generator=gen)[: config.batch_views]
        degree = min(step // config.sh_degree_interval, config.sh_degree)
        losses.append(
            _train_step(params, optimizers, strategy, state, step, views, idx, degree, backend, config)
        )
        optimizers["means"].param_groups[0]["lr"] *= decay
        counts.append(params["means"].shape[0])
        if progress is not None:
            progress(step, {"loss": losses[-1], "gaussians": counts[-1]})
    seconds = time.perf_counter() - start
    final = cloud_from_parameters(params).detach()
    quality = evaluate(final, _to_device(test, device), backend) if test is not None else (None, None)
    return FitResult(final.to("cpu"), *quality, final.num, seconds, backend, init, losses, counts)


def _train_step(params, optimizers, strategy, state, step, views, idx, degree, backend, config) -> float:
    """Render the views ``idx``, take one Adam step on every parameter, let the strategy densify/prune."""
    width, height = views.size
    out = render(
        cloud_from_parameters(params),
        viewmat_from_pose(views.T_world_cam[idx]),
        views.K[idx],
        width,
        height,
        sh_degree=degree,
        backgrounds=views.background,
        backend=backend,
    )
    info = out.strategy_info()
    strategy.step_pre_backward(params, optimizers, state, step, info)
    target = views.rgb[idx]
    l1 = (out.colors - target).abs().mean()
    loss = (1 - config.ssim_lambda) * l1 + config.ssim_lambda * (1 - ssim(out.colors, target))
    loss.backward()
    for opt in optimizers.values():
        opt.step()
        opt.zero_grad(set_to_none=True)
    strategy.step_post_backward(params, optimizers, state, step, info)
    return loss.item()


def _to_device(v: FitViews, device: torch.device) -> FitViews:
    depth = None if v.depth is None else v.depth.to(device)
    return FitViews(
        v.rgb.to(device), v.T_world_cam.to(device), v.K.to(device), depth, v.background.to(device)
    )


@torch.no_grad()
def render_at_views(cloud: GaussianCloud, views: FitViews, backend: str = "auto") -> Tensor:
    """Render a cloud at every pose of ``views`` (one at a time to bound memory). Returns [V, H, W, 3]."""
    width, height = views.size
    images = []
    for i in range(views.rgb.shape[0]):
        out = render(
            cloud,
            viewmat_from_pose(views.T_world_cam[i : i + 1]),
            views.K[i : i + 1],
            width,
            height,
            backgrounds=views.background,
            backend=backend,
        )
        images.append(out.colors[0].clamp(0, 1))
    return torch.stack(images)


def evaluate(cloud: GaussianCloud, views: FitViews, backend: str = "auto") -> tuple[float, float]:
    """Mean PSNR (dB, per image then averaged) and SSIM of a cloud on posed images."""
    pred = render_at_views(cloud, views, backend)
    scores = [float(psnr(p, t)) for p, t in zip(pred, views.rgb)]
    return sum(scores) / len(scores), float(ssim(pred, views.rgb))


__all__ = [
    "FitConfig",
    "FitResult",
    "FitViews",
    "evaluate",
    "fit_gaussians",
    "initial_cloud",
    "render_at_views",
]
