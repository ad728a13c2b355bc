"""ROS messages → a core ``Frame``: image + camera info + pose [+ depth] (docs/architecture.md §4, §5).

Conversions between ROS messages and numpy/torch live in three modules, each taking message *instances* or a
:class:`~gs_perception.ros.typestore.MessageTypes` table, so the same code serves rclpy messages (nodes) and
rosbags' (bags, tests); none imports ROS:

- :mod:`~gs_perception.ros.sensor_conversions`: time and headers, images, camera info, poses and TF.
- :mod:`~gs_perception.ros.perception_msgs`: what the node publishes: Gaussians as PointCloud2, vision_msgs
  (Classification, Detection3DArray, LabelInfo) and object embeddings (32FC1 Image, one row per detection).
  Its docstring records the message-layout choices.
- this module: :func:`frame_from_messages`, the input of the pipeline.

Conventions (stamps, quaternion order, pixel centres, depth units): see
:mod:`~gs_perception.ros.sensor_conversions`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from gs_perception.core.frames import Frame

from .sensor_conversions import (
    ConversionError,
    camera_info_to_intrinsics,
    image_to_depth,
    image_to_rgb,
    message_origin,
    stamp_to_ns,
)


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
