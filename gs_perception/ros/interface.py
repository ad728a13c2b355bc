"""The perception node's ROS 2 interface as data: its config dataclass, topics and services (ROS-free).

The node (ros/perception_node.py) declares one parameter per leaf field of :class:`PerceptionNodeConfig`
(dotted names: ``pipeline.memory.max_gaussians``), subscribes and publishes the :data:`TOPICS` below, and
offers the :data:`SERVICES`. The README's interface tables are generated from this module by
:func:`markdown_tables` and a test keeps them equal, so documentation cannot drift from the code.

Why one node, not a memory node plus a recognition node: recognition reads the whole Gaussian memory (GPU
tensors) after every few keyframes; in one process that is a pointer, across nodes it would be a
serialised copy of up to 10⁵–10⁶ Gaussians per update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..config import flatten_fields
from ..core.choices import check_choices
from ..pipeline.assembler import AssemblerConfig
from ..pipeline.step import PipelineConfig
from ..viewer.config import ViewerConfig


@dataclass(frozen=True)
class PerceptionNodeConfig:
    """Parameters of the perception node (launch and YAML files only override these defaults)."""

    pipeline: PipelineConfig = PipelineConfig()
    """Memory, recognition and output rates."""
    assembler: AssemblerConfig = AssemblerConfig()
    """How image, camera_info, depth and pose are matched by stamp."""
    pose_source: Literal["topic", "tf"] = "topic"
    """'topic': geometry_msgs/PoseStamped on `pose` (camera optical frame in the world frame); 'tf': look up
    world_frame → the image's frame_id at the image stamp."""
    world_frame: str = "world"
    """Fixed frame of the memory (REP-103, z up); frame of the Gaussians and detections outputs."""
    tf_timeout_s: float = 0.05
    """How long a TF lookup at the image stamp may wait for the transform."""
    queue_size: int = 2
    """Frames waiting for the worker; a new frame drops the oldest (the pipeline never falls behind)."""
    qos_reliability: Literal["best_effort", "reliable"] = "best_effort"
    """Sensor subscriptions: 'best_effort' (sensor data) or 'reliable' (e.g. for `ros2 bag play`)."""
    qos_depth: int = 5
    """History depth of the sensor subscriptions."""
    save_path: str = "gaussian_memory.ply"
    """Where the `save_memory` service writes the memory (INRIA PLY)."""
    diagnostics_period_s: float = 1.0
    """Period of the /diagnostics status (keyframes, Gaussians, rates, drops)."""
    warn_throttle_s: float = 5.0
    """At most one warning per this many seconds per kind of dropped input."""
    view: ViewerConfig = ViewerConfig()
    """The live web view of the memory (view.enabled true; docs/viewer.md), off by default."""

    def __post_init__(self):
        check_choices(self)


@dataclass(frozen=True)
class Topic:
    """One topic of the node. ``direction``: 'in' or 'out'; names are relative (remap them in launch)."""

    name: str
    type: str
    direction: str
    description: str


TOPICS: tuple[Topic, ...] = (
    Topic("image", "sensor_msgs/Image", "in", "Camera image: rgb8, bgr8, rgba8, bgra8 or mono8."),
    Topic(
        "camera_info", "sensor_msgs/CameraInfo", "in", "Intrinsics of `image` (distortion ignored: rectify)."
    ),
    Topic(
        "depth", "sensor_msgs/Image", "in", "Optional depth at the image stamps: 32FC1 metres or 16UC1 mm."
    ),
    Topic(
        "pose",
        "geometry_msgs/PoseStamped",
        "in",
        "Camera optical frame in `world_frame` (pose_source=topic).",
    ),
    Topic(
        "memory_view",
        "sensor_msgs/Image",
        "out",
        "The memory rendered at the input pose (rgb8, input stamp).",
    ),
    Topic(
        "gaussians",
        "sensor_msgs/PointCloud2",
        "out",
        "Decimated memory: x y z rgb opacity scale, world frame.",
    ),
    Topic(
        "detections", "vision_msgs/Detection3DArray", "out", "Objects in the memory: id, class scores, box."
    ),
    Topic("classification", "vision_msgs/Classification", "out", "Class scores of the largest object."),
    Topic(
        "embeddings/image",
        "sensor_msgs/Image",
        "out",
        "32FC1, one row per detection (same stamp, same order): max-pooled memory-view embeddings.",
    ),
    Topic(
        "embeddings/gaussians",
        "sensor_msgs/Image",
        "out",
        "32FC1, one row per detection: Gaussian embeddings.",
    ),
    Topic("label_info", "vision_msgs/LabelInfo", "out", "Class names of the bundle (transient-local, once)."),
    Topic(
        "/diagnostics", "diagnostic_msgs/DiagnosticArray", "out", "Keyframes, Gaussians, step rate, drops."
    ),
)

SERVICES: tuple[Topic, ...] = (
    Topic("save_memory", "std_srvs/Trigger", "service", "Write the memory to `save_path` (PLY)."),
    Topic("reset_memory", "std_srvs/Trigger", "service", "Forget all Gaussians, keyframes and objects."),
)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|")


def markdown_tables() -> str:
    """The README's topics, services and parameters tables (Markdown), generated from this module."""
    lines = ["| topic | type | in/out | what |", "|---|---|---|---|"]
    lines += [f"| `{t.name}` | {t.type} | {t.direction} | {_cell(t.description)} |" for t in TOPICS]
    lines += ["", "| service | type | what |", "|---|---|---|"]
    lines += [f"| `{s.name}` | {s.type} | {_cell(s.description)} |" for s in SERVICES]
    lines += ["", "| parameter | type | default | what |", "|---|---|---|---|"]
    for f in flatten_fields(PerceptionNodeConfig):
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        lines.append(f"| `{f.name}` | {f.kind} | `{default!r}` | {_cell(f.description)} |")
    return "\n".join(lines) + "\n"


README_BEGIN, README_END = "<!-- interface-tables:begin -->\n", "<!-- interface-tables:end -->"


def write_readme(path: str = "README.md") -> bool:
    """Replace the generated tables between the README markers; True if the file changed."""
    from pathlib import Path

    text = Path(path).read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{path}: markers {README_BEGIN.strip()} … {README_END} not found")
    head, rest = text.split(README_BEGIN, 1)
    new = head + README_BEGIN + markdown_tables() + README_END + rest.split(README_END, 1)[1]
    if new != text:
        Path(path).write_text(new)
    return new != text


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-readme"]:
        print("README.md updated" if write_readme() else "README.md already up to date")
    else:
        print(markdown_tables(), end="")
