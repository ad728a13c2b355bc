"""The one place that converts ROS messages ↔ numpy/torch (docs/architecture.md §4, §5).

Every function takes message *instances* or a :class:`~gs_perception.ros.typestore.MessageTypes` table, so the
same code serves rclpy messages (nodes) and rosbags' (bags, tests); nothing here imports ROS. The code lives
in two modules, re-exported here so callers write ``conversions.<name>``:

- :mod:`~gs_perception.ros.sensor_conversions`: time and headers, images, camera info, poses and TF, frames.
- :mod:`~gs_perception.ros.perception_msgs`: what the node publishes: Gaussians as PointCloud2, vision_msgs
  (Classification, Detection3DArray, LabelInfo) and object embeddings (32FC1 Image, one row per detection).
  Its docstring records the message-layout choices.

:func:`frame_from_messages` (image + camera info + pose [+ depth] → core ``Frame``) is defined here.

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

from typing import Any

import numpy as np
import torch
from torch import Tensor

from gs_perception.core.frames import Frame

from .perception_msgs import (
    GAUSSIAN_CLOUD_DTYPE,
    POINT_FIELD_DATATYPES,
    DetectedObject,
    classification_message,
    cloud_point_fields,
    detections_message,
    embeddings_to_image,
    gaussians_to_pointcloud2,
    image_to_embeddings,
    label_info_message,
    pack_rgb,
    pointcloud2_to_array,
    unpack_rgb,
)
from .sensor_conversions import (
    IMAGE_ENCODINGS,
    PIXEL_CENTER_OFFSET,
    ConversionError,
    array_to_image,
    as_uint8_array,
    camera_info_is_distorted,
    camera_info_to_intrinsics,
    depth_to_image,
    image_to_array,
    image_to_depth,
    image_to_rgb,
    intrinsics_to_camera_info,
    make_header,
    matrix_to_pose,
    matrix_to_pose_stamped,
    matrix_to_quat_xyzw,
    matrix_to_transform_stamped,
    message_origin,
    ns_to_stamp,
    pose_to_matrix,
    quat_xyzw_to_matrix,
    rgb_to_image,
    stamp_to_ns,
    tf_message,
    transform_to_matrix,
)

__all__ = [
    "GAUSSIAN_CLOUD_DTYPE",
    "IMAGE_ENCODINGS",
    "PIXEL_CENTER_OFFSET",
    "POINT_FIELD_DATATYPES",
    "ConversionError",
    "DetectedObject",
    "array_to_image",
    "as_uint8_array",
    "camera_info_is_distorted",
    "camera_info_to_intrinsics",
    "classification_message",
    "cloud_point_fields",
    "depth_to_image",
    "detections_message",
    "embeddings_to_image",
    "frame_from_messages",
    "gaussians_to_pointcloud2",
    "image_to_array",
    "image_to_depth",
    "image_to_embeddings",
    "image_to_rgb",
    "intrinsics_to_camera_info",
    "label_info_message",
    "make_header",
    "matrix_to_pose",
    "matrix_to_pose_stamped",
    "matrix_to_quat_xyzw",
    "matrix_to_transform_stamped",
    "message_origin",
    "ns_to_stamp",
    "pack_rgb",
    "pointcloud2_to_array",
    "pose_to_matrix",
    "quat_xyzw_to_matrix",
    "rgb_to_image",
    "stamp_to_ns",
    "tf_message",
    "transform_to_matrix",
    "unpack_rgb",
]


# -- frames -------------------------------------------------------------------------------------------------
def frame_from_messages(
    image_msg: Any, camera_info_msg: Any, T_world_cam: np.ndarray | Tensor, depth_msg: Any | None = None
) -> Frame:
    """A core :class:`Frame` from an image, its camera info, a pose and optional depth.

    Stamp and frame id come from the image header (output headers copy them, docs/architecture.md §4).

    Args:
        image_msg: Colour ``sensor_msgs/Image``.
        camera_info_msg: Its ``sensor_msgs/CameraInfo`` (same size).
        T_world_cam: [4, 4] camera→world (e.g. :func:`pose_to_matrix` of the PoseStamped, or TF).
        depth_msg: Optional depth Image registered to the colour image (same size).

    Raises:
        ConversionError: Unconvertible messages or mismatched sizes.
        FrameError: The frame fails :meth:`Frame.validate` (e.g. non-finite or non-rigid pose).
    """
    rgb = image_to_rgb(image_msg)
    intr = camera_info_to_intrinsics(camera_info_msg)
    height, width = rgb.shape[:2]
    if (intr.width, intr.height) != (width, height):
        raise ConversionError(
            f"camera_info is {intr.width}x{intr.height} but image ({message_origin(image_msg)}) "
            f"is {width}x{height}"
        )
    depth = None
    if depth_msg is not None:
        depth = image_to_depth(depth_msg)
        if depth.shape != (height, width):
            raise ConversionError(
                f"depth ({message_origin(depth_msg)}) is {depth.shape[1]}x{depth.shape[0]}, "
                f"image is {width}x{height}"
            )
        depth = torch.from_numpy(depth)
    return Frame(
        rgb=torch.from_numpy(rgb),
        intrinsics=intr,
        T_world_cam=torch.as_tensor(T_world_cam).detach().to(device="cpu", dtype=torch.float32).clone(),
        stamp_ns=stamp_to_ns(image_msg.header.stamp),
        frame_id=str(image_msg.header.frame_id),
        depth=depth,
    )
