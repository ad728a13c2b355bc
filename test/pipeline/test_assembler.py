"""FrameAssembler: images, camera info, depth and poses matched by stamp into Frames."""

from __future__ import annotations

import numpy as np
import pytest

from gs_perception.core.cameras import Intrinsics
from gs_perception.pipeline.assembler import AssemblerConfig, FrameAssembler

INTR = Intrinsics(20.0, 20.0, 8.0, 6.0, 16, 12)
MS = 1_000_000


def pose(x: float = 0.0) -> np.ndarray:
    T = np.eye(4, dtype=np.float32)
    T[0, 3] = x
    return T


def image(value: float = 0.5) -> np.ndarray:
    return np.full((12, 16, 3), value, np.float32)


def test_image_waits_for_its_pose_then_becomes_a_frame():
    a = FrameAssembler(AssemblerConfig(use_depth=False))
    a.add_camera_info(INTR)
    assert a.add_image(100 * MS, "cam", image(0.25)) == []
    frames = a.add_pose(101 * MS, pose(2.0))  # within the 20 ms tolerance
    assert len(frames) == 1
    f = frames[0]
    assert f.stamp_ns == 100 * MS and f.frame_id == "cam" and f.depth is None
    assert float(f.T_world_cam[0, 3]) == 2.0 and float(f.rgb.mean()) == pytest.approx(0.25)


def test_pose_outside_the_tolerance_does_not_match_and_nearest_pose_wins():
    a = FrameAssembler(AssemblerConfig(use_depth=False, pose_tolerance_s=0.005))
    a.add_camera_info(INTR)
    a.add_pose(90 * MS, pose(1.0))
    assert a.add_image(100 * MS, "cam", image()) == []  # 10 ms away: not this image's pose
    frames = a.add_pose(103 * MS, pose(3.0))
    assert [float(f.T_world_cam[0, 3]) for f in frames] == [3.0]
    assert a.pose_at(98 * MS)[0, 3] == 3.0 and a.pose_at(91 * MS)[0, 3] == 1.0


def test_depth_is_awaited_once_a_depth_stream_exists():
    a = FrameAssembler()
    a.add_camera_info(INTR)
    a.add_depth(50 * MS, np.ones((12, 16), np.float32))
    a.add_pose(50 * MS, pose())
    assert len(a.add_image(50 * MS, "cam", image())) == 1
    a.add_pose(60 * MS, pose())
    assert a.add_image(60 * MS, "cam", image()) == []  # depth for 60 ms not there yet
    frames = a.add_depth(60 * MS, np.full((12, 16), 2.0, np.float32))
    assert len(frames) == 1 and float(frames[0].depth.mean()) == 2.0


def test_bad_inputs_are_dropped_with_a_reason_never_raised():
    a = FrameAssembler(AssemblerConfig(use_depth=False, max_pending=2))
    for stamp in (1, 2, 3):
        assert a.add_image(stamp, "cam", image()) == []
    assert "camera_info" in a.take_dropped()[0].reason  # the oldest, beyond max_pending
    a.add_camera_info(INTR)
    a._pending.clear()
    bad = pose()
    bad[0, 0] = np.nan
    assert a.add_pose(5, bad) == []
    assert "non-finite" in a.take_dropped()[0].reason
    for stamp in (10, 20, 30):
        a.add_image(stamp * MS, "cam", image())
    assert [d.stamp_ns for d in a.take_dropped()] == [10 * MS]  # beyond max_pending: oldest dropped
    wrong = image()[:, :8]  # size does not match camera_info
    a.add_pose(40 * MS, pose())
    assert a.add_image(40 * MS, "cam", wrong) == []
    reasons = [d.reason for d in a.take_dropped()]
    assert any("intrinsics" in r for r in reasons), reasons


def test_an_older_incomplete_image_is_skipped_when_a_newer_one_completes():
    a = FrameAssembler(AssemblerConfig(use_depth=False))
    a.add_camera_info(INTR)
    a.add_image(10 * MS, "cam", image())
    a.add_image(100 * MS, "cam", image())
    frames = a.add_pose(100 * MS, pose())
    assert [f.stamp_ns for f in frames] == [100 * MS]
    assert [d.stamp_ns for d in a.take_dropped()] == [10 * MS]


def test_an_image_before_its_camera_info_waits_for_it():
    a = FrameAssembler(AssemblerConfig(use_depth=False))
    assert a.add_image(7 * MS, "cam", image()) == []
    assert a.add_pose(7 * MS, pose()) == []
    frames = a.add_camera_info(INTR)
    assert [f.stamp_ns for f in frames] == [7 * MS] and a.take_dropped() == []


def test_an_image_at_or_before_the_last_frame_is_dropped_as_out_of_order_until_restart():
    a = FrameAssembler(AssemblerConfig(use_depth=False))
    a.add_camera_info(INTR)
    a.add_pose(100 * MS, pose())
    a.add_pose(50 * MS, pose())
    assert len(a.add_image(100 * MS, "cam", image())) == 1
    assert a.add_image(50 * MS, "cam", image()) == []  # its pose exists, but the memory never goes back
    assert a.add_image(100 * MS, "cam", image()) == []  # the same stamp twice
    reasons = [d.reason for d in a.take_dropped()]
    assert reasons == [
        "out of order: 0.050 s before the last frame",
        "out of order: 0.000 s before the last frame",
    ]
    a.restart()  # after reset_memory (e.g. a restarted bag), old stamps are welcome again
    assert len(a.add_image(50 * MS, "cam", image())) == 1
