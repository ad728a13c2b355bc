"""Feed-forward insertion: a trained predictor (``train-ff``'s ``predictor.pt``) proposes each keyframe's
Gaussians, so the memory holds a usable object from its first keyframe and optimisation only refines it.

The memory asks a :class:`SplatterProposer` for Gaussians (core/memory/proposals.py) and keeps those of the
pixels it does not explain yet. The predictor runs on the keyframe's working-resolution image, padded on
the right and bottom with the background colour to the U-Net's multiple, inside the depth range of a ball
of ``object_radius_m`` around the centre the memory expects the object at (models/splatter.py
``depth_range_around``). Conventions: ``T_world_cam`` camera→world, OpenCV axes; metres; wxyz.
"""

from __future__ import annotations

from dataclasses import dataclass

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


class SplatterProposer:
    """Proposes a keyframe's Gaussians with a trained predictor (see the module docstring).

    Args:
        config: The predictor file and the object radius.
        device: Where the predictor runs (the memory's device).
    """

    def __init__(self, config: PredictorConfig, device: torch.device | str = "cpu"):
        self.model, self.info = load_predictor(config.path, map_location=device)
        self.radius = config.object_radius_m or self.info.object_radius
        self.multiple = 2 ** (len(self.model.config.channels) - 1)
        self.device = torch.device(device)

    @torch.no_grad()
    def __call__(self, kf: Keyframe, centre: Tensor) -> Proposal:
        """Per-pixel Gaussians of ``kf`` (``layers`` per pixel, world frame) and their pixels (u, v)."""
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
        inside = (pixels[:, 0] < w) & (pixels[:, 1] < h)  # padding pixels propose nothing
        return Proposal(gaussians.cloud().subset(inside), pixels[inside])
