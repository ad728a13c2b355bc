"""A small TF buffer for ``pose_source=tf`` where ``tf2_ros`` is missing (ROS 2 installed from PyPI).

The perception node feeds it the ``tf2_msgs/TFMessage`` traffic of ``/tf`` and ``/tf_static`` and looks up
camera poses at image stamps. With a distro ROS install (``/opt/ros/<distro>``) the node uses ``tf2_ros``
instead; this module only covers the subset the node needs, with tf2's semantics:

- Frames form a tree: each child has one parent. If a child is later published with a different parent,
  the most recently received parent wins and the old link's samples are dropped (tf2 mixes both by time,
  which only makes sense for a tree that never changes shape). A link that would close a loop is rejected.
- ``lookup(target, source, t)`` returns ``T_target_source`` [4, 4]: it maps points in ``source`` into
  ``target``, like ``tf2_ros.Buffer.lookup_transform(target, source, t)``. A link set with
  ``set_transform(parent, child, ...)`` holds ``T_parent_child``, as a ``TransformStamped`` with
  ``header.frame_id = parent`` and ``child_frame_id = child``.
- Stamps are integer nanoseconds; stamp 0 in a lookup means "the latest time the whole chain has data"
  (tf2's ``Time(0)``). Dynamic links are interpolated (translation linearly, rotation by slerp) and never
  extrapolated; static links hold at every time.
- Quaternions are xyzw in ROS messages but **wxyz** inside this module (scalar first, as in the core).

Nothing here imports rclpy or tf2: only numpy and the message-agnostic helpers of ``sensor_conversions``.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .sensor_conversions import matrix_to_quat_xyzw, quat_xyzw_to_matrix, stamp_to_ns, transform_to_matrix

_RIGID_TOL = 1e-5
"""Largest accepted deviation of R Rᵀ from I (and of the last row from [0, 0, 0, 1]); float32 input passes."""


class TfError(ValueError):
    """A transform that cannot be stored or looked up; the message names the frames and the stamp."""


class UnknownFrameError(TfError):
    """A frame that no transform has mentioned (as parent or child)."""


class ConnectivityError(TfError):
    """Both frames are known but lie in different trees."""


class ExtrapolationError(TfError):
    """The stamp lies outside a dynamic link's buffered range; the message gives that range in ns."""


def _frame_id(frame: str) -> str:
    # tf2 strips the leading '/' of ROS 1 style ids, so "/base" and "base" name the same frame.
    return str(frame).lstrip("/")


def _quat_wxyz(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation. [3, 3] → [4]."""
    return np.roll(matrix_to_quat_xyzw(R), 1)


def _slerp_wxyz(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (wxyz) along the shorter arc. [4], [4], t → [4]."""
    dot = float(q0 @ q1)
    if dot < 0.0:  # q and -q are the same rotation; flipping one picks the arc of at most 180 degrees
        q1, dot = -q1, -dot
    # atan2 of (sin, cos) keeps the angle accurate for nearly equal rotations, where arccos(dot) is not.
    half_angle = float(np.arctan2(np.linalg.norm(q1 - dot * q0), dot))
    if half_angle < 1e-12:
        q = (1.0 - t) * q0 + t * q1
    else:
        sin_total = np.sin(half_angle)
        q = (np.sin((1.0 - t) * half_angle) * q0 + np.sin(t * half_angle) * q1) / sin_total
    return q / np.linalg.norm(q)


def _inverse_rigid(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform without a general matrix inverse. [4, 4] → [4, 4]."""
    inv = np.eye(4)
    inv[:3, :3] = T[:3, :3].T
    inv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inv


@dataclass
class _Link:
    """``T_parent_child`` over time: one sample for a static link, a sorted time series for a dynamic one."""

    parent: str
    child: str
    static: bool
    stamps: list[int] = field(default_factory=list)  # ascending, unique
    matrices: list[np.ndarray] = field(default_factory=list)  # [4, 4] each, as given
    quats: list[np.ndarray] = field(default_factory=list)  # [4] each, wxyz, for slerp

    def insert(self, stamp_ns: int, T: np.ndarray, cache_ns: int) -> None:
        """Add a sample in stamp order (a repeated stamp replaces), then drop those older than the cache."""
        if self.static:
            self.stamps, self.matrices, self.quats = [stamp_ns], [T], [_quat_wxyz(T[:3, :3])]
            return
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if i < len(self.stamps) and self.stamps[i] == stamp_ns:
            self.matrices[i], self.quats[i] = T, _quat_wxyz(T[:3, :3])
        else:
            self.stamps.insert(i, stamp_ns)
            self.matrices.insert(i, T)
            self.quats.insert(i, _quat_wxyz(T[:3, :3]))
        keep_from = bisect.bisect_left(self.stamps, self.stamps[-1] - cache_ns)
        del self.stamps[:keep_from], self.matrices[:keep_from], self.quats[:keep_from]

    def at(self, stamp_ns: int, where: str) -> np.ndarray:
        """``T_parent_child`` at a stamp. Returns [4, 4]; raises ExtrapolationError outside the samples."""
        if self.static:
            return self.matrices[0]
        first, last = self.stamps[0], self.stamps[-1]
        if not first <= stamp_ns <= last:
            side = "before" if stamp_ns < first else "after"
            raise ExtrapolationError(
                f"{where}: link {self.parent!r}→{self.child!r} has data for [{first}, {last}] ns and "
                f"{stamp_ns} ns is {side} it (no extrapolation)"
            )
        i = bisect.bisect_left(self.stamps, stamp_ns)
        if self.stamps[i] == stamp_ns:
            return self.matrices[i]
        s0, s1 = self.stamps[i - 1], self.stamps[i]
        t = (stamp_ns - s0) / (s1 - s0)  # exact int arithmetic before the one rounding of the division
        T = np.eye(4)
        T[:3, :3] = quat_xyzw_to_matrix(np.roll(_slerp_wxyz(self.quats[i - 1], self.quats[i], t), -1))
        T[:3, 3] = (1.0 - t) * self.matrices[i - 1][:3, 3] + t * self.matrices[i][:3, 3]
        return T


class TfBuffer:
    """Transforms from ``/tf`` and ``/tf_static`` by frame and time, safe to fill and query from two threads.

    Args:
        cache_time_s: How far back each dynamic link keeps samples, measured from its newest sample.

    Attributes:
        last_errors: Why transforms of the last :meth:`add_message` call were skipped (empty if none were).
    """

    def __init__(self, cache_time_s: float = 10.0) -> None:
        if not (np.isfinite(cache_time_s) and cache_time_s > 0):
            raise ValueError(f"cache_time_s must be a positive number of seconds, got {cache_time_s}")
        self.cache_time_s = float(cache_time_s)
        self._cache_ns = round(self.cache_time_s * 1e9)
        self._links: dict[str, _Link] = {}  # child frame → its link to its parent
        self._seen: set[str] = set()  # every frame named so far; roots appear only as parents
        self._lock = threading.Lock()  # ROS callbacks write while the image callback reads
        self.last_errors: list[str] = []

    def set_transform(
        self, parent: str, child: str, stamp_ns: int, T_parent_child: np.ndarray, static: bool = False
    ) -> None:
        """Store one transform.

        Args:
            parent, child: Frame ids (a leading '/' is dropped).
            stamp_ns: Stamp of the sample; ignored for static transforms, which hold at every time.
            T_parent_child: [4, 4] rigid transform mapping points in ``child`` into ``parent``.
            static: From ``/tf_static``: replaces any earlier transform of ``child``.

        Raises:
            TfError: Empty or equal frame ids, a link that would close a loop, or ``T_parent_child`` not a
                finite [4, 4] rigid transform; the message names ``parent→child`` and the stamp.
        """
        with self._lock:
            self._insert(_frame_id(parent), _frame_id(child), int(stamp_ns), T_parent_child, static)

    def add_message(self, msg: Any, static: bool = False) -> int:
        """Store every transform of a ``tf2_msgs/TFMessage``, skipping (and recording) the invalid ones.

        Args:
            msg: Object with ``.transforms``, a list of ``geometry_msgs/TransformStamped``.
            static: True for messages from ``/tf_static``.

        Returns:
            How many transforms were stored; the errors of the others are in :attr:`last_errors`.
        """
        errors: list[str] = []
        added = 0
        with self._lock:  # one lock for the whole message, so a lookup never sees half of it
            for ts in msg.transforms:
                parent, child = _frame_id(ts.header.frame_id), _frame_id(ts.child_frame_id)
                try:
                    stamp_ns = stamp_to_ns(ts.header.stamp)
                    T = transform_to_matrix(ts.transform, f"transform {parent!r}→{child!r} at {stamp_ns} ns")
                    self._insert(parent, child, stamp_ns, T, static)
                except ValueError as exc:  # ConversionError and TfError both derive from ValueError
                    errors.append(str(exc))
                else:
                    added += 1
        self.last_errors = errors
        return added

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int) -> np.ndarray:
        """``T_target_source`` at a stamp, like tf2's ``lookup_transform(target, source, time)``.

        Args:
            target_frame, source_frame: Frame ids (a leading '/' is dropped). Equal ids give the identity.
            stamp_ns: Time in ns; 0 means the latest time at which every link on the path has data.

        Returns:
            [4, 4] float64 mapping points in ``source_frame`` into ``target_frame`` (a new array).

        Raises:
            UnknownFrameError, ConnectivityError, ExtrapolationError: See the classes (all are TfError).
        """
        target, source, stamp_ns = _frame_id(target_frame), _frame_id(source_frame), int(stamp_ns)
        if target == source:
            return np.eye(4)
        when = "the latest common time (stamp 0)" if stamp_ns == 0 else f"{stamp_ns} ns"
        where = f"lookup {target!r} ← {source!r} at {when}"
        with self._lock:
            up_target, up_source = self._paths(target, source, where)
            if stamp_ns == 0:
                stamp_ns = self._latest_common(up_target + up_source)
            T_common_target = self._to_ancestor(up_target, stamp_ns, where)
            T_common_source = self._to_ancestor(up_source, stamp_ns, where)
        return _inverse_rigid(T_common_target) @ T_common_source

    def can_transform(self, target_frame: str, source_frame: str, stamp_ns: int) -> bool:
        """Whether :meth:`lookup` with the same arguments would succeed."""
        try:
            self.lookup(target_frame, source_frame, stamp_ns)
        except TfError:
            return False
        return True

    def frames(self) -> list[str]:
        """Every frame named so far (parents and children), sorted."""
        with self._lock:
            return sorted(self._seen)

    # -- internals; callers hold self._lock ----------------------------------------------------------------
    def _insert(self, parent: str, child: str, stamp_ns: int, T: Any, static: bool) -> None:
        name = f"transform {parent!r}→{child!r} at {stamp_ns} ns"
        if not parent or not child or parent == child:
            raise TfError(f"{name}: parent and child must be different, non-empty frame ids")
        T = np.array(T, dtype=np.float64)  # a copy: the caller may reuse its array
        if T.shape != (4, 4) or not np.isfinite(T).all():
            raise TfError(f"{name}: needs a finite [4, 4] matrix, got shape {list(T.shape)}")
        R = T[:3, :3]
        off_rigid = max(np.abs(R @ R.T - np.eye(3)).max(), np.abs(T[3] - [0.0, 0.0, 0.0, 1.0]).max())
        if off_rigid > _RIGID_TOL or np.linalg.det(R) <= 0:
            raise TfError(f"{name}: not rigid (needs an orthonormal rotation, det +1, last row 0 0 0 1)")
        if child in self._chain(parent):
            raise TfError(f"{name}: {parent!r} is below {child!r} in the tree; this link would close a loop")
        link = self._links.get(child)
        if link is None or link.parent != parent or link.static != static:
            link = self._links[child] = _Link(parent, child, static)  # the newest parent (or kind) wins
        link.insert(stamp_ns, T, self._cache_ns)
        self._seen.update((parent, child))

    def _chain(self, frame: str) -> list[str]:
        """``frame`` and its ancestors up to the root, bottom up (finite: loops are rejected on insert)."""
        chain = [frame]
        while chain[-1] in self._links:
            chain.append(self._links[chain[-1]].parent)
        return chain

    def _paths(self, target: str, source: str, where: str) -> tuple[list[str], list[str]]:
        """The children whose links lead from ``target`` and from ``source`` up to their common ancestor."""
        for frame in (target, source):
            if frame not in self._seen:
                known = ", ".join(sorted(self._seen)) or "none yet"
                raise UnknownFrameError(f"{where}: frame {frame!r} does not exist (known frames: {known})")
        up_target, up_source = self._chain(target), self._chain(source)
        on_target_side = set(up_target)
        common = next((frame for frame in up_source if frame in on_target_side), None)
        if common is None:
            raise ConnectivityError(
                f"{where}: {target!r} (tree root {up_target[-1]!r}) and {source!r} "
                f"(tree root {up_source[-1]!r}) are not connected"
            )
        return up_target[: up_target.index(common)], up_source[: up_source.index(common)]

    def _latest_common(self, children: list[str]) -> int:
        # Any stamp is valid for an all-static path; 0 is as good as any.
        lasts = [self._links[c].stamps[-1] for c in children if not self._links[c].static]
        return min(lasts, default=0)

    def _to_ancestor(self, children: list[str], stamp_ns: int, where: str) -> np.ndarray:
        """``T_ancestor_frame`` [4, 4] by composing the links of ``children`` (bottom up) at a stamp."""
        T = np.eye(4)
        for child in children:
            T = self._links[child].at(stamp_ns, where) @ T
        return T
