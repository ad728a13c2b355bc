"""ROS message ↔ numpy/torch conversions, checked with rosbags message classes (no ROS needed)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from gs_perception.core.cameras import Intrinsics, look_at
from gs_perception.core.frames import FrameError
from gs_perception.ros import sensor_conversions as sensors
from gs_perception.ros.frames import frame_from_messages
from gs_perception.ros.typestore import MessageTypes, make_typestore

TYPESTORE = make_typestore("humble")
TYPES = MessageTypes.from_typestore(TYPESTORE)
STAMP = 1_700_000_123_456_789_012
RNG = np.random.default_rng(0)


def cdr_round_trip(msg):
    """Serialise and deserialise with the typestore: proves the message is complete and well-typed."""
    data = TYPESTORE.serialize_cdr(msg, msg.__msgtype__)
    return TYPESTORE.deserialize_cdr(data, msg.__msgtype__)


def random_pixels(encoding: str, shape: tuple[int, int] = (12, 16)) -> np.ndarray:
    dtype, channels = sensors.IMAGE_ENCODINGS[encoding]
    full = shape + ((channels,) if channels > 1 else ())
    if dtype.kind == "f":
        return RNG.normal(size=full).astype(dtype)
    return RNG.integers(0, np.iinfo(dtype).max, size=full, endpoint=True).astype(dtype)


def padded_image(encoding: str, pixels: np.ndarray, pad: int, bigendian: bool = False):
    """An Image whose rows carry ``pad`` junk bytes (0xAB) after the pixels."""
    dtype = sensors.IMAGE_ENCODINGS[encoding][0].newbyteorder(">" if bigendian else "<")
    rows = np.ascontiguousarray(pixels, dtype=dtype).reshape(pixels.shape[0], -1).view(np.uint8)
    rows = np.concatenate([rows, np.full((rows.shape[0], pad), 0xAB, np.uint8)], axis=1)
    return TYPES.Image(
        header=sensors.make_header(TYPES, STAMP, "cam"),
        height=pixels.shape[0],
        width=pixels.shape[1],
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=rows.shape[1],
        data=rows.reshape(-1),
    )


# -- time ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ns", [0, 1, 999_999_999, 1_000_000_000, STAMP])
def test_stamp_round_trip(ns):
    stamp = sensors.ns_to_stamp(TYPES, ns)
    assert 0 <= stamp.nanosec < 1_000_000_000
    assert sensors.stamp_to_ns(stamp) == ns


def test_stamp_out_of_range():
    with pytest.raises(sensors.ConversionError, match="int32"):
        sensors.ns_to_stamp(TYPES, 2**31 * 1_000_000_000)


# -- images -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", list(sensors.IMAGE_ENCODINGS))
def test_image_round_trip_every_encoding(encoding):
    pixels = random_pixels(encoding)
    msg = cdr_round_trip(sensors.array_to_image(TYPES, pixels, encoding, STAMP, "cam"))
    assert (msg.encoding, msg.height, msg.width, msg.is_bigendian) == (encoding, 12, 16, 0)
    assert sensors.stamp_to_ns(msg.header.stamp) == STAMP and msg.header.frame_id == "cam"
    back = sensors.image_to_array(msg)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("encoding", ["rgb8", "mono8", "16UC1", "32FC1", "bgra8"])
def test_image_step_padding_is_skipped(encoding):
    pixels = random_pixels(encoding, (5, 7))
    msg = padded_image(encoding, pixels, pad=6)
    np.testing.assert_array_equal(sensors.image_to_array(msg), pixels)


def test_image_last_row_without_padding():
    pixels = random_pixels("rgb8", (3, 4))
    msg = padded_image("rgb8", pixels, pad=4)
    msg.data = msg.data[:-4]  # some drivers omit the final row's padding
    np.testing.assert_array_equal(sensors.image_to_array(msg), pixels)


def test_big_endian_16uc1_depth():
    mm = np.array([[1, 258], [1000, 65535]], dtype=np.uint16)
    msg = padded_image("16UC1", mm, pad=0, bigendian=True)
    assert msg.data[:4].tolist() == [0, 1, 1, 2]  # really big-endian bytes
    np.testing.assert_array_equal(sensors.image_to_array(msg), mm)
    np.testing.assert_allclose(sensors.image_to_depth(msg), mm.astype(np.float32) * 1e-3, rtol=1e-7)


def test_unknown_encoding_names_it():
    msg = sensors.array_to_image(TYPES, random_pixels("mono8"), "mono8", STAMP, "front_cam")
    msg.encoding = "yuv422"
    with pytest.raises(sensors.ConversionError, match="'yuv422'.*supported: rgb8") as info:
        sensors.image_to_array(msg)
    assert "front_cam" in str(info.value)
    with pytest.raises(sensors.ConversionError, match="'nv21'"):
        sensors.array_to_image(TYPES, random_pixels("mono8"), "nv21", STAMP, "cam")


def test_short_data_and_step_are_errors():
    msg = sensors.array_to_image(TYPES, random_pixels("rgb8"), "rgb8", STAMP, "cam")
    msg.step = 10
    with pytest.raises(sensors.ConversionError, match="step 10"):
        sensors.image_to_array(msg)
    msg = sensors.array_to_image(TYPES, random_pixels("rgb8"), "rgb8", STAMP, "cam")
    msg.data = msg.data[:100]
    with pytest.raises(sensors.ConversionError, match="data has 100 bytes"):
        sensors.image_to_array(msg)


def test_array_to_image_checks_dtype_and_shape():
    with pytest.raises(sensors.ConversionError, match="rgb8 needs"):
        sensors.array_to_image(TYPES, np.zeros((4, 4, 3), np.float32), "rgb8", STAMP, "cam")
    with pytest.raises(sensors.ConversionError, match="32FC1 needs"):
        sensors.array_to_image(TYPES, np.zeros((4, 4, 2), np.float32), "32FC1", STAMP, "cam")


def test_image_to_rgb_channel_orders():
    rgb = random_pixels("rgb8")
    expected = rgb.astype(np.float32) / 255.0
    bgr = sensors.array_to_image(TYPES, rgb[:, :, ::-1].copy(), "bgr8", STAMP, "cam")
    np.testing.assert_allclose(sensors.image_to_rgb(bgr), expected, rtol=1e-6)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    np.testing.assert_allclose(
        sensors.image_to_rgb(sensors.array_to_image(TYPES, rgba, "rgba8", 0, "c")), expected, 1e-6
    )
    bgra = np.ascontiguousarray(rgba[:, :, [2, 1, 0, 3]])
    np.testing.assert_allclose(
        sensors.image_to_rgb(sensors.array_to_image(TYPES, bgra, "bgra8", 0, "c")), expected, 1e-6
    )
    mono = sensors.image_to_rgb(sensors.array_to_image(TYPES, rgb[:, :, 0].copy(), "mono8", 0, "c"))
    assert mono.dtype == np.float32 and mono.shape == (12, 16, 3)
    np.testing.assert_allclose(mono[:, :, 2], expected[:, :, 0], rtol=1e-6)
    with pytest.raises(sensors.ConversionError, match="not colour"):
        sensors.image_to_rgb(sensors.array_to_image(TYPES, random_pixels("32FC1"), "32FC1", 0, "c"))


def test_rgb_to_image_quantises_exactly():
    levels = random_pixels("rgb8")
    msg = sensors.rgb_to_image(TYPES, torch.from_numpy(levels.astype(np.float32) / 255.0), STAMP, "cam")
    np.testing.assert_array_equal(sensors.image_to_array(msg), levels)


def test_depth_units_and_invalid_values():
    metres = np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32)
    depth = sensors.image_to_depth(sensors.depth_to_image(TYPES, metres, STAMP, "cam"))
    np.testing.assert_array_equal(depth, np.array([[1.5, 0.0], [0.0, 0.0]], np.float32))
    mm = sensors.array_to_image(TYPES, np.array([[0, 1500]], np.uint16), "16UC1", STAMP, "cam")
    np.testing.assert_allclose(sensors.image_to_depth(mm), [[0.0, 1.5]], rtol=1e-7)
    with pytest.raises(sensors.ConversionError, match="'rgb8' is not 16UC1"):
        sensors.image_to_depth(sensors.array_to_image(TYPES, random_pixels("rgb8"), "rgb8", 0, "c"))


# -- camera info --------------------------------------------------------------------------------------------
def test_camera_info_round_trip_and_pixel_centres():
    intr = Intrinsics(fx=20.5, fy=21.25, cx=8.0, cy=6.5, width=16, height=12)
    msg = cdr_round_trip(sensors.intrinsics_to_camera_info(TYPES, intr, STAMP, "cam"))
    assert (msg.width, msg.height, msg.distortion_model) == (16, 12, "plumb_bob")
    np.testing.assert_array_equal(msg.k, [20.5, 0, 7.5, 0, 21.25, 6.0, 0, 0, 1])  # OpenCV centres: -0.5
    np.testing.assert_array_equal(msg.p, [20.5, 0, 7.5, 0, 0, 21.25, 6.0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(msg.r, np.eye(3).reshape(-1))
    np.testing.assert_array_equal(msg.d, np.zeros(5))
    assert not sensors.camera_info_is_distorted(msg)
    assert sensors.camera_info_to_intrinsics(msg) == intr


def test_camera_info_errors():
    intr = Intrinsics(fx=20.0, fy=20.0, cx=8.0, cy=6.0, width=16, height=12)
    msg = sensors.intrinsics_to_camera_info(TYPES, intr, STAMP, "cam")
    msg.k = np.array([0.0, 0, 7.5, 0, 20, 5.5, 0, 0, 1])
    with pytest.raises(sensors.ConversionError, match="fx=0.0"):
        sensors.camera_info_to_intrinsics(msg)
    msg = sensors.intrinsics_to_camera_info(TYPES, intr, STAMP, "cam")
    msg.width = 0
    with pytest.raises(sensors.ConversionError, match="0x12 is empty"):
        sensors.camera_info_to_intrinsics(msg)
    msg = sensors.intrinsics_to_camera_info(TYPES, intr, STAMP, "cam")
    msg.d = np.array([0.1, 0, 0, 0, 0])
    assert sensors.camera_info_is_distorted(msg)


# -- poses --------------------------------------------------------------------------------------------------
def _pose(xyz, xyzw):
    return TYPES.Pose(
        position=TYPES.Point(x=xyz[0], y=xyz[1], z=xyz[2]),
        orientation=TYPES.Quaternion(x=xyzw[0], y=xyzw[1], z=xyzw[2], w=xyzw[3]),
    )


def test_quaternion_90_degrees_about_z_maps_x_to_y():
    s = math.sqrt(0.5)
    T = sensors.pose_to_matrix(_pose((1.0, 2.0, 3.0), (0.0, 0.0, s, s)))
    np.testing.assert_allclose(T[:3, :3] @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(T[:3, :3] @ [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(T[3], [0, 0, 0, 1])
    # an unnormalised quaternion is the same rotation
    np.testing.assert_allclose(
        sensors.pose_to_matrix(_pose((1.0, 2.0, 3.0), (0.0, 0.0, 3.0, 3.0))), T, atol=1e-12
    )


def _rotations():
    out = [np.eye(3), np.diag([1.0, -1.0, -1.0]), np.diag([-1.0, 1.0, -1.0]), np.diag([-1.0, -1.0, 1.0])]
    for _ in range(20):
        q, r = np.linalg.qr(RNG.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))
        out.append(q if np.linalg.det(q) > 0 else -q)
    return out


@pytest.mark.parametrize("index", range(24))
def test_pose_and_transform_round_trip(index):
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = _rotations()[index], RNG.normal(size=3)
    msg = cdr_round_trip(sensors.matrix_to_pose_stamped(TYPES, T, STAMP, "world"))
    assert msg.header.frame_id == "world" and msg.pose.orientation.w >= 0
    np.testing.assert_allclose(sensors.pose_to_matrix(msg.pose), T, atol=1e-12)
    tf = cdr_round_trip(
        sensors.matrix_to_transform_stamped(TYPES, torch.from_numpy(T), STAMP, "world", "cam")
    )
    assert (tf.header.frame_id, tf.child_frame_id) == ("world", "cam")
    np.testing.assert_allclose(sensors.transform_to_matrix(tf.transform), T, atol=1e-12)
    q = sensors.matrix_to_quat_xyzw(T[:3, :3])
    np.testing.assert_allclose(sensors.quat_xyzw_to_matrix(q), T[:3, :3], atol=1e-12)


@pytest.mark.parametrize("xyzw", [(np.nan, 0.0, 0.0, 1.0), (0.0, 0.0, 0.0, 0.0), (0.0, np.inf, 0.0, 1.0)])
def test_invalid_quaternion_is_an_error(xyzw):
    with pytest.raises(sensors.ConversionError, match="invalid quaternion"):
        sensors.pose_to_matrix(_pose((0.0, 0.0, 0.0), xyzw))


def test_invalid_pose_matrix_and_position():
    with pytest.raises(sensors.ConversionError, match="non-finite position"):
        sensors.pose_to_matrix(_pose((np.nan, 0.0, 0.0), (0.0, 0.0, 0.0, 1.0)))
    with pytest.raises(sensors.ConversionError, match="not a proper rotation"):
        sensors.matrix_to_pose_stamped(TYPES, np.diag([1.0, 1.0, -1.0, 1.0]), STAMP, "world")


def test_tf_message():
    tfs = [sensors.matrix_to_transform_stamped(TYPES, np.eye(4), STAMP, "world", f"c{i}") for i in range(2)]
    msg = cdr_round_trip(sensors.tf_message(TYPES, tfs))
    assert [t.child_frame_id for t in msg.transforms] == ["c0", "c1"]


# -- frames -------------------------------------------------------------------------------------------------
def test_frame_from_messages():
    intr = Intrinsics.from_fov(1.0, 16, 12)
    rgb = random_pixels("rgb8")
    T = look_at(torch.tensor([2.0, 0.0, 1.0]), torch.zeros(3))
    image = sensors.array_to_image(TYPES, rgb, "rgb8", STAMP, "cam")
    info = sensors.intrinsics_to_camera_info(TYPES, intr, STAMP, "cam")
    depth = sensors.depth_to_image(TYPES, np.full((12, 16), 2.0, np.float32), STAMP, "cam")
    frame = frame_from_messages(image, info, T.numpy(), depth)
    assert frame.stamp_ns == STAMP and frame.frame_id == "cam" and frame.intrinsics == intr
    np.testing.assert_allclose(frame.rgb.numpy(), rgb / 255.0, rtol=1e-6)
    assert frame.depth is not None and float(frame.depth.mean()) == 2.0
    torch.testing.assert_close(frame.T_world_cam, T)
    small = sensors.intrinsics_to_camera_info(TYPES, Intrinsics.from_fov(1.0, 8, 6), STAMP, "cam")
    with pytest.raises(sensors.ConversionError, match="camera_info is 8x6 but image"):
        frame_from_messages(image, small, T)
    bad_depth = sensors.depth_to_image(TYPES, np.ones((6, 8), np.float32), STAMP, "cam")
    with pytest.raises(sensors.ConversionError, match="depth .* is 8x6"):
        frame_from_messages(image, info, T, bad_depth)
    with pytest.raises(FrameError, match="non-finite"):
        frame_from_messages(image, info, torch.full((4, 4), float("nan")))


# -- message tables and import hygiene ----------------------------------------------------------------------
def test_message_types_table():
    assert TYPES.type_name("Detection3DArray") == "vision_msgs/msg/Detection3DArray"
    assert TYPES.type_name(TYPES.Image) == "sensor_msgs/msg/Image"
    with pytest.raises(AttributeError, match="no message type 'Imagee'"):
        _ = TYPES.Imagee
    jazzy = MessageTypes.from_typestore(make_typestore("jazzy"))
    assert jazzy.LabelInfo.__msgtype__ == "vision_msgs/msg/LabelInfo"
    assert make_typestore("humble") is TYPESTORE
    with pytest.raises(ValueError, match="unknown ROS 2 distro 'rolling'"):
        make_typestore("rolling")


def test_rclpy_backend_sequences_are_array_array():
    import array

    rclpy_like = MessageTypes({}, backend="rclpy")
    out = rclpy_like.sequence(np.array([1, 2, 255], np.uint8))
    assert isinstance(out, array.array) and out.typecode == "B" and list(out) == [1, 2, 255]
    assert rclpy_like.sequence(np.array([0.5])).typecode == "d"


def test_modules_do_not_import_ros():
    code = (
        "import json, sys\n"
        "import gs_perception.ros.typestore, gs_perception.ros.frames, gs_perception.ros.bag_io\n"
        "import gs_perception.ros.sim_bag, gs_perception.ros.perception_msgs\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(result.stdout.strip().splitlines()[-1])
    ros = (
        "rclpy",
        "sensor_msgs",
        "geometry_msgs",
        "std_msgs",
        "vision_msgs",
        "builtin_interfaces",
        "tf2_msgs",
    )
    assert [m for m in modules if m.split(".")[0] in ros] == []
