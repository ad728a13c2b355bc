"""Camera poses from TF at the image stamp, without blocking a callback (``pose_source: tf``).

An image often arrives before the transform for its stamp (the camera driver and the TF broadcaster are
separate publishers). tf2_ros answers that by blocking the callback until a timeout; here an image's stamp
waits in :class:`PendingPoses` instead, and every new /tf message (and every new image) retries the waiting
stamps — never "the latest transform". A stamp that still has no transform ``timeout_s`` after its image
arrived is dropped with the lookup's reason.

The transforms live in a buffer with ``add_message(msg, static)`` and
``lookup(target, source, stamp_ns) -> T_target_source [4, 4]``: :class:`~gs_perception.ros.tf_buffer.TfBuffer`
(pure Python; what a pip install of ROS 2 has) or, where tf2_ros imports (a distro install),
:class:`Tf2RosBuffer` over ``tf2_ros.Buffer``. ROS-free except for that adapter, which imports lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tf_buffer import ConnectivityError, ExtrapolationError, TfBuffer, TfError, UnknownFrameError


@dataclass
class PendingPoses:
    """Image stamps waiting for their camera pose from TF.

    Args:
        world_frame: Target frame of the lookups (the memory's fixed frame).
        timeout_s: How long (wall time since the image arrived) a stamp may wait.
        max_pending: At most this many stamps wait; the oldest is dropped beyond it.
    """

    world_frame: str
    timeout_s: float
    max_pending: int = 32
    _waiting: dict[int, tuple[str, float]] = field(default_factory=dict)

    def add(self, stamp_ns: int, frame_id: str, now_s: float) -> list[tuple[int, str]]:
        """Queue an image stamp (camera ``frame_id``, arrival ``now_s``); returns stamps dropped for room."""
        self._waiting[stamp_ns] = (frame_id, now_s)
        dropped = []
        while len(self._waiting) > self.max_pending:
            oldest = min(self._waiting)
            del self._waiting[oldest]
            dropped.append((oldest, "too many images waiting for their TF"))
        return dropped

    def resolve(
        self, buffer: Any, now_s: float
    ) -> tuple[list[tuple[int, np.ndarray]], list[tuple[int, str]]]:
        """Try every waiting stamp against ``buffer``.

        Returns:
            ``(poses, dropped)``: ``(stamp_ns, T_world_cam [4, 4])`` for stamps now resolved, and
            ``(stamp_ns, reason)`` for stamps given up (timed out, or a frame TF does not know).
        """
        poses, dropped = [], []
        for stamp in sorted(self._waiting):
            frame_id, arrived = self._waiting[stamp]
            try:
                poses.append((stamp, buffer.lookup(self.world_frame, frame_id, stamp)))
            except TfError as err:
                if now_s - arrived < self.timeout_s:
                    continue  # the transform may still come
                dropped.append((stamp, f"no transform {self.world_frame} → {frame_id}: {err}"))
            del self._waiting[stamp]
        return poses, dropped

    def __len__(self) -> int:
        return len(self._waiting)


class Tf2RosBuffer:
    """The ``TfBuffer`` interface over ``tf2_ros.Buffer`` (a distro install), fed by our /tf subscriptions.

    Args:
        cache_time_s: History kept per transform.
    """

    def __init__(self, cache_time_s: float = 10.0) -> None:
        import tf2_ros
        from rclpy.duration import Duration

        self._tf2 = tf2_ros
        self.buffer = tf2_ros.Buffer(cache_time=Duration(seconds=cache_time_s))

    def add_message(self, msg: Any, static: bool = False) -> int:
        """Add a TFMessage's transforms; returns how many."""
        setter = self.buffer.set_transform_static if static else self.buffer.set_transform
        for transform in msg.transforms:
            setter(transform, "gs_perception")
        return len(msg.transforms)

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int) -> np.ndarray:
        """``T_target_source`` [4, 4] at the stamp; tf2's exceptions become this package's TfError kinds."""
        from rclpy.time import Time

        from .sensor_conversions import transform_to_matrix

        kinds = (
            (self._tf2.ExtrapolationException, ExtrapolationError),
            (self._tf2.ConnectivityException, ConnectivityError),
            (self._tf2.LookupException, UnknownFrameError),
            (self._tf2.TransformException, TfError),
        )
        try:
            tf = self.buffer.lookup_transform(target_frame, source_frame, Time(nanoseconds=stamp_ns))
        except self._tf2.TransformException as err:
            raise next(ours for theirs, ours in kinds if isinstance(err, theirs))(str(err)) from err
        return transform_to_matrix(tf.transform, f"TF {target_frame} → {source_frame}")


def make_tf_buffer(cache_time_s: float = 10.0) -> Any:
    """tf2_ros's buffer where tf2_ros imports (a distro install), else this package's :class:`TfBuffer`."""
    try:
        return Tf2RosBuffer(cache_time_s)
    except ImportError:
        return TfBuffer(cache_time_s)
