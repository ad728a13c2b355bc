"""Pipeline outputs → ROS messages, for the node (publish) and bag replay (write) alike.

Topic names are the node's relative output names (ros/interface.py TOPICS); replay prefixes them with its
output namespace. Every message copies the input frame's stamp. Frames: the memory view is in the input
camera's frame; Gaussians, detections and classifications are in the world frame, where the memory lives.
The embeddings' rows follow the detections' order (ros/perception_msgs.py: one 32FC1 image row per object).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..pipeline.recognition import RecognisedObject
from ..pipeline.step import StepOutputs
from . import perception_msgs as msgs
from . import sensor_conversions as sensors
from .typestore import MessageTypes


def detected_objects(objects: list[RecognisedObject]) -> list[msgs.DetectedObject]:
    """Recognised objects as the message builders' input (box centre and size in the world frame)."""
    return [
        msgs.DetectedObject(
            id=o.id,
            class_names=list(o.class_names),
            scores=[float(s) for s in o.scores],
            center=tuple(float(c) for c in o.centre),
            size=tuple(float(c) for c in o.size),
        )
        for o in objects
    ]


def object_messages(
    types: MessageTypes, objects: list[RecognisedObject], stamp_ns: int, world_frame: str
) -> list[tuple[str, Any]]:
    """Detections, the largest object's classification and both embedding tables."""
    out = [("detections", msgs.detections_message(types, stamp_ns, world_frame, detected_objects(objects)))]
    if objects and objects[0].class_names:
        largest = objects[0]
        scores = [float(s) for s in largest.scores]
        out.append(
            (
                "classification",
                msgs.classification_message(types, stamp_ns, world_frame, list(largest.class_names), scores),
            )
        )
    if objects:
        for topic, name in (
            ("embeddings/image", "image_embedding"),
            ("embeddings/gaussians", "gaussian_embedding"),
        ):
            table = np.stack([getattr(o, name).numpy() for o in objects]).astype(np.float32)
            out.append((topic, msgs.embeddings_to_image(types, table, stamp_ns, world_frame)))
    return out


def output_messages(types: MessageTypes, outputs: StepOutputs, world_frame: str) -> list[tuple[str, Any]]:
    """All messages one pipeline step produced, as ``(relative topic, message)`` pairs."""
    stamp = outputs.stamp_ns
    out: list[tuple[str, Any]] = []
    if outputs.memory_view is not None:
        rgb = outputs.memory_view.rgb.detach().cpu().numpy()
        out.append(("memory_view", sensors.rgb_to_image(types, rgb, stamp, outputs.frame_id)))
    if outputs.cloud is not None and outputs.cloud.num > 0:
        out.append(("gaussians", msgs.gaussians_to_pointcloud2(types, outputs.cloud, stamp, world_frame)))
    if outputs.objects is not None:
        out += object_messages(types, outputs.objects, stamp, world_frame)
    return out
