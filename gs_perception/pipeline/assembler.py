"""Assemble posed frames from separately arriving images, camera info, depth and poses (node and replay).

Streams arrive in any order and at different rates. An image becomes a
:class:`~gs_perception.core.frames.Frame` once camera info has arrived and a pose at its stamp is known
(a pose stamped within ``pose_tolerance_s``, or, from TF, a lookup the caller did at the image stamp — never
"the latest pose") and, when depth is expected, the depth image with its stamp.
Images still waiting when a newer one is complete are dropped: a perception pipeline must not fall behind.

Everything is ROS-free: callers convert messages first (ros/frames.py, ros/sensor_conversions.py). Poses are
``T_world_cam`` (camera→world, OpenCV axes, metres); stamps are integer nanoseconds.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from ..core.cameras import Intrinsics
from ..core.frames import Frame, FrameError


@dataclass(frozen=True)
class AssemblerConfig:
    """How inputs are matched into frames."""

    pose_tolerance_s: float = 0.02
    """A pose counts for an image if their stamps differ by at most this (seconds)."""
    use_depth: bool = True
    """Wait for a depth image with the image's stamp (when a depth stream has been seen)."""
    max_pending: int = 8
    """Images waiting for their pose/depth; older ones are dropped beyond this."""
    pose_history: int = 200
    """Poses kept for matching."""


@dataclass
class Dropped:
    """An input the assembler could not use, and why (callers log it, throttled)."""

    stamp_ns: int
    reason: str


class FrameAssembler:
    """Matches images with camera info, poses and depth by stamp.

    Args:
        config: Matching settings.
    """

    def __init__(self, config: AssemblerConfig = AssemblerConfig()):
        self.config = config
        self.intrinsics: Intrinsics | None = None
        self._pose_stamps: list[int] = []
        self._poses: dict[int, np.ndarray] = {}
        self._depth: dict[int, np.ndarray] = {}
        self._pending: deque[tuple[int, str, np.ndarray]] = deque()
        self._seen_depth = False
        self._last_stamp: int | None = None  # of the last frame handed out
        self.dropped: list[Dropped] = []

    def add_camera_info(self, intrinsics: Intrinsics) -> list[Frame]:
        """The latest calibration (applies to waiting images too); returns frames it completes."""
        self.intrinsics = intrinsics
        return self._drain()

    def add_pose(self, stamp_ns: int, T_world_cam: np.ndarray) -> list[Frame]:
        """A camera pose [4, 4] (camera→world, OpenCV axes); returns frames it completes."""
        if not np.isfinite(T_world_cam).all():
            self.dropped.append(Dropped(stamp_ns, "pose has non-finite entries (NaN or inf)"))
            return []
        if stamp_ns not in self._poses:
            bisect.insort(self._pose_stamps, stamp_ns)
        self._poses[stamp_ns] = np.asarray(T_world_cam, dtype=np.float32)
        while len(self._pose_stamps) > self.config.pose_history:
            self._poses.pop(self._pose_stamps.pop(0))
        return self._drain()

    def add_depth(self, stamp_ns: int, depth: np.ndarray) -> list[Frame]:
        """A depth image [H, W] in metres (0 = none); returns frames it completes."""
        self._seen_depth = True
        self._depth[stamp_ns] = depth
        frames = self._drain()
        oldest = self._pending[0][0] if self._pending else stamp_ns
        for stamp in [s for s in self._depth if s < oldest]:
            del self._depth[stamp]  # no image can claim it any more
        return frames

    def add_image(self, stamp_ns: int, frame_id: str, rgb: np.ndarray) -> list[Frame]:
        """An RGB image [H, W, 3] float32 in [0, 1]; returns frames completed (possibly this one).

        An image stamped at or before the last frame handed out is dropped: the memory never goes back in
        time (after restarting a bag, reset the memory).
        """
        if self._last_stamp is not None and stamp_ns <= self._last_stamp:
            behind = (self._last_stamp - stamp_ns) / 1e9
            self.dropped.append(Dropped(stamp_ns, f"out of order: {behind:.3f} s before the last frame"))
            return []
        self._pending.append((stamp_ns, frame_id, rgb))
        while len(self._pending) > self.config.max_pending:
            stamp = self._pending.popleft()[0]
            missing = "camera_info" if self.intrinsics is None else "pose/depth"
            self.dropped.append(Dropped(stamp, f"no {missing} arrived in time"))
        return self._drain()

    def pose_at(self, stamp_ns: int) -> np.ndarray | None:
        """The stored pose nearest to ``stamp_ns`` within the tolerance, or None."""
        i = bisect.bisect_left(self._pose_stamps, stamp_ns)
        near = [s for s in self._pose_stamps[max(i - 1, 0) : i + 1]]
        if not near:
            return None
        best = min(near, key=lambda s: abs(s - stamp_ns))
        return self._poses[best] if abs(best - stamp_ns) <= self.config.pose_tolerance_s * 1e9 else None

    def _drain(self) -> list[Frame]:
        """Emit complete pending images in stamp order; older incomplete ones before a complete one drop."""
        out: list[Frame] = []
        complete = [k for k, item in enumerate(self._pending) if self._ready(item[0])]
        if not complete:
            return out
        last = complete[-1]
        for k in range(last + 1):
            stamp, frame_id, rgb = self._pending.popleft()
            if k not in complete:
                self.dropped.append(Dropped(stamp, "skipped: a newer frame was complete first"))
                continue
            frame = self._make(stamp, frame_id, rgb)
            if frame is not None:
                out.append(frame)
                self._last_stamp = stamp
        return out

    def _ready(self, stamp_ns: int) -> bool:
        if self.intrinsics is None or self.pose_at(stamp_ns) is None:
            return False
        return not (self.config.use_depth and self._seen_depth) or stamp_ns in self._depth

    def _make(self, stamp_ns: int, frame_id: str, rgb: np.ndarray) -> Frame | None:
        depth = self._depth.pop(stamp_ns, None) if self.config.use_depth else None
        try:
            return Frame(
                rgb=torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)),
                intrinsics=self.intrinsics,
                T_world_cam=torch.from_numpy(self.pose_at(stamp_ns).copy()),
                stamp_ns=stamp_ns,
                frame_id=frame_id,
                depth=None if depth is None else torch.from_numpy(np.ascontiguousarray(depth, np.float32)),
            )
        except FrameError as err:
            self.dropped.append(Dropped(stamp_ns, str(err)))
            return None

    def restart(self) -> None:
        """Accept any stamp again (after the memory was reset, e.g. because a bag was restarted)."""
        self._last_stamp = None

    def take_dropped(self) -> list[Dropped]:
        """The drops since the last call (for throttled warnings)."""
        dropped, self.dropped = self.dropped, []
        return dropped
