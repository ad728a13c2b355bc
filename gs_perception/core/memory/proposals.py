"""Gaussians proposed for a keyframe by something outside the memory (a feed-forward predictor).

The memory stays ignorant of networks: whoever owns it (the pipeline) hands it a :class:`Proposer`, and
the memory keeps the proposed Gaussians of the pixels it does not explain yet. Conventions as in
:mod:`.insertion`: world frame, raw parameters, metres; pixel ``(u, v)`` at the keyframe's working
resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from ..gaussians import GaussianCloud
from .keyframes import Keyframe

if TYPE_CHECKING:
    from .config import MemoryConfig


@dataclass
class Proposal:
    """Gaussians proposed for one keyframe, each tied to the pixel it came from.

    Attributes:
        cloud: N Gaussians in the world frame.
        pixels: [N, 2] long (u, v) of each Gaussian's source pixel at the keyframe's working resolution.
    """

    cloud: GaussianCloud
    pixels: Tensor

    def __post_init__(self) -> None:
        if self.pixels.shape != (self.cloud.num, 2):
            raise ValueError(f"pixels must be [{self.cloud.num}, 2], got {tuple(self.pixels.shape)}")


class Proposer(Protocol):
    """Proposes Gaussians for a keyframe (e.g. pipeline/feedforward.py's predictor)."""

    def __call__(self, kf: Keyframe, centre: Tensor) -> Proposal:
        """Gaussians for ``kf``; ``centre`` [3] (world, metres) is where the memory expects the object."""


def object_centre(kf: Keyframe, memory: GaussianCloud, depth_m: float) -> Tensor:
    """Where the object the keyframe looks at probably is (world frame, [3], metres).

    In this order: the median of the keyframe's depth measurements back-projected; for a keyframe without a
    depth image, the point ``depth_m`` along its optical axis (the memory passes the depth it inserts that
    keyframe at: where the keyframes' optical axes converge, or the configured distance; core/memory/
    depth.py); for a depth image without a valid pixel, the mean of the memory's opaque Gaussians
    (opacity > 0.5), or else the point ``depth_m`` along the axis.
    """
    T = kf.T_world_cam
    on_axis = T[:3, 3] + depth_m * T[:3, 2]
    if kf.depth is None:
        return on_axis
    if bool((kf.depth > 0).any()):
        v, u = torch.nonzero(kf.depth > 0, as_tuple=True)
        z = kf.depth[v, u]
        K = kf.K
        p = torch.stack(
            [(u.to(z) + 0.5 - K[0, 2]) / K[0, 0] * z, (v.to(z) + 0.5 - K[1, 2]) / K[1, 1] * z, z], -1
        )
        return (p @ T[:3, :3].T + T[:3, 3]).median(dim=0).values
    opaque = memory.opacities() > 0.5 if memory.num else torch.zeros(0, dtype=torch.bool)
    return memory.means[opaque].mean(dim=0).to(T) if bool(opaque.any()) else on_axis


def keep_proposed(proposal: Proposal, unexplained: Tensor, config: MemoryConfig) -> GaussianCloud:
    """The proposed Gaussians worth inserting: those of pixels the memory does not explain
    (:func:`.insertion.unexplained_pixels`, as alpha-based insertion uses them) that are at least
    ``predicted_min_opacity`` opaque, at most ``max_new_per_frame`` (evenly spread, as
    :func:`.insertion.seed_gaussians` does).

    Background pixels are left out with the rest of what the memory explains: Splatter Image uses their
    Gaussians for the sides a single view does not show, but a memory sees those sides from later keyframes,
    and in a trial on the demo's orbit (benchmarks/bench_ff_memory.py) keeping them cost up to 1.8 dB.

    Args:
        unexplained: [h, w] bool at the keyframe's working resolution.
    """
    u, v = proposal.pixels[:, 0], proposal.pixels[:, 1]
    keep = unexplained[v, u] & (proposal.cloud.opacities() >= config.predicted_min_opacity)
    index = torch.nonzero(keep).squeeze(1)
    cap = min(config.max_new_per_frame, config.max_gaussians)
    if index.numel() > cap:
        index = index[torch.linspace(0, index.numel() - 1, cap, device=index.device).round().long()]
    return proposal.cloud.subset(index).with_sh_degree(config.sh_degree)
