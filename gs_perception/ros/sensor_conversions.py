"""Sensor-side conversions: time, headers, images, camera info, poses and TF (docs/architecture.md §4, §5).

The output messages are in :mod:`gs_perception.ros.perception_msgs`; :mod:`gs_perception.ros.frames` turns
these inputs into a core ``Frame``.

Conventions:

- Stamps are integer nanoseconds; ``builtin_interfaces/Time`` is (sec, nanosec) with nanosec in [0, 1e9).
  Output headers copy the input image's stamp and frame.
- Quaternions are **xyzw** in ROS messages and **wxyz** inside the package; only these modules touch the ROS
  order (:func:`quat_xyzw_to_matrix`, :func:`matrix_to_quat_xyzw`, w ≥ 0 on output).
- Poses are ``T_world_cam`` (camera→world, 4×4) with OpenCV axes = the ROS optical frame (REP-105).
- Pixel centres: ROS ``CameraInfo`` follows OpenCV (the centre of pixel (u, v) is at (u, v)); the core's
  :class:`~gs_perception.core.cameras.Intrinsics` follows gsplat (centre at (u + 0.5, v + 0.5)). So
  ``Intrinsics.cx = K[2] + 0.5`` and ``Intrinsics.cy = K[5] + 0.5`` (:data:`PIXEL_CENTER_OFFSET`), and back.
- Images: ``rgb8 bgr8 rgba8 bgra8 mono8 mono16 16UC1 32FC1`` (``step`` padding and ``is_bigendian`` honoured);
  colour → float32 RGB in [0, 1]; depth ``16UC1``/``mono16`` is millimetres, ``32FC1`` metres, and 0 means
  "no measurement" (non-finite and negative depths become 0). Distortion in ``CameraInfo.d`` is ignored: feed
  rectified images.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gs_perception.core.cameras import Intrinsics

from .typestore import MessageTypes

PIXEL_CENTER_OFFSET = 0.5
"""Added to ROS (OpenCV) cx, cy to get the core's (gsplat) principal point; subtracted on the way back."""

# encoding -> (dtype, channels). Colour order per encoding is handled in image_to_rgb.
IMAGE_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
_NS = 1_000_000_000


class ConversionError(ValueError):
    """A message that cannot be converted; the text names the field, encoding or frame at fault."""


# -- time ---------------------------------------------------------------------------------------------------
def stamp_to_ns(stamp: Any) -> int:
    """``builtin_interfaces/Time`` → integer nanoseconds."""
    return int(stamp.sec) * _NS + int(stamp.nanosec)


def ns_to_stamp(types: MessageTypes, stamp_ns: int) -> Any:
    """Integer nanoseconds → ``builtin_interfaces/Time`` (sec is int32 in ROS 2)."""
    sec, nanosec = divmod(int(stamp_ns), _NS)
    if not -(2**31) <= sec < 2**31:
        raise ConversionError(f"stamp {stamp_ns} ns does not fit builtin_interfaces/Time (int32 seconds)")
    return types.Time(sec=sec, nanosec=nanosec)


def make_header(types: MessageTypes, stamp_ns: int, frame_id: str) -> Any:
    """``std_msgs/Header`` with a stamp in nanoseconds."""
    return types.Header(stamp=ns_to_stamp(types, stamp_ns), frame_id=str(frame_id))


def message_origin(msg: Any) -> str:
    """Where a message is from, for error texts: ``frame 'cam' at 123 ns`` (``message`` if headerless)."""
    header = getattr(msg, "header", None)
    if header is None:
        return "message"
    return f"frame {header.frame_id!r} at {stamp_to_ns(header.stamp)} ns"


# -- images -------------------------------------------------------------------------------------------------
def as_uint8_array(data: Any) -> np.ndarray:
    """A message's ``uint8[]`` (numpy, array.array, bytes or a list) as a flat uint8 array without copying."""
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8)


def image_to_array(msg: Any) -> np.ndarray:
    """Pixels of a ``sensor_msgs/Image`` in their stored type, honouring ``step`` padding and byte order.

    Args:
        msg: Image with an encoding in :data:`IMAGE_ENCODINGS`.

    Returns:
        [H, W, C] for multi-channel encodings, [H, W] for single-channel ones; native byte order, a copy.

    Raises:
        ConversionError: Unknown encoding, or ``step``/``data`` too short for the size.
    """
    if msg.encoding not in IMAGE_ENCODINGS:
        raise ConversionError(
            f"image ({message_origin(msg)}): unsupported encoding {msg.encoding!r}; "
            f"supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[msg.encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ConversionError(
            f"image ({message_origin(msg)}): step {step} < {row_bytes} bytes per {msg.encoding} row"
        )
    buf = as_uint8_array(msg.data)
    needed = (height - 1) * step + row_bytes if height else 0
    if buf.size < needed:
        raise ConversionError(
            f"image ({message_origin(msg)}): data has {buf.size} bytes; "
            f"{width}x{height} {msg.encoding} needs {needed}"
        )
    if buf.size < height * step:  # some producers leave the last row's padding out
        buf = np.concatenate([buf, np.zeros(height * step - buf.size, np.uint8)])
    rows = np.ascontiguousarray(buf[: height * step].reshape(height, step)[:, :row_bytes])
    stored = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = rows.view(stored).astype(dtype.newbyteorder("="))
    return pixels.reshape(height, width, channels) if channels > 1 else pixels.reshape(height, width)


def image_to_rgb(msg: Any) -> np.ndarray:
    """Colour image → float32 RGB in [0, 1], [H, W, 3] (mono → grey, alpha dropped, BGR reordered)."""
    pixels = image_to_array(msg)
    encoding = msg.encoding
    if encoding in ("16UC1", "32FC1"):
        raise ConversionError(
            f"image ({message_origin(msg)}): encoding {encoding!r} is depth/data, not colour"
        )
    scale = 1.0 / float(np.iinfo(pixels.dtype).max)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    elif encoding.startswith("bgr"):
        pixels = pixels[:, :, [2, 1, 0]]
    else:
        pixels = pixels[:, :, :3]
    return pixels.astype(np.float32) * np.float32(scale)


def image_to_depth(msg: Any) -> np.ndarray:
    """Depth image → float32 metres, [H, W]: 16UC1/mono16 are millimetres, 32FC1 metres; invalid → 0."""
    pixels = image_to_array(msg)
    if msg.encoding in ("16UC1", "mono16"):
        depth = pixels.astype(np.float32) * np.float32(1e-3)
    elif msg.encoding == "32FC1":
        depth = pixels.astype(np.float32)
    else:
        raise ConversionError(
            f"depth image ({message_origin(msg)}): encoding {msg.encoding!r} is not 16UC1, mono16 or 32FC1"
        )
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return depth


def array_to_image(
    types: MessageTypes, array: np.ndarray, encoding: str, stamp_ns: int, frame_id: str
) -> Any:
    """numpy pixels (in the encoding's stored type) → ``sensor_msgs/Image``, little-endian, unpadded.

    Args:
        types: Message classes.
        array: [H, W, C] or [H, W] with the dtype of :data:`IMAGE_ENCODINGS` [encoding].
        encoding: One of :data:`IMAGE_ENCODINGS`.
        stamp_ns, frame_id: Header.
    """
    if encoding not in IMAGE_ENCODINGS:
        raise ConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(IMAGE_ENCODINGS)}"
        )
    dtype, channels = IMAGE_ENCODINGS[encoding]
    array = np.asarray(array)
    if array.ndim == 2 and channels == 1:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] != channels or array.dtype != dtype:
        raise ConversionError(
            f"{encoding} needs [H, W{'' if channels == 1 else f', {channels}'}] {dtype}, "
            f"got {list(array.shape)} {array.dtype}"
        )
    height, width = array.shape[:2]
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<")).view(np.uint8).reshape(-1)
    return types.Image(
        header=make_header(types, stamp_ns, frame_id),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=types.sequence(data),
    )


def rgb_to_image(types: MessageTypes, rgb: np.ndarray | Tensor, stamp_ns: int, frame_id: str) -> Any:
    """float RGB in [0, 1], [H, W, 3] → an ``rgb8`` Image (rounded to the nearest level, clipped)."""
    rgb = np.asarray(torch.as_tensor(rgb).detach().cpu(), dtype=np.float32)
    levels = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return array_to_image(types, levels, "rgb8", stamp_ns, frame_id)


def depth_to_image(types: MessageTypes, depth: np.ndarray | Tensor, stamp_ns: int, frame_id: str) -> Any:
    """Depth in metres, [H, W] → a ``32FC1`` Image (values copied as float32)."""
    depth = np.asarray(torch.as_tensor(depth).detach().cpu(), dtype=np.float32)
    return array_to_image(types, depth, "32FC1", stamp_ns, frame_id)


# -- camera info --------------------------------------------------------------------------------------------
def camera_info_to_intrinsics(msg: Any) -> Intrinsics:
    """``sensor_msgs/CameraInfo`` → :class:`Intrinsics` (gsplat pixel centres; distortion is ignored).

    Use rectified images: ``d`` is not applied. Binning and ROI are ignored.

    Raises:
        ConversionError: Zero width/height, ``k`` not 9 values, or a non-positive / non-finite focal length.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.size != 9:
        raise ConversionError(
            f"camera_info ({message_origin(msg)}): k has {k.size} values, expected 9 (row-major 3x3)"
        )
    width, height = int(msg.width), int(msg.height)
    if width <= 0 or height <= 0:
        raise ConversionError(f"camera_info ({message_origin(msg)}): image size {width}x{height} is empty")
    fx, fy = float(k[0]), float(k[4])
    if not (np.isfinite(k).all() and fx > 0 and fy > 0):
        raise ConversionError(
            f"camera_info ({message_origin(msg)}): invalid focal lengths fx={fx}, fy={fy} in k"
        )
    cx, cy = float(k[2]) + PIXEL_CENTER_OFFSET, float(k[5]) + PIXEL_CENTER_OFFSET
    return Intrinsics(fx=fx, fy=fy, cx=cx, cy=cy, width=width, height=height)


def camera_info_is_distorted(msg: Any) -> bool:
    """True when ``d`` has a non-zero coefficient (the image is not rectified; nodes should warn once)."""
    d = np.asarray(msg.d, dtype=np.float64)
    return bool(d.size and np.any(d != 0.0))


def intrinsics_to_camera_info(
    types: MessageTypes, intr: Intrinsics, stamp_ns: int, frame_id: str, distortion_model: str = "plumb_bob"
) -> Any:
    """:class:`Intrinsics` → ``sensor_msgs/CameraInfo``: zero distortion (5 values), R = I, P = [K | 0]."""
    cx, cy = intr.cx - PIXEL_CENTER_OFFSET, intr.cy - PIXEL_CENTER_OFFSET
    k = np.array([intr.fx, 0.0, cx, 0.0, intr.fy, cy, 0.0, 0.0, 1.0])
    p = np.array([intr.fx, 0.0, cx, 0.0, 0.0, intr.fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0])
    roi = types.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
    return types.CameraInfo(
        header=make_header(types, stamp_ns, frame_id),
        height=int(intr.height),
        width=int(intr.width),
        distortion_model=distortion_model,
        d=types.sequence(np.zeros(5)),
        k=k,
        r=np.eye(3).reshape(-1),
        p=p,
        binning_x=0,
        binning_y=0,
        roi=roi,
    )


# -- rotations and poses ------------------------------------------------------------------------------------
def quat_xyzw_to_matrix(q: np.ndarray, what: str = "quaternion") -> np.ndarray:
    """Rotation matrix of a ROS (xyzw) quaternion, normalised first. [4] → [3, 3] float64.

    Raises:
        ConversionError: Non-finite or (near-)zero quaternion; ``what`` names it in the message.
    """
    q = np.asarray(q, dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(q).all() or norm < 1e-12:
        raise ConversionError(f"{what}: invalid quaternion (x, y, z, w) = {tuple(q.tolist())}")
    x, y, z, w = q / norm
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def matrix_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """ROS (xyzw) unit quaternion of a rotation matrix, with w ≥ 0. [3, 3] → [4] float64.

    Shepperd's method: take the largest of w², x², y², z² as the pivot so no division is ill-conditioned.
    """
    R = np.asarray(R, dtype=np.float64)
    trace = R[0, 0] + R[1, 1] + R[2, 2]
    pivots = [trace, R[0, 0], R[1, 1], R[2, 2]]
    i = int(np.argmax(pivots))
    if i == 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    elif i == 1:
        s = 2.0 * np.sqrt(max(1.0 + R[0, 0] - R[1, 1] - R[2, 2], 0.0))
        q = [0.25 * s, (R[0, 1] + R[1, 0]) / s, (R[0, 2] + R[2, 0]) / s, (R[2, 1] - R[1, 2]) / s]
    elif i == 2:
        s = 2.0 * np.sqrt(max(1.0 + R[1, 1] - R[0, 0] - R[2, 2], 0.0))
        q = [(R[0, 1] + R[1, 0]) / s, 0.25 * s, (R[1, 2] + R[2, 1]) / s, (R[0, 2] - R[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(max(1.0 + R[2, 2] - R[0, 0] - R[1, 1], 0.0))
        q = [(R[0, 2] + R[2, 0]) / s, (R[1, 2] + R[2, 1]) / s, 0.25 * s, (R[1, 0] - R[0, 1]) / s]
    q = np.asarray(q) / np.linalg.norm(q)
    return -q if q[3] < 0 else q


def _rigid(position: Any, orientation: Any, what: str) -> np.ndarray:
    p = np.array([position.x, position.y, position.z], dtype=np.float64)
    if not np.isfinite(p).all():
        raise ConversionError(f"{what}: non-finite position {tuple(p.tolist())}")
    T = np.eye(4)
    T[:3, :3] = quat_xyzw_to_matrix([orientation.x, orientation.y, orientation.z, orientation.w], what)
    T[:3, 3] = p
    return T


def pose_to_matrix(pose: Any, what: str = "pose") -> np.ndarray:
    """``geometry_msgs/Pose`` → [4, 4] float64 (quaternion normalised). Raises ConversionError if invalid."""
    return _rigid(pose.position, pose.orientation, what)


def transform_to_matrix(transform: Any, what: str = "transform") -> np.ndarray:
    """``geometry_msgs/Transform`` → [4, 4] float64 (quaternion normalised)."""
    return _rigid(transform.translation, transform.rotation, what)


def _checked_rigid(T: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    T = np.asarray(torch.as_tensor(T).detach().cpu(), dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all():
        raise ConversionError(f"pose matrix must be a finite [4, 4], got shape {list(T.shape)}")
    R = T[:3, :3]
    if np.abs(R @ R.T - np.eye(3)).max() > 1e-3 or np.linalg.det(R) < 0:
        raise ConversionError("pose matrix rotation is not a proper rotation (orthonormal, det +1)")
    return matrix_to_quat_xyzw(R), T[:3, 3]


def matrix_to_pose(types: MessageTypes, T: np.ndarray | Tensor) -> Any:
    """[4, 4] rigid transform → ``geometry_msgs/Pose``."""
    q, t = _checked_rigid(T)
    return types.Pose(
        position=types.Point(x=float(t[0]), y=float(t[1]), z=float(t[2])),
        orientation=types.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )


def matrix_to_pose_stamped(types: MessageTypes, T: np.ndarray | Tensor, stamp_ns: int, frame_id: str) -> Any:
    """[4, 4] pose of a child in ``frame_id`` (e.g. ``T_world_cam`` in "world") → ``PoseStamped``."""
    return types.PoseStamped(header=make_header(types, stamp_ns, frame_id), pose=matrix_to_pose(types, T))


def matrix_to_transform_stamped(
    types: MessageTypes, T: np.ndarray | Tensor, stamp_ns: int, parent: str, child: str
) -> Any:
    """``T_parent_child`` [4, 4] → ``TransformStamped`` (header.frame_id = parent, child_frame_id = child)."""
    q, t = _checked_rigid(T)
    transform = types.Transform(
        translation=types.Vector3(x=float(t[0]), y=float(t[1]), z=float(t[2])),
        rotation=types.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])),
    )
    return types.TransformStamped(
        header=make_header(types, stamp_ns, parent), child_frame_id=str(child), transform=transform
    )


def tf_message(types: MessageTypes, transforms: Iterable[Any]) -> Any:
    """``tf2_msgs/TFMessage`` holding ``TransformStamped`` messages."""
    return types.TFMessage(transforms=list(transforms))
