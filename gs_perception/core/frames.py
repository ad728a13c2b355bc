"""Posed camera frames: what the online memory and pipeline consume (from ROS messages, bags, the simulator).

Conventions: ``T_world_cam`` is camera→world (4×4, metres) with OpenCV camera axes (x right, y down,
z forward) — the ROS optical frame (REP-105 ``*_optical_frame``); the world frame is REP-103 (z up). Stamps
are integer nanoseconds. Images are RGB float32 in [0, 1], ``[H, W, 3]``; depth is z-depth in metres with 0
(or a non-finite value) meaning "no measurement".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .cameras import Intrinsics


class FrameError(ValueError):
    """A frame that cannot be used (non-finite pose, shape mismatch …); the message says which and why."""


@dataclass
class Frame:
    """One posed image.

    Attributes:
        rgb: [H, W, 3] float32 RGB in [0, 1].
        intrinsics: Pinhole intrinsics matching ``rgb``'s size.
        T_world_cam: [4, 4] float32 camera→world, OpenCV axes.
        stamp_ns: Capture time in integer nanoseconds.
        frame_id: The camera (optical) frame's name, copied to output headers.
        depth: [H, W] float32 z-depth in metres (0 = none), optional.
        mask: [H, W] bool, True on the object(s) of interest, optional.
    """

    rgb: Tensor
    intrinsics: Intrinsics
    T_world_cam: Tensor
    stamp_ns: int
    frame_id: str = "camera_optical_frame"
    depth: Tensor | None = None
    mask: Tensor | None = None

    def __post_init__(self) -> None:
        self.validate()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def validate(self) -> None:
        """Raise :class:`FrameError` naming the first problem (shapes, non-finite pose, not rigid)."""
        where = f"frame {self.frame_id} at {self.stamp_ns} ns"
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise FrameError(f"{where}: rgb has shape {tuple(self.rgb.shape)}, expected [H, W, 3]")
        h, w = self.rgb.shape[:2]
        if (self.intrinsics.width, self.intrinsics.height) != (w, h):
            raise FrameError(
                f"{where}: intrinsics are for {self.intrinsics.width}×{self.intrinsics.height}, "
                f"image is {w}×{h}"
            )
        if tuple(self.T_world_cam.shape) != (4, 4):
            raise FrameError(
                f"{where}: T_world_cam has shape {tuple(self.T_world_cam.shape)}, expected [4, 4]"
            )
        if not bool(torch.isfinite(self.T_world_cam).all()):
            raise FrameError(f"{where}: pose has non-finite entries (NaN or inf)")
        rotation = self.T_world_cam[:3, :3].double()
        if float((rotation @ rotation.T - torch.eye(3, dtype=torch.float64)).abs().max()) > 1e-3:
            raise FrameError(f"{where}: pose rotation is not orthonormal")
        for name in ("depth", "mask"):
            value = getattr(self, name)
            if value is not None and tuple(value.shape) != (h, w):
                raise FrameError(f"{where}: {name} has shape {tuple(value.shape)}, expected ({h}, {w})")
