"""Feed-forward insertion: a trained predictor (``train-ff``'s ``predictor.pt``) proposes each keyframe's
Gaussians, so the memory holds a usable object from its first keyframe and optimisation only refines it.

The memory asks a :class:`SplatterProposer` for Gaussians (core/memory/proposals.py) and keeps those of the
pixels it does not explain yet. The predictor runs on the keyframe's working-resolution image, padded on
the right and bottom with the background colour to the U-Net's multiple, inside the depth range of a ball
of ``object_radius_m`` around the centre the memory expects the object at (models/splatter.py
``depth_range_around``). Conventions: ``T_world_cam`` camera→world, OpenCV axes; metres; wxyz.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.memory.keyframes import Keyframe
from ..core.memory.proposals import Proposal
from ..models.splatter import depth_range_around
from ..models.splatter_file import load_predictor


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


class SplatterProposer:
    """Proposes a keyframe's Gaussians with a trained predictor (see the module docstring).

    Args:
        config: The predictor file and the object radius.
        device: Where the predictor runs (the memory's device).
    """

    def __init__(self, config: PredictorConfig, device: torch.device | str = "cpu"):
        if config.stride < 1 or config.layers < 0:
            raise ValueError(f"predictor.stride must be ≥ 1 and predictor.layers ≥ 0, got {config}")
        self.config = config
        self.model, self.info = load_predictor(config.path, map_location=device)
        self.radius = config.object_radius_m or self.info.object_radius
        self.multiple = 2 ** (len(self.model.config.channels) - 1)
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, kf: Keyframe, centre: Tensor) -> Proposal:
        """The Gaussians of ``kf``'s sampled pixels (world frame) and their pixels (u, v)."""
        h, w = kf.rgb.shape[:2]
        H, W = -(-h // self.multiple) * self.multiple, -(-w // self.multiple) * self.multiple
        image = kf.rgb.to(self.device).permute(2, 0, 1)
        background = torch.tensor(self.info.background, device=self.device)
        image = F.pad(image - background[:, None, None], (0, W - w, 0, H - h)) + background[:, None, None]
        T = kf.T_world_cam.to(self.device)[None]
        depth_range = depth_range_around(T, centre.to(self.device), self.radius)
        gaussians = self.model(image.permute(1, 2, 0)[None], kf.K.to(self.device)[None], T, depth_range)
        v, u = torch.meshgrid(
            torch.arange(H, device=self.device), torch.arange(W, device=self.device), indexing="ij"
        )
        layers = self.model.config.layers
        pixels = torch.stack([u.reshape(-1), v.reshape(-1)], dim=-1).repeat(layers, 1)
        layer = torch.arange(layers, device=self.device).repeat_interleave(H * W)
        s, offset = self.config.stride, self.config.stride // 2
        keep = (pixels[:, 0] < w) & (pixels[:, 1] < h)  # padding pixels propose nothing
        keep &= ((pixels - offset) % s == 0).all(dim=-1) & (layer < (self.config.layers or layers))
        cloud = gaussians.cloud().subset(keep)
        cloud = replace(cloud, log_scales=cloud.log_scales + math.log(s))  # cover the skipped pixels
        return Proposal(cloud, pixels[keep])
