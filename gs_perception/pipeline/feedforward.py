"""Feed-forward insertion: a trained predictor (``train-ff``'s ``predictor.pt``) proposes each keyframe's
Gaussians, so the memory holds a usable object from its first keyframe and optimisation only refines it.

The memory asks a :class:`SplatterProposer` for Gaussians (core/memory/proposals.py) and keeps those of the
pixels it does not explain yet. The predictor sees a **window** of the keyframe's working-resolution image:

- ``framing: object`` (default): a window centred on where the memory expects the object, sized so that the
  ball of ``object_radius_m`` around it fills the window as objects filled the predictor's training views
  (``PredictorInfo.ball_fraction``), resampled (bilinear) to the training size. A robot's camera sees an
  object smaller or larger, and off-centre; the predictor only ever learned centred objects at one scale.
- ``framing: image``: the whole image at its own resolution, padded with the background to the U-Net's
  multiple.

The window is a camera of its own (its intrinsics are the keyframe's scaled and shifted), so the predicted
Gaussians lie on the keyframe's rays whatever the window; each keyframe pixel of the sampling lattice
(every ``stride``-th, as alpha insertion samples) takes the Gaussian of the window pixel it falls in,
enlarged to cover the lattice cell. Depths stay inside the depth range of the ball (models/splatter.py
``depth_range_around``). Conventions: ``T_world_cam`` camera→world, OpenCV axes; pixel (u, v)'s centre at
(u + 0.5, v + 0.5); metres; wxyz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.choices import check_choices
from ..core.memory.keyframes import Keyframe
from ..core.memory.proposals import Proposal
from ..models.splatter import ball_in_view, depth_range_around
from ..models.splatter_file import PredictorInfo, load_predictor


@dataclass(frozen=True)
class PredictorConfig:
    """The feed-forward predictor used for insertion (with ``memory.insertion`` 'predicted' or
    'predicted+alpha')."""

    path: str = ""
    """Predictor file written by ``gs-perception train-ff`` (``<out>/predictor.pt``); empty: none."""
    object_radius_m: float = 0.0
    """Radius of the ball around the expected object centre that bounds predicted depths (metres); 0: the
    radius the predictor was trained with (1 m: generated datasets normalise objects into the unit ball)."""
    stride: int = 2
    """Propose the Gaussians of every stride-th pixel (both axes, as ``memory.insert_stride`` samples),
    enlarged by the stride so they cover the same area: one per pixel is far more than a few optimisation
    steps can refine (on the demo orbit stride 2 beat stride 1 by up to 1.1 dB, at half the keyframe time)."""
    layers: int = 1
    """Propose the first this many of the predictor's layers per pixel (0 = all): the layers behind model
    the sides one view cannot see, which the memory sees from later keyframes."""
    framing: Literal["object", "image"] = "object"
    """What the predictor sees: 'object', a window around the expected object that it fills as in the
    predictor's training views; 'image', the whole keyframe at its working resolution."""

    def __post_init__(self):
        check_choices(self)
        if self.stride < 1 or self.layers < 0:
            raise ValueError(f"predictor.stride must be ≥ 1 and predictor.layers ≥ 0, got {self}")


@dataclass(frozen=True)
class Window:
    """The part of a keyframe the predictor sees, as a camera: window pixel coordinates are
    ``(x - x0)·scale`` for keyframe pixel coordinates x (and y likewise).

    Attributes:
        x0, y0: Keyframe pixel coordinates of the window's top-left corner.
        scale: Window pixels per keyframe pixel.
        width, height: The window's size in its own pixels.
    """

    x0: float
    y0: float
    scale: float
    width: int
    height: int

    def intrinsics(self, K: Tensor) -> Tensor:
        """[3, 3] the window's intrinsics from the keyframe's ``K`` [3, 3]."""
        out = K.clone()
        out[:2] *= self.scale
        out[0, 2] = (K[0, 2] - self.x0) * self.scale
        out[1, 2] = (K[1, 2] - self.y0) * self.scale
        return out

    def resample(self, image: Tensor, background: Tensor) -> Tensor:
        """[height, width, 3] the window cut from ``image`` [h, w, 3] (bilinear; background outside it)."""
        h, w = image.shape[:2]
        x = self.x0 + (torch.arange(self.width, device=image.device) + 0.5) / self.scale
        y = self.y0 + (torch.arange(self.height, device=image.device) + 0.5) / self.scale
        gy, gx = torch.meshgrid(2 * y / h - 1, 2 * x / w - 1, indexing="ij")  # align_corners=False
        grid = torch.stack([gx, gy], dim=-1)[None].to(image)
        moved = (image - background).permute(2, 0, 1)[None]  # zeros outside: the background after + bg
        return (
            F.grid_sample(moved, grid, mode="bilinear", align_corners=False)[0].permute(1, 2, 0) + background
        )

    def pixel_of(self, uv: Tensor) -> Tensor:
        """[N, 2] long window pixel that keyframe pixels ``uv`` [N, 2] (their centres) fall in."""
        x = ((uv[:, 0] + 0.5 - self.x0) * self.scale).floor().long()
        y = ((uv[:, 1] + 0.5 - self.y0) * self.scale).floor().long()
        return torch.stack([x, y], dim=-1)


def object_window(
    K: Tensor, T_world_cam: Tensor, centre: Tensor, radius: float, info: PredictorInfo
) -> Window:
    """The window, of the predictor's training size, in which the ball of ``radius`` around ``centre``
    (world) fills ``info.ball_fraction`` of half the shorter side, centred on the ball centre's projection.

    Args:
        K: [3, 3] keyframe intrinsics. T_world_cam: [4, 4] camera→world (OpenCV axes). centre: [3].
    """
    uv, rho = ball_in_view(K[None], T_world_cam[None], centre, radius)
    (u, v), rho = uv[0].tolist(), float(rho[0])  # rho: the ball's projected radius, keyframe pixels
    width, height = info.image_size
    scale = info.ball_fraction * 0.5 * min(width, height) / rho
    return Window(u - 0.5 * width / scale, v - 0.5 * height / scale, scale, width, height)


def image_window(width: int, height: int, multiple: int) -> Window:
    """The whole keyframe, padded on the right and bottom to a ``multiple`` of pixels."""
    return Window(0.0, 0.0, 1.0, -(-width // multiple) * multiple, -(-height // multiple) * multiple)


class SplatterProposer:
    """Proposes a keyframe's Gaussians with a trained predictor (see the module docstring).

    Args:
        config: The predictor file, the object radius, sampling and framing.
        device: Where the predictor runs (the memory's device).
    """

    def __init__(self, config: PredictorConfig, device: torch.device | str = "cpu"):
        self.config = config
        self.model, self.info = load_predictor(config.path, map_location=device)
        self.radius = config.object_radius_m or self.info.object_radius
        self.multiple = 2 ** (len(self.model.config.channels) - 1)
        self.device = torch.device(device)

    def window(self, kf: Keyframe, centre: Tensor) -> Window:
        """What the predictor sees of ``kf`` when the object is expected at ``centre`` [3] (world)."""
        if self.config.framing == "image":
            return image_window(kf.rgb.shape[1], kf.rgb.shape[0], self.multiple)
        return object_window(kf.K.cpu(), kf.T_world_cam.cpu(), centre.cpu(), self.radius, self.info)

    @torch.no_grad()
    def __call__(self, kf: Keyframe, centre: Tensor) -> Proposal:
        """The Gaussians of ``kf``'s sampled pixels (world frame) and their pixels (u, v)."""
        h, w = kf.rgb.shape[:2]
        window = self.window(kf, centre)
        background = torch.tensor(self.info.background, device=self.device)
        image = window.resample(kf.rgb.to(self.device), background)
        T = kf.T_world_cam.to(self.device)[None]
        depth_range = depth_range_around(T, centre.to(self.device), self.radius)
        K = window.intrinsics(kf.K.to(self.device))[None]
        gaussians = self.model(image[None], K, T, depth_range)
        # The sampling lattice of keyframe pixels, each taking the Gaussians of the window pixel it is in.
        s = self.config.stride
        v, u = torch.meshgrid(torch.arange(s // 2, h, s), torch.arange(s // 2, w, s), indexing="ij")
        pixels = torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1).to(self.device)
        source = window.pixel_of(pixels)
        inside = (source >= 0).all(-1) & (source[:, 0] < window.width) & (source[:, 1] < window.height)
        pixels, source = pixels[inside], source[inside]
        per_layer = window.width * window.height
        layers = min(self.config.layers or self.model.config.layers, self.model.config.layers)
        index = torch.cat([k * per_layer + source[:, 1] * window.width + source[:, 0] for k in range(layers)])
        cloud = gaussians.cloud().subset(index)
        grow = max(1.0, s * window.scale)  # window footprints per lattice cell
        cloud = replace(cloud, log_scales=cloud.log_scales + math.log(grow))
        return Proposal(cloud, pixels.repeat(layers, 1))
