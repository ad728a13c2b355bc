"""Feed-forward 3D Gaussians from posed images, after Splatter Image (Szymanowicz et al., CVPR 2024).

A U-Net (models/splatter_unet.py) maps each input view to ``layers`` Gaussians per pixel. The head's 15
channels per pixel and layer are decoded by :func:`decode_pixels`:

- **Position on the pixel's ray** (the intrinsics-aware ray parameterisation): the ray through the centre of
  pixel (u, v) is ``r = K⁻¹ [u + 0.5, v + 0.5, 1]ᵀ`` (z = 1; the pixel-centre convention of
  core/cameras.py ``backproject_depth``), the z-depth is ``near + (far - near)·sigmoid(d)`` inside a
  per-view range around the object (each further layer lies behind the one before: its ``near`` is that
  layer's depth, room for the sides the view cannot see), and a small offset, bounded by ``offset_scale``
  × half that range, lets Gaussians leave their ray (Splatter Image's offsets): ``mean_cam = r·depth +
  offset``. The ray maps are also fed to the U-Net beside the RGB, so the network sees which camera took
  the picture.
- **Size in pixel footprints**: ``σ = depth / sqrt(fx·fy) · scale_init · exp(s)`` with ``s`` bounded by
  ``log_scale_range``; a Gaussian starts as big as its pixel at its depth, whatever the camera.
- **Rotation** is predicted in the camera frame and turned into the world by the camera's rotation
  (``q_world = q(R_world_cam) ⊗ q_cam``, wxyz); **colour** is RGB (SH degree 0) predicted as a correction
  of the pixel's own colour; **opacity** is a logit.

Every view is lifted into the world frame with its ``T_world_cam`` (camera→world, OpenCV axes) by
:func:`to_world`; several views of one object are fused by concatenating their Gaussians in that common
frame (:meth:`ViewGaussians.cloud`), as Splatter Image's multi-view extension joins per-view predictions.
The model carries no metric scale: depths and offsets are relative to the depth range the caller gives
(:func:`depth_range_around`: an object of known radius around a known centre), sizes to the pixel footprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..core.gaussians import GaussianCloud, rgb_to_sh
from .splatter_unet import UNet

HEAD_CHANNELS = 15
"""Per-pixel outputs: depth 1, offset 3, opacity 1, log-scale 3, quaternion 4, colour 3 (in this order)."""

_SPLITS = (1, 3, 1, 3, 4, 3)
_COLOUR_CLAMP = 0.02  # the colour skip takes logit(pixel): keep it finite on pure white/black pixels


@dataclass(frozen=True)
class SplatterConfig:
    """Architecture and output parameterisation of the feed-forward predictor (CPU-sized: 1.27 M parameters,
    about 10 ms per 64² view on one core; benchmarks/bench_feedforward.py)."""

    channels: tuple[int, ...] = (16, 32, 64, 128)
    """U-Net widths per level, finest first (each level halves the resolution: image sides must be
    divisible by 2^(levels - 1))."""
    blocks: int = 1
    """Residual blocks per U-Net level on each side."""
    layers: int = 2
    """Gaussians per pixel: the first on the pixel's ray at the predicted depth, each further one on the
    same ray behind the one before (its depth a predicted fraction of the range left behind it): room for
    the sides of the object the view does not see. Two learned faster than one in short CPU trials, at
    equal wall time despite ~40 % more per step (docs/feedforward.md)."""
    attention_heads: int = 4
    """Heads of a self-attention block at the U-Net's coarsest level (8² tokens for a 64² view), which lets
    every pixel see the whole object: 0.3-0.6 dB ahead at equal steps in 2,000-step CPU trials, for ~3 %
    more time per step (docs/feedforward.md; 0: none)."""
    ray_input: bool = True
    """Feed each pixel's ray direction (x/z, y/z from K⁻¹) to the U-Net beside its RGB, so the prediction
    knows the camera's intrinsics."""
    offset_scale: float = 0.5
    """Largest offset of a Gaussian from its pixel's ray, per camera axis, in units of half the depth range
    (the object's radius for an orbiting camera)."""
    scale_init: float = 1.0
    """Standard deviation of a Gaussian whose scale output is 0, in pixel footprints at its depth."""
    log_scale_range: float = 3.0
    """Bound of the predicted log-scale change: sizes stay within scale_init · exp(±range) footprints."""
    opacity_init: float = 0.5
    """Opacity of a Gaussian whose opacity output is 0."""
    head_gain: float = 0.01
    """Initial weights of the last 1×1 convolution are scaled by this: training starts from the neutral
    prediction (mid-range depth, no offset, pixel colour, one-footprint size)."""

    def __post_init__(self):
        if not self.channels or self.blocks < 1 or self.layers < 1:
            raise ValueError(
                f"need channels, and blocks and layers ≥ 1: {self.channels}, {self.blocks}, {self.layers}"
            )
        if not 0.0 < self.opacity_init < 1.0 or self.scale_init <= 0.0 or self.log_scale_range <= 0.0:
            raise ValueError("opacity_init must be in (0, 1); scale_init and log_scale_range positive")

    @property
    def in_channels(self) -> int:
        """U-Net input channels: RGB, plus the two ray components when ``ray_input``."""
        return 5 if self.ray_input else 3


@dataclass
class ViewGaussians:
    """Per-pixel Gaussians of B views (N = layers·H·W, layer by layer: ``[:, :H·W]`` is the front layer),
    raw parameters as in :class:`GaussianCloud`.

    Attributes:
        means: [B, N, 3] centres (camera frame after :func:`decode_pixels`, world after :func:`to_world`).
        log_scales: [B, N, 3] log standard deviations.
        quats: [B, N, 4] wxyz rotations (unnormalised), in the same frame as ``means``.
        opacity_logits: [B, N] pre-sigmoid opacities.
        rgb: [B, N, 3] colours in [0, 1].
        depth: [B, N] z-depth along the pixel's ray in its own camera (before the offset).
    """

    means: Tensor
    log_scales: Tensor
    quats: Tensor
    opacity_logits: Tensor
    rgb: Tensor
    depth: Tensor

    @property
    def num_views(self) -> int:
        return self.means.shape[0]

    def select(self, views: Sequence[int]) -> ViewGaussians:
        """The Gaussians of some of the views, in the order given."""
        index = list(views)
        return ViewGaussians(*(getattr(self, f.name)[index] for f in fields(self)))

    def cloud(self, views: Sequence[int] | None = None) -> GaussianCloud:
        """The Gaussians of ``views`` (default all) joined into one cloud (SH degree 0), in view order.

        Fusion is concatenation: the per-view predictions must already share one frame (:func:`to_world`).
        """
        index = list(range(self.num_views)) if views is None else list(views)
        flat = lambda t: t[index].reshape(-1, *t.shape[2:])  # noqa: E731
        rgb = flat(self.rgb)
        return GaussianCloud(
            flat(self.means), flat(self.log_scales), flat(self.quats), flat(self.opacity_logits),
            rgb_to_sh(rgb)[:, None, :],
        )  # fmt: skip


def pixel_rays(K: Tensor, height: int, width: int) -> Tensor:
    """Ray of every pixel centre with unit z: ``K⁻¹ [u + 0.5, v + 0.5, 1]ᵀ`` (pixel (u, v)'s centre is at
    (u + 0.5, v + 0.5), core/cameras.py).

    Args:
        K: [B, 3, 3] intrinsics (zero skew).
        height, width: Image size in pixels.

    Returns:
        [B, H, W, 3] directions (x/z, y/z, 1) in the camera frame (OpenCV axes).
    """
    v, u = torch.meshgrid(
        torch.arange(height, dtype=K.dtype, device=K.device) + 0.5,
        torch.arange(width, dtype=K.dtype, device=K.device) + 0.5,
        indexing="ij",
    )
    fx, fy, cx, cy = (K[:, i, j][:, None, None] for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    x, y = (u - cx) / fx, (v - cy) / fy
    return torch.stack([x, y, torch.ones_like(x)], dim=-1)


def depth_range_around(T_world_cam: Tensor, centre: Tensor, radius: float, min_near: float = 1e-3) -> Tensor:
    """z-depth range each camera sees a ball of ``radius`` around ``centre`` in.

    Args:
        T_world_cam: [B, 4, 4] camera→world, OpenCV axes.
        centre: [3] the object's centre, world frame.
        radius: The object's bounding radius (metres).
        min_near: Lower bound of ``near`` (a camera inside the ball still gets a positive range).

    Returns:
        [B, 2] (near, far): the ball centre's z-depth ∓ radius.
    """
    z_axis, eye = T_world_cam[:, :3, 2], T_world_cam[:, :3, 3]
    z = ((centre.to(eye) - eye) * z_axis).sum(-1)
    near = (z - radius).clamp_min(min_near)
    return torch.stack([near, torch.maximum(z + radius, near + min_near)], dim=-1)


def ball_in_view(K: Tensor, T_world_cam: Tensor, centre: Tensor, radius: float) -> tuple[Tensor, Tensor]:
    """Where, and how large, cameras see a ball of ``radius`` around ``centre``: the framing that the
    predictor file records (``PredictorInfo.ball_fraction``) and the online proposer reproduces.

    Args:
        K: [B, 3, 3] intrinsics.
        T_world_cam: [B, 4, 4] camera→world, OpenCV axes.
        centre: [3] the ball's centre, world frame.
        radius: The ball's radius (metres).

    Returns:
        uv: [B, 2] the centre's pixel coordinates (pixel (u, v)'s centre at (u + 0.5, v + 0.5)).
        rho: [B] the ball's projected radius in pixels, ``sqrt(fx·fy)·radius / z`` at the centre's z-depth
            (z kept ≥ radius/1000, so a centre behind the camera gives a huge ball, not a negative one).
    """
    R, t = T_world_cam[:, :3, :3], T_world_cam[:, :3, 3]
    p = ((centre.to(t) - t)[:, None, :] @ R)[:, 0]  # camera frame: Rᵀ (c - t)
    z = p[:, 2].clamp_min(1e-3 * radius)
    uv = torch.stack([K[:, 0, 0] * p[:, 0] / z + K[:, 0, 2], K[:, 1, 1] * p[:, 1] / z + K[:, 1, 2]], -1)
    return uv, torch.sqrt(K[:, 0, 0] * K[:, 1, 1]) * radius / z


LEGACY_FIELDS = {"attention_heads": 0}
""":class:`SplatterConfig` fields that records (predictor files, run folders) written before them lack, with
the value those models were built with."""


def decode_pixels(
    raw: Tensor, images: Tensor, K: Tensor, depth_range: Tensor, config: SplatterConfig
) -> ViewGaussians:
    """The head's per-pixel outputs → Gaussians in each view's camera frame (see the module docstring).

    Args:
        raw: [B, L·15, H, W] head outputs, L layers of :data:`HEAD_CHANNELS` (in order) each.
        images: [B, H, W, 3] the input views, RGB in [0, 1] (the colour is predicted relative to them).
        K: [B, 3, 3] intrinsics.
        depth_range: [B, 2] (near, far) z-depths of each view.
        config: Output parameterisation.

    Returns:
        :class:`ViewGaussians` in camera frames, N = L·H·W: layer by layer, pixels in row-major order.
    """
    B, C, H, W = raw.shape
    layers = C // HEAD_CHANNELS
    assert C == layers * HEAD_CHANNELS and images.shape == (B, H, W, 3), (raw.shape, images.shape)
    assert K.shape == (B, 3, 3) and depth_range.shape == (B, 2), (K.shape, depth_range.shape)
    per_layer = raw.reshape(B, layers, HEAD_CHANNELS, H * W).transpose(2, 3)  # [B, L, H·W, 15]
    d, offset, opacity, scale, quat, colour = per_layer.split(_SPLITS, -1)
    near, far = depth_range[:, :1], depth_range[:, 1:]  # [B, 1]
    depths, front = [], near
    for fraction in torch.sigmoid(d[..., 0]).unbind(1):  # each layer lies behind the one before
        front = front + (far - front) * fraction
        depths.append(front)
    depth = torch.stack(depths, dim=1)  # [B, L, H·W]
    rays = pixel_rays(K, H, W).reshape(B, 1, H * W, 3)
    half = 0.5 * (far - near)[:, :, None, None]
    means = rays * depth[..., None] + config.offset_scale * half * torch.tanh(offset)
    footprint = depth / torch.sqrt(K[:, 0, 0] * K[:, 1, 1])[:, None, None]  # metres per pixel at that depth
    r = config.log_scale_range
    log_scales = torch.log(footprint * config.scale_init)[..., None] + r * torch.tanh(scale / r)
    identity = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=raw.dtype, device=raw.device)
    pixel = images.reshape(B, 1, H * W, 3).clamp(_COLOUR_CLAMP, 1.0 - _COLOUR_CLAMP)
    flat = lambda t: t.reshape(B, layers * H * W, *t.shape[3:])  # noqa: E731  layer-major
    return ViewGaussians(
        means=flat(means),
        log_scales=flat(log_scales),
        quats=flat(quat + identity),
        opacity_logits=flat(opacity[..., 0] + torch.logit(torch.tensor(config.opacity_init))),
        rgb=flat(torch.sigmoid(colour + torch.logit(pixel))),
        depth=flat(depth),
    )


def to_world(gaussians: ViewGaussians, T_world_cam: Tensor) -> ViewGaussians:
    """Camera-frame Gaussians of B views → the world frame (means moved, rotations composed).

    Args:
        gaussians: Output of :func:`decode_pixels`.
        T_world_cam: [B, 4, 4] camera→world, OpenCV axes.

    Returns:
        The same Gaussians in the world frame (``depth`` unchanged: it is per camera).
    """
    R, t = T_world_cam[:, :3, :3].to(gaussians.means), T_world_cam[:, :3, 3].to(gaussians.means)
    means = gaussians.means @ R.transpose(1, 2) + t[:, None, :]
    quats = quat_multiply(rotmat_to_quat(R)[:, None, :], gaussians.quats)
    return ViewGaussians(
        means, gaussians.log_scales, quats, gaussians.opacity_logits, gaussians.rgb, gaussians.depth
    )


def quat_multiply(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product ``a ⊗ b`` of wxyz quaternions (rotate by b, then by a). [..., 4] × [..., 4]."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        dim=-1,
    )


def rotmat_to_quat(R: Tensor) -> Tensor:
    """Unit wxyz quaternions (w ≥ 0) of rotation matrices; the inverse of core/projection.py
    ``quat_to_rotmat``. [..., 3, 3] → [..., 4].

    Each of the four candidate components is computed from the diagonal and the largest one anchors the rest
    (Shepperd's method), so no division is by a number near zero.
    """
    m = R.reshape(-1, 3, 3)
    d, r = m.diagonal(dim1=1, dim2=2), m  # r: the matrix entries, d: its diagonal
    skew = (r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1])  # 4·w·(x, y, z)
    sym = (r[:, 0, 1] + r[:, 1, 0], r[:, 0, 2] + r[:, 2, 0], r[:, 1, 2] + r[:, 2, 1])  # 4·(xy, xz, yz)
    candidates = torch.stack(
        [
            torch.stack([1 + d.sum(-1), *skew], -1),
            torch.stack([skew[0], 1 + d[:, 0] - d[:, 1] - d[:, 2], sym[0], sym[1]], -1),
            torch.stack([skew[1], sym[0], 1 - d[:, 0] + d[:, 1] - d[:, 2], sym[2]], -1),
            torch.stack([skew[2], sym[1], sym[2], 1 - d[:, 0] - d[:, 1] + d[:, 2]], -1),
        ],
        dim=1,
    )
    # Row k is 4·q_k·q: the row whose own entry (4·q_k²) is largest is the best conditioned.
    best = torch.diagonal(candidates, dim1=1, dim2=2).argmax(dim=1)
    q = F.normalize(candidates[torch.arange(len(m)), best], dim=-1)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(R.shape[:-2] + (4,))


class SplatterImage(nn.Module):
    """The feed-forward predictor: posed views → per-pixel Gaussians in the world frame.

    Args:
        config: Architecture and output parameterisation.
    """

    def __init__(self, config: SplatterConfig = SplatterConfig()):
        super().__init__()
        self.config = config
        self.unet = UNet(
            config.in_channels,
            config.layers * HEAD_CHANNELS,
            config.channels,
            config.blocks,
            config.attention_heads,
        )
        head = self.unet.out[-1]
        with torch.no_grad():
            head.weight.mul_(config.head_gain)
            head.bias.zero_()

    def forward(self, images: Tensor, K: Tensor, T_world_cam: Tensor, depth_range: Tensor) -> ViewGaussians:
        """Predict B views independently (each view's Gaussians depend on that view only).

        Args:
            images: [B, H, W, 3] RGB in [0, 1], composited on the background the model was trained with.
            K: [B, 3, 3] intrinsics.
            T_world_cam: [B, 4, 4] camera→world, OpenCV axes.
            depth_range: [B, 2] (near, far) z-depths that bound the object (:func:`depth_range_around`).

        Returns:
            :class:`ViewGaussians` in the world frame, H·W per view; ``.cloud()`` fuses them.
        """
        B, H, W, _ = images.shape
        x = images.permute(0, 3, 1, 2) * 2.0 - 1.0
        if self.config.ray_input:
            rays = pixel_rays(K.to(images), H, W)[..., :2].permute(0, 3, 1, 2)
            x = torch.cat([x, rays], dim=1)
        raw = self.unet(x)
        return to_world(
            decode_pixels(raw, images, K.to(images), depth_range.to(images), self.config), T_world_cam
        )


__all__ = [
    "HEAD_CHANNELS",
    "LEGACY_FIELDS",
    "SplatterConfig",
    "SplatterImage",
    "ViewGaussians",
    "ball_in_view",
    "decode_pixels",
    "depth_range_around",
    "pixel_rays",
    "quat_multiply",
    "rotmat_to_quat",
    "to_world",
]
