"""What replay reads from a bag: the check that it has a live camera, and the routing of its messages to the
live and held-out frame assemblers (the node's own conversions, ros/sensor_conversions.py)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from ..core.frames import Frame
from ..pipeline.assembler import AssemblerConfig, FrameAssembler
from . import sensor_conversions as sensors
from .sim_bag import SimTopics
from .typestore import MESSAGE_TYPE_NAMES

_SIM = SimTopics()


@dataclass(frozen=True)
class ReplayTopics:
    """Input topics (defaults: what `gs-perception sim-bag` records; ros/sim_bag.py SimTopics)."""

    image: str = _SIM.image
    """sensor_msgs/Image of the live camera."""
    camera_info: str = _SIM.camera_info
    """sensor_msgs/CameraInfo of the live camera."""
    depth: str = _SIM.depth
    """Optional depth image at the image stamps ('' = ignore depth)."""
    pose: str = _SIM.pose
    """geometry_msgs/PoseStamped of the camera in world_frame ('' = take poses from tf)."""
    tf: str = _SIM.tf
    """tf2_msgs/TFMessage, read when pose is '' (world_frame → the image's frame_id, direct transforms)."""
    world_frame: str = _SIM.world_frame
    """Fixed frame of the poses and of the memory."""
    eval_image: str = _SIM.eval_image
    """Held-out images for the memory-render PSNR ('' = none)."""
    eval_camera_info: str = _SIM.eval_camera_info
    """Camera info of the held-out images."""
    eval_pose: str = _SIM.eval_pose
    """Poses (PoseStamped) of the held-out images."""
    ground_truth: str = _SIM.ground_truth
    """vision_msgs/Classification with the true class names, for accuracy ('' = none)."""
    output_namespace: str = "/gs_perception"
    """Prefix of the output topics in the output bag (the node's topics would be remapped likewise)."""


class ReplayInputError(ValueError):
    """The bag lacks what a live frame needs; the message lists the bag's topics and the remap flags."""


_IMAGE, _INFO, _POSE = (MESSAGE_TYPE_NAMES[n] for n in ("Image", "CameraInfo", "PoseStamped"))
INPUT_TYPES: dict[str, str] = {
    "image": _IMAGE,
    "camera_info": _INFO,
    "depth": _IMAGE,
    "pose": _POSE,
    "tf": MESSAGE_TYPE_NAMES["TFMessage"],
    "eval_image": _IMAGE,
    "eval_camera_info": _INFO,
    "eval_pose": _POSE,
    "ground_truth": MESSAGE_TYPE_NAMES["Classification"],
}
"""The message type replay reads on each :class:`ReplayTopics` topic."""


def topic_flag(field: str) -> str:
    """The command-line flag of ``ReplayConfig.topics.<field>`` (config.py add_dataclass_args names it so)."""
    return f"--topics-{field.replace('_', '-')}"


def check_inputs(
    bag: Path,
    topics: dict[str, str],
    counts: dict[str, int],
    inputs: ReplayTopics,
    assembler: AssemblerConfig,
) -> None:
    """Refuse a bag without a live camera: an image, its camera_info and a pose (or tf) topic with messages,
    of the types replay reads; other configured topics present must have their types too (depth is optional).

    Raises:
        ReplayInputError: Listing what is missing, the bag's topics and types, and the flags to remap.
    """
    t, wanted = inputs, ReplayInputs(inputs, assembler).wanted()
    required = ("image", "camera_info", "pose" if t.pose else "tf")
    problems = []
    for field, msgtype in INPUT_TYPES.items():
        name = getattr(t, field)
        if name not in wanted:
            continue
        if name in topics and topics[name] != msgtype:
            problems.append(
                f"  {name} is {topics[name]}, not {msgtype}: choose another with {topic_flag(field)}"
            )
        elif field in required and not counts.get(name):
            why = "has no messages" if name in topics else "is not in the bag"
            problems.append(f"  {name} ({msgtype}) {why}: remap with {topic_flag(field)} TOPIC")
    if not problems:
        return
    listing = [f"  {name}  {msgtype}  ({counts.get(name, 0)} messages)" for name, msgtype in topics.items()]
    if len(listing) > 40:
        listing[40:] = [f"  ... and {len(listing) - 40} more"]
    tf_hint = f" (or {topic_flag('pose')} '' with {topic_flag('tf')} and {topic_flag('world_frame')})"
    raise ReplayInputError(
        "\n".join(
            [
                f"{bag} cannot be replayed: a live frame needs an image, its camera_info and a camera pose "
                "(depth is optional)",
                *problems,
                f"the bag has {len(topics)} topic(s):" if topics else "the bag has no topics",
                *listing,
                f"remap the inputs with {', '.join(topic_flag(f) for f in required)}"
                + (tf_hint if t.pose else "")
                + "; 'gs-perception replay -h' lists every --topics-* flag",
            ]
        )
    )


class ReplayInputs:
    """Routes bag messages to the live and held-out assemblers; collects ground truth and skips."""

    def __init__(self, topics: ReplayTopics, assembler: AssemblerConfig):
        self.topics, self.use_depth = topics, assembler.use_depth
        self.live = FrameAssembler(assembler)
        self.heldout = FrameAssembler(AssemblerConfig(use_depth=False))
        self.truth: list[str] = []
        self.skipped: dict[str, int] = {}

    def wanted(self) -> set[str]:
        t = self.topics
        names = {t.image, t.camera_info, t.eval_image, t.eval_camera_info, t.eval_pose, t.ground_truth}
        names |= {t.depth} if self.use_depth else set()
        names |= {t.pose} if t.pose else {t.tf}
        return {n for n in names if n}

    def feed(self, topic: str, msg: object) -> tuple[list[Frame], list[Frame]]:
        """(live frames, held-out frames) this message completes; conversion errors are skipped."""
        try:
            return self._route(topic, msg)
        except (ValueError, KeyError, AttributeError) as err:  # ConversionError, FrameError, odd messages
            self.skipped[topic] = self.skipped.get(topic, 0) + 1
            warnings.warn(f"replay: skipped a message on {topic}: {err}", stacklevel=2)
            return [], []

    def _route(self, topic: str, msg: object) -> tuple[list[Frame], list[Frame]]:
        t = self.topics
        stamp = lambda m: sensors.stamp_to_ns(m.header.stamp)  # noqa: E731
        if topic == t.camera_info:
            return self.live.add_camera_info(sensors.camera_info_to_intrinsics(msg)), []
        elif topic == t.eval_camera_info:
            return [], self.heldout.add_camera_info(sensors.camera_info_to_intrinsics(msg))
        elif topic == t.image:
            return self.live.add_image(stamp(msg), msg.header.frame_id, sensors.image_to_rgb(msg)), []
        elif topic == t.depth:
            return self.live.add_depth(stamp(msg), sensors.image_to_depth(msg)), []
        elif topic == t.pose:
            return self.live.add_pose(stamp(msg), sensors.pose_to_matrix(msg.pose)), []
        elif topic == t.tf:
            frames: list[Frame] = []
            for tf in msg.transforms:
                if tf.header.frame_id == t.world_frame:
                    frames += self.live.add_pose(stamp(tf), sensors.transform_to_matrix(tf.transform))
            return frames, []
        elif topic == t.eval_image:
            return [], self.heldout.add_image(stamp(msg), msg.header.frame_id, sensors.image_to_rgb(msg))
        elif topic == t.eval_pose:
            return [], self.heldout.add_pose(stamp(msg), sensors.pose_to_matrix(msg.pose))
        elif topic == t.ground_truth and not self.truth:
            self.truth = [r.class_id for r in msg.results]  # vision_msgs/Classification: ObjectHypothesis[]
        return [], []
