"""Keyframes: the gate that decides which frames become one, their working-resolution copies, and which
of them each optimisation step renders. Conventions (docs/architecture.md §4): ``T_world_cam``
camera→world (OpenCV axes), viewmats world→camera, metres, stamps in integer nanoseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cameras import viewmat_from_pose
from ..frames import Frame

if TYPE_CHECKING:
    from .config import MemoryConfig


@dataclass
class Keyframe:
    """A keyframe at the memory's working resolution, on the memory's device.

    Attributes:
        rgb: [h, w, 3] optimisation target; outside the mask (if any) the background colour: with masks the
            memory models only the masked objects.
        depth: [h, w] z-depth in metres, 0 = no measurement (and 0 outside the mask), or None.
        mask: [h, w] bool, or None.
        T_world_cam, viewmat: [4, 4] camera→world and its inverse.
        K: [3, 3] intrinsics at working resolution.
        stamp_ns: The frame's stamp.
    """

    rgb: Tensor
    depth: Tensor | None
    mask: Tensor | None
    T_world_cam: Tensor
    viewmat: Tensor
    K: Tensor
    stamp_ns: int

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


def gate(last: Keyframe | None, frame: Frame, config: MemoryConfig) -> tuple[bool, str]:
    """Keyframe decision against the last keyframe: (is_keyframe, reason). Reasons: 'first', 'moved',
    'turned' for keyframes; 'stamp_backwards' (e.g. a looping bag: reset the memory), 'too_soon',
    'not_moved' otherwise. Time gates first: a keyframe needs ``keyframe_min_interval_s`` *and* motion."""
    if last is None:
        return True, "first"
    dt = (int(frame.stamp_ns) - last.stamp_ns) * 1e-9
    if dt < 0:
        return False, "stamp_backwards"
    if dt < config.keyframe_min_interval_s:
        return False, "too_soon"
    translation, rotation = pose_change(last.T_world_cam, frame.T_world_cam)
    if translation > config.keyframe_translation_m:
        return True, "moved"
    return (True, "turned") if rotation > config.keyframe_rotation_deg else (False, "not_moved")


def pose_change(T_a: Tensor, T_b: Tensor) -> tuple[float, float]:
    """Distance between two camera→world poses: (translation in metres, rotation angle in degrees)."""
    T_a, T_b = T_a.detach().double().cpu(), T_b.detach().double().cpu()
    cos = (float(torch.trace(T_a[:3, :3].T @ T_b[:3, :3])) - 1.0) / 2.0
    return float((T_a[:3, 3] - T_b[:3, 3]).norm()), math.degrees(math.acos(min(1.0, max(-1.0, cos))))


def working_keyframe(frame: Frame, scale: float, background: Tensor, device: torch.device) -> Keyframe:
    """A frame resized by ``scale`` (area-averaged colour; nearest depth and mask, so that invalid zeros and
    edges are not blended into false depths), non-finite depth set to 0, the mask applied."""
    intr = frame.intrinsics.scaled(scale) if scale != 1.0 else frame.intrinsics
    w, h = intr.width, intr.height
    rgb = frame.rgb.to(device=device, dtype=torch.float32)
    depth = None if frame.depth is None else frame.depth.to(device=device, dtype=torch.float32)
    mask = None if frame.mask is None else frame.mask.to(device=device, dtype=torch.bool)
    if (w, h) != frame.size:
        rgb = F.interpolate(rgb.permute(2, 0, 1)[None], size=(h, w), mode="area")[0].permute(1, 2, 0)
        if depth is not None:
            depth = F.interpolate(depth[None, None], size=(h, w), mode="nearest")[0, 0]
        if mask is not None:
            mask = F.interpolate(mask[None, None].float(), size=(h, w), mode="nearest")[0, 0] > 0.5
    if depth is not None:
        depth = torch.where(torch.isfinite(depth) & (depth > 0), depth, torch.zeros_like(depth))
    if mask is not None:
        rgb = torch.where(mask[..., None], rgb, background.to(rgb).expand_as(rgb))
        depth = None if depth is None else depth * mask
    T = frame.T_world_cam.to(device=device, dtype=torch.float32)
    return Keyframe(
        rgb.contiguous(), depth, mask, T, viewmat_from_pose(T), intr.K(device), int(frame.stamp_ns)
    )


def pick_keyframes(n: int, config: MemoryConfig, generator: torch.Generator) -> list[int]:
    """Indices of one step's keyframes: the latest ``window_keyframes`` plus ``random_old_keyframes`` drawn
    from the older ones (so the memory does not forget what it saw first), ascending."""
    recent = list(range(max(0, n - config.window_keyframes), n))
    older = torch.randperm(n - len(recent), generator=generator)[: config.random_old_keyframes]
    return sorted(older.tolist()) + recent
