"""TfBuffer (the tf2_ros stand-in) against hand-made matrix products, scipy's Slerp and rosbags messages."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from gs_perception.ros.sensor_conversions import matrix_to_transform_stamped, ns_to_stamp, tf_message
from gs_perception.ros.tf_buffer import (
    ConnectivityError,
    ExtrapolationError,
    TfBuffer,
    TfError,
    UnknownFrameError,
)
from gs_perception.ros.typestore import MessageTypes

TYPES = MessageTypes.from_typestore()
SEC = 1_000_000_000
T0 = 1_700_000_000 * SEC  # a realistic epoch stamp, so nanosecond arithmetic is exercised at full size


def rigid(rotvec, translation) -> np.ndarray:
    """[4, 4] from a rotation vector (radians) and a translation."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rotvec).as_matrix()
    T[:3, 3] = translation
    return T


def random_rigid(rng: np.random.Generator) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.random(random_state=rng).as_matrix()
    T[:3, 3] = rng.normal(size=3)
    return T


def interpolated(T0_: np.ndarray, T1_: np.ndarray, t: float) -> np.ndarray:
    """The obvious twin: scipy Slerp for the rotation, linear interpolation for the translation."""
    slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([T0_[:3, :3], T1_[:3, :3]])))
    T = np.eye(4)
    T[:3, :3] = slerp([t]).as_matrix()[0]
    T[:3, 3] = (1 - t) * T0_[:3, 3] + t * T1_[:3, 3]
    return T


def inv(T: np.ndarray) -> np.ndarray:
    return np.linalg.inv(T)


# -- chains -------------------------------------------------------------------------------------------------
def test_chain_lookup_is_the_product_of_the_links():
    T_wb, T_bc = rigid([0.1, -0.4, 1.2], [3.0, -1.0, 0.5]), rigid([-1.5, 0.2, 0.3], [0.2, 0.0, 0.9])
    buf = TfBuffer()
    buf.set_transform("world", "base", T0, T_wb)
    buf.set_transform("base", "camera", T0, T_bc)

    T_wc = buf.lookup("world", "camera", T0)
    np.testing.assert_allclose(T_wc, T_wb @ T_bc, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("camera", "world", T0), inv(T_wb @ T_bc), atol=1e-12)
    np.testing.assert_allclose(buf.lookup("base", "camera", T0), T_bc, atol=1e-12)
    # It maps points in the source frame into the target frame: the camera origin lands at T_wc's translation.
    p_cam = np.array([0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose((T_wc @ p_cam)[:3], (T_wb @ T_bc)[:3, 3], atol=1e-12)
    assert T_wc.dtype == np.float64 and T_wc.shape == (4, 4)
    assert buf.frames() == ["base", "camera", "world"]


def test_lookup_between_leaves_goes_through_the_common_ancestor():
    rng = np.random.default_rng(1)
    T_wb, T_ba, T_ag, T_bc, T_wt = (random_rigid(rng) for _ in range(5))
    buf = TfBuffer()
    for parent, child, T in [
        ("world", "base", T_wb),
        ("base", "arm", T_ba),
        ("arm", "gripper", T_ag),
        ("base", "camera", T_bc),
        ("world", "tag", T_wt),
    ]:
        buf.set_transform(parent, child, T0, T)

    np.testing.assert_allclose(buf.lookup("camera", "gripper", T0), inv(T_bc) @ T_ba @ T_ag, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("gripper", "camera", T0), inv(T_ba @ T_ag) @ T_bc, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("tag", "camera", T0), inv(T_wt) @ T_wb @ T_bc, atol=1e-12)
    # One frame the ancestor of the other: only the links in between count.
    np.testing.assert_allclose(buf.lookup("arm", "world", T0), inv(T_wb @ T_ba), atol=1e-12)


def test_lookup_one_way_times_the_other_way_is_identity():
    rng = np.random.default_rng(2)
    buf = TfBuffer()
    links = [("world", "odom"), ("odom", "base"), ("base", "camera"), ("base", "lidar"), ("world", "map2")]
    for parent, child in links:
        for k in range(3):
            buf.set_transform(parent, child, T0 + k * SEC, random_rigid(rng))
    stamp = T0 + 1_234_567_891
    frames = buf.frames()
    for a in frames:
        for b in frames:
            product = buf.lookup(a, b, stamp) @ buf.lookup(b, a, stamp)
            np.testing.assert_allclose(product, np.eye(4), atol=1e-12)
    np.testing.assert_array_equal(buf.lookup("camera", "camera", stamp), np.eye(4))


# -- time ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_interpolation_matches_scipy_slerp_and_linear_translation(seed):
    rng = np.random.default_rng(seed)
    T_a, T_b = random_rigid(rng), random_rigid(rng)
    s0, s1 = T0, T0 + 3 * SEC + 17
    buf = TfBuffer()
    buf.set_transform("odom", "base", s0, T_a)
    buf.set_transform("odom", "base", s1, T_b)
    for stamp in (s0 + 1, s0 + 1_000_000_003, (s0 + s1) // 2, s1 - 1):
        t = (stamp - s0) / (s1 - s0)
        np.testing.assert_allclose(buf.lookup("odom", "base", stamp), interpolated(T_a, T_b, t), atol=1e-9)
        np.testing.assert_allclose(
            buf.lookup("base", "odom", stamp), inv(interpolated(T_a, T_b, t)), atol=1e-9
        )


def test_slerp_takes_the_shorter_arc():
    # +170 and -170 degrees about z are 20 degrees apart through 180, not 340 degrees through 0.
    T_a, T_b = rigid([0, 0, np.radians(170)], [0, 0, 0]), rigid([0, 0, np.radians(-170)], [2, 0, 0])
    buf = TfBuffer()
    buf.set_transform("odom", "base", T0, T_a)
    buf.set_transform("odom", "base", T0 + 2 * SEC, T_b)
    mid = buf.lookup("odom", "base", T0 + SEC)
    np.testing.assert_allclose(mid, rigid([0, 0, np.pi], [1, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(mid, interpolated(T_a, T_b, 0.5), atol=1e-9)


def test_exact_stamps_return_the_samples():
    rng = np.random.default_rng(3)
    samples = {T0 + k * 100_000_000: random_rigid(rng) for k in range(4)}
    buf = TfBuffer()
    for stamp, T in samples.items():
        buf.set_transform("odom", "base", stamp, T)
    for stamp, T in samples.items():
        np.testing.assert_allclose(buf.lookup("odom", "base", stamp), T, rtol=0, atol=1e-15)


def test_static_transforms_hold_at_any_stamp_and_combine_with_dynamic_ones():
    rng = np.random.default_rng(4)
    T_bc, T_w0, T_w1 = random_rigid(rng), random_rigid(rng), random_rigid(rng)
    buf = TfBuffer()
    buf.set_transform("base", "camera", 5, T_bc, static=True)
    for stamp in (1, 5, T0, 2**62):
        np.testing.assert_allclose(buf.lookup("base", "camera", stamp), T_bc, atol=1e-15)

    buf.set_transform("world", "base", T0, T_w0)
    buf.set_transform("world", "base", T0 + SEC, T_w1)
    expected = interpolated(T_w0, T_w1, 0.25) @ T_bc
    np.testing.assert_allclose(buf.lookup("world", "camera", T0 + SEC // 4), expected, atol=1e-9)
    # The dynamic link still bounds the chain's time range.
    with pytest.raises(ExtrapolationError):
        buf.lookup("world", "camera", T0 - 1)

    T_bc_new = random_rigid(rng)
    buf.set_transform("base", "camera", 0, T_bc_new, static=True)  # a new static replaces the old one
    np.testing.assert_allclose(buf.lookup("base", "camera", 7), T_bc_new, atol=1e-15)


def test_extrapolation_is_an_error_naming_the_link_and_its_range():
    buf = TfBuffer()
    buf.set_transform("odom", "base", T0 + 1000, np.eye(4))
    buf.set_transform("odom", "base", T0 + 2000, rigid([0, 0, 0], [1, 0, 0]))
    buf.set_transform("base", "camera", 0, np.eye(4), static=True)
    for stamp in (T0 + 999, T0 + 2001):
        with pytest.raises(ExtrapolationError) as info:
            buf.lookup("odom", "camera", stamp)
        message = str(info.value)
        assert f"[{T0 + 1000}, {T0 + 2000}]" in message
        assert "'odom'" in message and "'base'" in message and "'camera'" in message
        assert str(stamp) in message
        assert not buf.can_transform("odom", "camera", stamp)
    # The ends themselves are in range.
    assert buf.can_transform("odom", "camera", T0 + 1000) and buf.can_transform("odom", "camera", T0 + 2000)
    np.testing.assert_allclose(buf.lookup("odom", "camera", T0 + 1500)[:3, 3], [0.5, 0, 0], atol=1e-15)


def test_unknown_and_disconnected_frames():
    buf = TfBuffer()
    buf.set_transform("world", "base", T0, np.eye(4))
    buf.set_transform("map", "robot2", T0, np.eye(4))
    with pytest.raises(UnknownFrameError) as info:
        buf.lookup("world", "nowhere", T0)
    assert "'nowhere'" in str(info.value) and str(T0) in str(info.value)
    with pytest.raises(ConnectivityError) as info:
        buf.lookup("base", "robot2", T0)
    assert "'base'" in str(info.value) and "'robot2'" in str(info.value) and str(T0) in str(info.value)
    assert not buf.can_transform("world", "nowhere", T0) and not buf.can_transform("base", "robot2", T0)
    for error in (TfError, UnknownFrameError, ConnectivityError, ExtrapolationError):
        assert issubclass(error, ValueError)


def test_stamp_zero_is_the_latest_common_time():
    rng = np.random.default_rng(5)
    buf = TfBuffer()
    for k in range(5):  # world→base: T0 … T0 + 4 s
        buf.set_transform("world", "base", T0 + k * SEC, random_rigid(rng))
    for k in range(3):  # base→camera: T0 + 0.5 s … T0 + 2.5 s, which ends first
        buf.set_transform("base", "camera", T0 + SEC // 2 + k * SEC, random_rigid(rng))
    buf.set_transform("camera", "optical", 0, random_rigid(rng), static=True)

    latest_common = T0 + SEC // 2 + 2 * SEC
    np.testing.assert_allclose(
        buf.lookup("world", "optical", 0), buf.lookup("world", "optical", latest_common), atol=1e-15
    )
    np.testing.assert_allclose(buf.lookup("world", "base", 0), buf.lookup("world", "base", T0 + 4 * SEC))
    assert buf.can_transform("world", "optical", 0)
    assert not buf.can_transform("world", "optical", latest_common + 1)
    # An all-static path is valid at stamp 0 too.
    np.testing.assert_allclose(
        buf.lookup("camera", "optical", 0), buf.lookup("camera", "optical", 12345), atol=1e-15
    )


def test_out_of_order_inserts_are_sorted_and_a_repeated_stamp_replaces():
    rng = np.random.default_rng(6)
    T_100, T_200, T_300, T_200b = (random_rigid(rng) for _ in range(4))
    buf = TfBuffer()
    buf.set_transform("odom", "base", T0 + 300, T_300)
    buf.set_transform("odom", "base", T0 + 100, T_100)
    buf.set_transform("odom", "base", T0 + 200, T_200)
    np.testing.assert_allclose(
        buf.lookup("odom", "base", T0 + 150), interpolated(T_100, T_200, 0.5), atol=1e-9
    )
    np.testing.assert_allclose(
        buf.lookup("odom", "base", T0 + 275), interpolated(T_200, T_300, 0.75), atol=1e-9
    )

    buf.set_transform("odom", "base", T0 + 200, T_200b)
    np.testing.assert_allclose(buf.lookup("odom", "base", T0 + 200), T_200b, atol=1e-15)
    np.testing.assert_allclose(
        buf.lookup("odom", "base", T0 + 150), interpolated(T_100, T_200b, 0.5), atol=1e-9
    )


def test_samples_older_than_the_cache_time_are_pruned():
    buf = TfBuffer(cache_time_s=1.0)
    for k in range(3):  # T0, T0 + 0.5 s, T0 + 1 s: all within 1 s of the newest
        buf.set_transform("odom", "base", T0 + k * SEC // 2, rigid([0, 0, 0], [k, 0, 0]))
    np.testing.assert_allclose(buf.lookup("odom", "base", T0 + SEC // 4)[:3, 3], [0.5, 0, 0], atol=1e-12)

    buf.set_transform("odom", "base", T0 + 3 * SEC // 2, rigid([0, 0, 0], [3, 0, 0]))  # drops T0 only
    with pytest.raises(ExtrapolationError, match=rf"\[{T0 + SEC // 2}, {T0 + 3 * SEC // 2}\]"):
        buf.lookup("odom", "base", T0 + SEC // 4)
    np.testing.assert_allclose(buf.lookup("odom", "base", T0 + SEC // 2)[:3, 3], [1, 0, 0], atol=1e-15)

    # A late sample older than the cache window is dropped at once, not kept.
    buf.set_transform("odom", "base", T0 - SEC, np.eye(4))
    assert not buf.can_transform("odom", "base", T0)


# -- input checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "T",
    [
        np.full((4, 4), np.nan),
        np.diag([2.0, 1.0, 1.0, 1.0]),  # scaled
        np.diag([-1.0, 1.0, 1.0, 1.0]),  # a reflection
        np.eye(3),
        np.vstack([np.eye(4)[:3], [0.0, 0.0, 1.0, 1.0]]),  # projective last row
    ],
)
def test_set_transform_rejects_non_rigid_input(T):
    buf = TfBuffer()
    with pytest.raises(TfError, match="'odom'→'base'"):
        buf.set_transform("odom", "base", T0, T)
    assert buf.frames() == []


def test_set_transform_rejects_bad_frames_and_loops():
    buf = TfBuffer()
    for parent, child in [("", "base"), ("odom", ""), ("base", "base"), ("/base", "base")]:
        with pytest.raises(ValueError, match="frame ids"):
            buf.set_transform(parent, child, T0, np.eye(4))
    buf.set_transform("world", "odom", T0, np.eye(4))
    buf.set_transform("odom", "base", T0, np.eye(4))
    with pytest.raises(TfError, match="loop"):
        buf.set_transform("base", "world", T0, np.eye(4))
    with pytest.raises(ValueError):
        TfBuffer(cache_time_s=0.0)


def test_a_new_parent_replaces_the_old_one():
    rng = np.random.default_rng(7)
    T_oc, T_bc = random_rigid(rng), random_rigid(rng)
    buf = TfBuffer()
    buf.set_transform("world", "odom", T0, np.eye(4), static=True)
    buf.set_transform("world", "base", T0, rigid([0, 0, 0], [0, 5, 0]), static=True)
    buf.set_transform("odom", "camera", T0, T_oc)
    buf.set_transform("base", "camera", T0 + SEC, T_bc)  # re-parented: the odom link and its sample are gone
    np.testing.assert_allclose(buf.lookup("base", "camera", T0 + SEC), T_bc, atol=1e-15)
    assert not buf.can_transform("base", "camera", T0)  # the old sample went with the old parent
    np.testing.assert_allclose(
        buf.lookup("odom", "camera", T0 + SEC), rigid([0, 0, 0], [0, 5, 0]) @ T_bc, atol=1e-12
    )


# -- messages -----------------------------------------------------------------------------------------------
def test_add_message_round_trip_with_rosbags_messages():
    rng = np.random.default_rng(8)
    T_wb, T_bc, T_bc2 = random_rigid(rng), random_rigid(rng), random_rigid(rng)
    buf = TfBuffer()
    static = tf_message(TYPES, [matrix_to_transform_stamped(TYPES, T_bc, 0, "base", "camera")])
    assert buf.add_message(static, static=True) == 1 and buf.last_errors == []
    dynamic = tf_message(
        TYPES,
        [
            matrix_to_transform_stamped(TYPES, T_wb, T0 + 123, "world", "base"),
            matrix_to_transform_stamped(TYPES, T_bc2, T0 + 123, "base", "camera2"),
        ],
    )
    assert buf.add_message(dynamic) == 2 and buf.last_errors == []
    np.testing.assert_allclose(buf.lookup("world", "camera", T0 + 123), T_wb @ T_bc, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("camera", "camera2", T0 + 123), inv(T_bc) @ T_bc2, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("world", "camera", 0), T_wb @ T_bc, atol=1e-12)


def test_add_message_strips_leading_slashes():
    T = rigid([0.3, 0.2, 0.1], [1, 2, 3])
    buf = TfBuffer()
    buf.add_message(tf_message(TYPES, [matrix_to_transform_stamped(TYPES, T, T0, "/map", "/base_link")]))
    assert buf.frames() == ["base_link", "map"]
    np.testing.assert_allclose(buf.lookup("map", "base_link", T0), T, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("/map", "/base_link", T0), T, atol=1e-12)


def test_add_message_skips_bad_transforms_and_keeps_the_good_ones():
    T = rigid([0.0, 0.5, 0.0], [1, 0, 0])
    good_a = matrix_to_transform_stamped(TYPES, T, T0, "world", "a")
    good_b = matrix_to_transform_stamped(TYPES, T, T0, "a", "b")
    nan = TYPES.TransformStamped(
        header=TYPES.Header(stamp=ns_to_stamp(TYPES, T0), frame_id="world"),
        child_frame_id="broken",
        transform=TYPES.Transform(
            translation=TYPES.Vector3(x=float("nan"), y=0.0, z=0.0),
            rotation=TYPES.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
        ),
    )
    buf = TfBuffer()
    assert buf.add_message(tf_message(TYPES, [good_a, nan, good_b])) == 2
    assert len(buf.last_errors) == 1
    assert "'world'→'broken'" in buf.last_errors[0] and "nan" in buf.last_errors[0]
    assert "broken" not in buf.frames()
    np.testing.assert_allclose(buf.lookup("world", "b", T0), T @ T, atol=1e-12)
    # last_errors describes the last call only.
    assert buf.add_message(tf_message(TYPES, [good_a])) == 1 and buf.last_errors == []


# -- threads and imports ------------------------------------------------------------------------------------
def test_concurrent_writes_and_lookups_see_consistent_samples():
    # Every sample translates by (k, k, k) at stamp k s, so any valid lookup has equal x, y, z components.
    buf = TfBuffer(cache_time_s=1000.0)
    buf.set_transform("odom", "base", T0, np.eye(4))
    failures: list[str] = []

    def write() -> None:
        for k in range(1, 400):
            buf.set_transform("odom", "base", T0 + k * SEC, rigid([0, 0, 0], [k, k, k]))

    writer = threading.Thread(target=write)
    writer.start()
    lookups = 0
    while writer.is_alive() or lookups == 0:
        t = buf.lookup("odom", "base", 0)[:3, 3]
        lookups += 1
        if not np.allclose(t, t[0]):
            failures.append(str(t))
    writer.join()
    assert failures == []
    np.testing.assert_allclose(buf.lookup("odom", "base", 0)[:3, 3], [399, 399, 399])


def test_module_imports_no_ros_package():
    code = "import json, sys\nimport gs_perception.ros.tf_buffer\nprint(json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    ros = ("rclpy", "tf2_ros", "tf2_py", "tf2_msgs", "geometry_msgs", "std_msgs", "builtin_interfaces")
    assert [m for m in modules if m.split(".")[0] in ros] == []
