"""How far along its ray the memory places what it has not seen before, when frames carry no depth image.

A monocular camera does not measure depth; inserting every unexplained pixel at one fixed distance puts a copy
of the scene at the wrong depth for every viewpoint (ghosts). The memory uses, per pixel and in this order:

1. **The surface it already holds**: where the memory partly renders (done in the insertion itself).
2. **A configured scene distance** (``MemoryConfig.default_depth_m`` > 0).
3. **Where the keyframes' optical axes converge**: a camera that looks at an object or a scene while it moves
   around it keeps that scene near the middle of its image, so the point closest to all optical axes (least
   squares) is the scene's centre; each keyframe inserts at that point's z-depth in its own camera.
4. Until the axes converge (one keyframe, motion along parallel axes, turning in place) the first keyframes
   *wait*: they are stored, and inserted once an estimate exists, or after ``depthless_wait_keyframes`` at
   ``fallback_depth_m``, with a warning. Later keyframes never wait: they use the axes or the fallback.

Conventions: ``T_world_cam`` camera→world with OpenCV axes (the optical axis is the camera's +z), metres.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..cameras import optical_axes_system

if TYPE_CHECKING:
    from .config import MemoryConfig
    from .keyframes import Keyframe

LOG = logging.getLogger("gs_perception.memory")


@dataclass(frozen=True)
class DepthGuess:
    """Where a keyframe without depth places the pixels the memory does not render yet.

    Attributes:
        depth_m: z-depth in metres in that keyframe's camera, or None: wait for an estimate.
        source: 'configured', 'converging axes', 'fallback' or 'waiting'.
        text: One line saying what was assumed, for logs, diagnostics and replay metrics.
        point: [3] world point the axes converge on ('converging axes' only).
    """

    depth_m: float | None
    source: str
    text: str
    point: Tensor | None = None

    def depth_for(self, T_world_cam: Tensor) -> float:
        """The depth this guess gives another (earlier, waiting) keyframe at ``T_world_cam`` [4, 4]."""
        if self.point is not None:
            return depth_of(self.point, T_world_cam)
        assert self.depth_m is not None, "a waiting guess has no depth"
        return self.depth_m


def axes_convergence(T_world_cam: Tensor, min_spread_deg: float = 10.0) -> Tensor | None:
    """The world point closest, in the least-squares sense, to the optical axes of N cameras.

    Minimises Σᵢ ‖(I − dᵢdᵢᵀ)(p − cᵢ)‖² over p (cᵢ the camera centres, dᵢ their +z axes).

    Args:
        T_world_cam: [N, 4, 4] camera→world poses (OpenCV axes).
        min_spread_deg: The axes must spread at least this much (two axes this far apart are just enough);
            nearly parallel axes meet far away or nowhere.

    Returns:
        [3] float64 point in the world frame, or None when there are fewer than two cameras, the axes are
        too parallel, or the point is not in front of every camera (e.g. a camera turning in place).
    """
    if T_world_cam.shape[0] < 2:
        return None
    system = optical_axes_system(T_world_cam)
    A, centres, axes, n = system.A, system.centres, system.axes, T_world_cam.shape[0]
    # Two axes at angle θ give A's smallest eigenvalue 1 − cos θ; the mean over N axes keeps that scale.
    if float(torch.linalg.eigvalsh(A)[0]) / n < (1 - math.cos(math.radians(min_spread_deg))) / 2:
        return None
    point = torch.linalg.solve(A, system.b)
    depths = ((point - centres) * axes).sum(1)
    # In front of every camera, and not at the cameras themselves (turning in place converges there).
    spread = float((centres - centres.mean(0)).norm(dim=1).max())
    if float(depths.min()) <= max(1e-3, 0.5 * spread):
        return None
    return point


def depth_of(point: Tensor, T_world_cam: Tensor) -> float:
    """z-depth (metres) of a world ``point`` [3] in the camera ``T_world_cam`` [4, 4] (camera→world)."""
    T = T_world_cam.detach().to("cpu", torch.float64)
    return float(((point.to(T) - T[:3, 3]) * T[:3, 2]).sum() / T[:3, 2].norm())


def guess_depth(
    T_world_cam: Tensor, configured_m: float, waited: int, wait_limit: int, fallback_m: float
) -> DepthGuess:
    """The insertion depth for one keyframe without depth.

    Args:
        T_world_cam: [N, 4, 4] camera→world poses of the depthless keyframes so far; the last is the one
            being inserted.
        configured_m: ``MemoryConfig.default_depth_m`` (> 0 wins; 0 = estimate).
        waited: Keyframes already waiting for an estimate.
        wait_limit: After this many, stop waiting and use ``fallback_m``.
        fallback_m: Depth used when the axes never converge.
    """
    if configured_m > 0:
        return DepthGuess(configured_m, "configured", f"no depth images: {configured_m:.2f} m (configured)")
    point = axes_convergence(T_world_cam)
    if point is not None:
        z = depth_of(point, T_world_cam[-1])
        where = ", ".join(f"{x:.2f}" for x in point.tolist())
        return DepthGuess(
            z,
            "converging axes",
            f"no depth images: {z:.2f} m, where the optical axes of {T_world_cam.shape[0]} keyframes "
            f"converge (world point {where})",
            point,
        )
    if waited < wait_limit:
        return DepthGuess(
            None,
            "waiting",
            f"no depth images: {waited + 1} keyframe(s) wait until the camera has moved around the scene "
            "(set default_depth_m to insert at once)",
        )
    return DepthGuess(
        fallback_m,
        "fallback",
        f"no depth images and the optical axes of {T_world_cam.shape[0]} keyframes do not converge "
        f"(the camera moves along parallel axes or turns in place): {fallback_m:.2f} m (fallback_depth_m); "
        "set default_depth_m to the scene's distance",
    )


class DepthlessInsertion:
    """The memory's state of insertion without depth: keyframes waiting for an estimate, and what it last
    assumed (logged when that changes: a warning for the fallback, info otherwise).

    Args:
        config: The memory's settings (``default_depth_m``, ``depthless_wait_keyframes``,
            ``fallback_depth_m``).
    """

    def __init__(self, config: MemoryConfig):
        self.config = config
        self.waiting: list[Keyframe] = []
        self.source = self.text = ""
        self.inserted = False  # once keyframes were inserted, later ones never wait

    def note(self, guess: DepthGuess) -> None:
        """Record what insertion assumes now."""
        if guess.source != self.source:
            (LOG.warning if guess.source == "fallback" else LOG.info)("%s", guess.text)
        self.source, self.text = guess.source, guess.text

    def ready(self, keyframe: Keyframe, T_world_cam: Tensor) -> list[tuple[Keyframe, float]]:
        """The keyframes to insert now, each with its depth: none while waiting, else the waiting ones and
        ``keyframe``.

        Args:
            keyframe: A new keyframe without depth.
            T_world_cam: [N, 4, 4] poses of every stored depthless keyframe and, last, ``keyframe``'s.
        """
        c, limit = self.config, self.config.depthless_wait_keyframes
        waited = limit if self.inserted else len(self.waiting)
        guess = guess_depth(T_world_cam, c.default_depth_m, waited, limit, c.fallback_depth_m)
        self.note(guess)
        if guess.depth_m is None:
            self.waiting.append(keyframe)
            return []
        ready, self.waiting, self.inserted = self.waiting + [keyframe], [], True
        return [(k, guess.depth_for(k.T_world_cam)) for k in ready]
