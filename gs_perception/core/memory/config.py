"""Settings of the Gaussian memory: the single source of its defaults (ROS parameters and CLI flags are
derived from it; launch files and YAML only override)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..choices import check_choices
from ..render import RenderConfig


@dataclass(frozen=True)
class MemoryConfig:
    """Settings of the Gaussian memory; the single source of its defaults (nodes derive parameters)."""

    device: str = "auto"
    """Where the memory lives: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda', 'cuda:1' …"""
    render: RenderConfig = RenderConfig()
    """The rasteriser; recognition follows the memory's (pipeline/step.py)."""
    keyframe_min_interval_s: float = 0.2
    """A frame is a keyframe only if at least this long after the last keyframe …"""
    keyframe_translation_m: float = 0.05
    """… and the camera moved more than this since the last keyframe …"""
    keyframe_rotation_deg: float = 5.0
    """… or turned more than this. The first frame is always a keyframe."""
    max_keyframes: int = 500
    """Keyframes kept (the oldest are forgotten); they cost working-resolution RGB + depth each."""
    working_scale_cpu: float = 0.25
    """On CPU, frames are resized by this factor for insertion and optimisation (640×480 → 160×120): the
    torch rasteriser's cost grows with pixels. Use 1.0 for tiny inputs (tests, 64 px simulations)."""
    working_scale_gpu: float = 1.0
    """The same on CUDA (gsplat)."""
    working_min_width: int = 96
    """… but working images are never narrower than this (nor wider than the input)."""
    insert_alpha_threshold: float = 0.5
    """Pixels where the memory renders less opacity than this are unexplained."""
    insert_depth_error_m: float = 0.05
    """With depth: pixels whose measured surface is this far in front of the rendered one are unexplained."""
    insert_color_error: float = 0.1
    """Without depth, a low-alpha pixel is unexplained only if its colour differs from the rendered one by
    more than this (mean |ΔRGB|): where the image shows the background colour, the empty memory is right."""
    insert_stride: int = 2
    """One new Gaussian per this many unexplained pixels along each image axis (working resolution)."""
    insert_scale: float = 0.6
    """New Gaussians' standard deviation as a fraction of their sample spacing (depth · stride / fx)."""
    max_new_per_frame: int = 4000
    """At most this many Gaussians inserted per keyframe (evenly spread over the candidates)."""
    default_depth_m: float = 0.0
    """Without depth images: unexplained pixels that the memory does not partly render are placed at this
    z-depth (metres). 0: found by the memory, where the keyframes' optical axes converge (memory/depth.py)."""
    depthless_wait_keyframes: int = 10
    """Without depth images and before the axes converge, at most this many keyframes wait for insertion …"""
    fallback_depth_m: float = 1.5
    """… after which they are inserted at this z-depth, with a warning (metres)."""
    new_opacity: float = 0.5
    """Opacity of inserted Gaussians."""
    insertion: Literal["alpha", "predicted", "predicted+alpha"] = "alpha"
    """How a keyframe's new Gaussians are made: 'alpha', back-projected at the pixels the memory does not
    explain; 'predicted', a feed-forward predictor's Gaussians of those pixels (the memory's owner must hand
    it a proposer: pipeline ``predictor.path``); 'predicted+alpha', the prediction first, then
    back-projection where the memory still does not explain the keyframe. Without depth images the
    prediction is placed around the point where the memory would insert the keyframe (see default_depth_m),
    and waits with the keyframe while the memory waits."""
    predicted_min_opacity: float = 0.05
    """Predicted Gaussians fainter than this are not inserted (predictors make unneeded ones transparent)."""
    sh_degree: int = 0
    """SH degree of the memory (0: view-independent colour; higher needs many views of each Gaussian)."""
    max_gaussians: int = 200000
    """Budget: never more Gaussians than this (the least opaque are dropped)."""
    prune_opacity: float = 0.005
    """Gaussians whose opacity falls below this are removed."""
    prune_every: int = 20
    """The worker prunes every this many steps (and when it runs out of steps)."""
    window_keyframes: int = 3
    """Each step renders the latest this many keyframes …"""
    random_old_keyframes: int = 1
    """… plus this many drawn at random from the older ones (so old views are not forgotten)."""
    steps_per_keyframe: int = 20
    """Optimisation steps per new keyframe (owed in background mode, else run inside add_frame)."""
    max_pending_steps: int = 100
    """At most this many steps are owed: a memory whose owner cannot keep up (CPU) optimises the latest
    window rather than falling ever further behind."""
    lr_means: float = 1e-3
    """Learning rate of the centres, in metres (Adam steps are about this long)."""
    lr_scales: float = 5e-3
    """Learning rate of the log standard deviations."""
    lr_quats: float = 1e-3
    """Learning rate of the quaternions."""
    lr_opacities: float = 5e-2
    """Learning rate of the opacity logits."""
    lr_sh0: float = 5e-3
    """Learning rate of the DC colour; higher SH bands use 1/20 of it."""
    ssim_lambda: float = 0.2
    """Weight λ of the D-SSIM term."""
    depth_lambda: float = 0.2
    """Weight of the depth L1 term (metres) on keyframes with depth (0 = colour only)."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """RGB that renders show where the memory is empty, and that masked-out pixels are compared with."""
    threaded: bool = True
    """True: background mode, keyframes owe their optimisation steps and the memory's owner runs them when
    idle (the node's pipeline worker, between frames). False: deterministic mode, add_frame optimises
    synchronously with seeded randomness (bitwise reproducible on CPU; on CUDA gsplat's backward sums with
    atomics, so runs agree only to rounding)."""
    seed: int = 0
    """Seed of the keyframe sampling."""

    def __post_init__(self):
        """Raise ValueError naming the first impossible setting."""
        check_choices(self)
        c = self
        checks = [
            (len(c.background) == 3, "background needs three values (RGB)"),
            (0 < c.working_scale_cpu <= 1 and 0 < c.working_scale_gpu <= 1,
             "working scales must be in (0, 1]"),
            (0 < c.insert_alpha_threshold <= 1, "insert_alpha_threshold must be in (0, 1]"),
            (0 <= c.prune_opacity < c.new_opacity < 1, "need 0 <= prune_opacity < new_opacity < 1"),
            (c.sh_degree in range(4), "sh_degree must be in 0..3"),
            (min(c.insert_stride, c.max_gaussians, c.max_keyframes, c.window_keyframes, c.prune_every) >= 1,
             "insert_stride, max_gaussians, max_keyframes, window_keyframes and prune_every must be >= 1"),
            (min(c.random_old_keyframes, c.steps_per_keyframe, c.max_new_per_frame, c.max_pending_steps) >= 0,
             "random_old_keyframes, steps_per_keyframe, max_new_per_frame, max_pending_steps must be >= 0"),
            (c.default_depth_m >= 0, "default_depth_m must be ≥ 0 (0: estimated)"),
            (c.fallback_depth_m > 0 and c.insert_scale > 0,
             "fallback_depth_m and insert_scale must be positive"),
            (c.depthless_wait_keyframes >= 0, "depthless_wait_keyframes must be ≥ 0"),
            (0 <= c.predicted_min_opacity < 1, "predicted_min_opacity must be in [0, 1)"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise ValueError(f"MemoryConfig: {message}")
