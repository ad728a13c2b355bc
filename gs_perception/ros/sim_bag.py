"""A simulated run written as a real ROS 2 bag (sqlite3 or mcap), playable with ``ros2 bag play``.

Each live frame of :class:`~gs_perception.data.sim.SimFrame` becomes, at its stamp: an ``rgb8`` image, its
camera info, a ``32FC1`` depth image (when the frame has depth), the camera pose as ``PoseStamped`` in the
world frame and the same pose on ``/tf`` (world → camera optical frame). Held-out frames go to the ``/eval/*``
topics only, in their own camera frame and **without TF**, so they never disturb the live TF tree nor reach
the memory. Every frame also gets its ground truth: a ``vision_msgs/Classification`` with the true class
names (score 1.0, object order) in that frame's camera frame. The bag's log time of every message is the
frame's stamp. Topic and frame names come from :class:`SimTopics` (the single source of defaults; a
frame's own ``frame_id`` is not used, so TF and image headers always agree).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gs_perception.core.cameras import Intrinsics
from gs_perception.core.frames import Frame
from gs_perception.data.captures import Capture
from gs_perception.data.sim import SimFrame

from . import perception_msgs as msgs
from . import sensor_conversions as sensors
from .bag_io import BagWriter
from .typestore import MessageTypes


@dataclass(frozen=True)
class SimTopics:
    """Topic and frame names of a simulated bag (defaults match the perception launch files)."""

    image: str = "/camera/image_raw"
    """Live camera image, ``sensor_msgs/Image`` rgb8."""
    camera_info: str = "/camera/camera_info"
    """Intrinsics of ``image``, ``sensor_msgs/CameraInfo`` (no distortion), one per image."""
    depth: str = "/camera/depth/image_raw"
    """Depth registered to ``image``, ``sensor_msgs/Image`` 32FC1 metres (0 = no hit)."""
    pose: str = "/camera/pose"
    """Camera optical frame pose in ``world_frame``, ``geometry_msgs/PoseStamped``."""
    tf: str = "/tf"
    """``tf2_msgs/TFMessage``: ``world_frame`` → ``camera_frame`` at each live image stamp."""
    eval_image: str = "/eval/image_raw"
    """Held-out image (novel view for evaluation), rgb8; never fed to the memory."""
    eval_camera_info: str = "/eval/camera_info"
    """Intrinsics of ``eval_image``."""
    eval_depth: str = "/eval/depth/image_raw"
    """Held-out depth, 32FC1 metres."""
    eval_pose: str = "/eval/pose"
    """Held-out camera pose in ``world_frame`` (PoseStamped; no TF is published for it)."""
    ground_truth: str = "/eval/ground_truth"
    """``vision_msgs/Classification`` per frame: the true class names in object order, score 1.0."""
    world_frame: str = "world"
    """Fixed frame (REP-103, z up) of poses and TF."""
    camera_frame: str = "camera_optical_frame"
    """Live camera frame (REP-105 optical axes): image headers and TF child."""
    eval_camera_frame: str = "eval_camera_optical_frame"
    """Frame id of held-out images (a separate virtual camera, kept out of the TF tree)."""


@dataclass(frozen=True)
class SimBagSummary:
    """What :func:`write_sim_bag` wrote.

    Attributes:
        path: Bag directory.
        frames: Live frames written.
        held_out: Held-out frames written.
        topics: Topic names used.
        storage: "sqlite3" or "mcap".
        message_counts: Topic → number of messages.
    """

    path: Path
    frames: int
    held_out: int
    topics: SimTopics
    storage: str
    message_counts: dict[str, int] = field(default_factory=dict)


def write_sim_bag(
    frames: Iterable[SimFrame],
    out: Path | str,
    storage: str = "sqlite3",
    topics: SimTopics | None = None,
    distro: str = "humble",
) -> SimBagSummary:
    """Write simulated frames to a new rosbag2 directory.

    Args:
        frames: Frames in time order (stamps from ``frame.stamp_ns``), live and held-out mixed.
        out: Bag directory to create (must not exist).
        storage: "sqlite3" or "mcap".
        topics: Topic and frame names (default :class:`SimTopics`).
        distro: ROS 2 distro whose message definitions are embedded.

    Returns:
        A :class:`SimBagSummary`.
    """
    topics = SimTopics() if topics is None else topics
    live = held_out = 0
    with BagWriter(out, storage=storage, distro=distro) as writer:
        types = MessageTypes.from_typestore(writer.typestore)
        for sim in frames:
            _write_frame(writer, types, sim, topics)
            held_out += int(sim.held_out)
            live += int(not sim.held_out)
    return SimBagSummary(Path(out), live, held_out, topics, storage, dict(writer.counts))


def sim_frame_messages(types: MessageTypes, sim: SimFrame, topics: SimTopics) -> list[tuple[str, Any]]:
    """The messages of one simulated frame as ``(topic, message)`` pairs, stamped with the frame's stamp.

    Shared by :func:`write_sim_bag` and the live simulator node, so a bag and a live run carry the same data.
    """
    frame, stamp = sim.frame, int(sim.frame.stamp_ns)
    if sim.held_out:
        names = (topics.eval_image, topics.eval_camera_info, topics.eval_depth, topics.eval_pose)
        camera_frame = topics.eval_camera_frame
    else:
        names = (topics.image, topics.camera_info, topics.depth, topics.pose)
        camera_frame = topics.camera_frame
    image_topic, info_topic, depth_topic, pose_topic = names
    out = [
        (image_topic, sensors.rgb_to_image(types, frame.rgb, stamp, camera_frame)),
        (info_topic, sensors.intrinsics_to_camera_info(types, frame.intrinsics, stamp, camera_frame)),
    ]
    if frame.depth is not None:
        out.append((depth_topic, sensors.depth_to_image(types, frame.depth, stamp, camera_frame)))
    out.append(
        (pose_topic, sensors.matrix_to_pose_stamped(types, frame.T_world_cam, stamp, topics.world_frame))
    )
    # Where a message package is missing (a live node without tf2_msgs or vision_msgs), its topic is left out.
    if not sim.held_out and types.available("TFMessage"):
        tf = sensors.matrix_to_transform_stamped(
            types, frame.T_world_cam, stamp, topics.world_frame, camera_frame
        )
        out.append((topics.tf, sensors.tf_message(types, [tf])))
    if types.available("Classification"):
        scores, labels = [1.0] * len(sim.labels), list(sim.labels)
        out.append(
            (topics.ground_truth, msgs.classification_message(types, stamp, camera_frame, labels, scores))
        )
    return out


def _write_frame(writer: BagWriter, types: MessageTypes, sim: SimFrame, topics: SimTopics) -> None:
    for topic, msg in sim_frame_messages(types, sim, topics):
        writer.write(topic, msg, int(sim.frame.stamp_ns))


def capture_frames(capture: Capture, rate_hz: float = 4.0) -> Iterator[SimFrame]:
    """A posed photo capture as a camera stream without depth (what a monocular robot camera records).

    The training views are live frames in file order, one every ``1 / rate_hz`` seconds from t = 1 s; the
    held-out views follow the last one at the same rate (on the /eval topics, so they measure the final
    memory). Poses: the capture's camera→world (OpenCV axes); images after its undistortion and resizing.
    Ground truth: none (a capture names no classes).
    """
    period_ns = round(1e9 / rate_hz)
    views = [(capture.train, False)] + ([(capture.test, True)] if capture.test is not None else [])
    k = 0
    for split, held_out in views:
        for rgb, K, T in zip(split.rgb, split.K, split.T_world_cam):
            k += 1
            intrinsics = Intrinsics.from_K(K, int(rgb.shape[1]), int(rgb.shape[0]))
            frame = Frame(rgb.contiguous(), intrinsics, T.float(), 10**9 + k * period_ns)
            yield SimFrame(frame, held_out, ())
