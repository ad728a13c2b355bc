"""The perception node's wiring: parameters → pipeline and worker, subscriptions, publishers, services, TF.

Kept apart from ros/perception_node.py so that the node class stays a few lines and everything it owns is
one object with typed attributes. Imports rclpy lazily, inside methods, like the rest of ``ros/``.
Conventions: stamps are integer nanoseconds; poses ``T_world_cam`` (camera→world, OpenCV/REP-105 optical
axes); ROS quaternions (xyzw) are converted in ros/sensor_conversions.py only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..pipeline.assembler import FrameAssembler
from ..pipeline.step import Pipeline, StepOutputs
from ..pipeline.worker import PipelineWorker
from . import perception_msgs as msgs
from . import sensor_conversions as sensors
from .interface import TOPICS, PerceptionNodeConfig
from .params import declare_config
from .tf_poses import PendingPoses, make_tf_buffer
from .typestore import MessageTypes

#: Output history per topic: enough for a slow reliable subscriber to not lose a frame at a few Hz.
OUTPUT_DEPTH = 10
#: Outputs that need vision_msgs; without that package (and without a bundle) the node runs memory-only.
VISION_TOPICS = ("detections", "classification", "label_info")


class NodeCallbacks:
    """Everything the perception node owns, built from its declared parameters.

    Args:
        node: The ``rclpy.node.Node`` to declare on, subscribe and publish with.
    """

    def __init__(self, node: Any) -> None:
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from std_srvs.srv import Trigger

        self.node = node
        self.config: PerceptionNodeConfig = declare_config(node, PerceptionNodeConfig)
        self.types = MessageTypes.from_rclpy()
        self.warn = WarningThrottle(node.get_logger().warning, self.config.warn_throttle_s)
        self.assembler = FrameAssembler(self.config.assembler)
        self.pending = PendingPoses(self.config.world_frame, self.config.tf_timeout_s)
        self.tf_buffer: Any = None
        self.closed = False
        pipeline = Pipeline(self.config.pipeline)
        self.publishers = self._make_publishers(pipeline)
        self.live_view = self._make_live_view()
        self.worker = PipelineWorker(
            pipeline,
            self._publish,
            lambda what, err: self.warn("step", f"{what}: {err}"),
            self.config.queue_size,
            observers=() if self.live_view is None else (self.live_view,),
        )
        self.inputs = MutuallyExclusiveCallbackGroup()
        self._subscribe()
        services = MutuallyExclusiveCallbackGroup()
        node.create_service(Trigger, "save_memory", self._save, callback_group=services)
        node.create_service(Trigger, "reset_memory", self._reset, callback_group=services)
        node.create_timer(self.config.diagnostics_period_s, self._diagnostics)
        self.started = time.monotonic()
        self._publish_label_info(pipeline)

    def close(self) -> None:
        """Stop the worker (it finishes its step, publishes nothing more) and join it; stop the live view."""
        self.closed = True
        self.worker.close()
        if self.live_view is not None:
            self.live_view.close()

    def _make_live_view(self) -> Any:
        """The live web view (parameter view.enabled), or None."""
        if not self.config.view.enabled:
            return None
        from ..viewer.live import LiveView

        live = LiveView(self.config.view, title=self.node.get_name())
        self.node.get_logger().info(f"live view at {live.url}")
        return live

    # --- wiring -------------------------------------------------------------------------------------------

    def _make_publishers(self, pipeline: Pipeline) -> dict[str, Any]:
        vision = self.types.available("Detection3DArray")
        if not vision and pipeline.recogniser is not None:
            _ = self.types.Detection3DArray  # raises MissingMessagePackageError naming vision_msgs
        if not vision:
            self.node.get_logger().warning(
                f"vision_msgs is not installed: no {', '.join(VISION_TOPICS)} (fine without a bundle)"
            )
        return {
            t.name: self.node.create_publisher(
                getattr(self.types, t.type.split("/")[1]), t.name, output_qos(latched=t.name == "label_info")
            )
            for t in TOPICS
            if t.direction == "out" and (vision or t.name not in VISION_TOPICS)
        }

    def _subscribe(self) -> None:
        config, types, node = self.config, self.types, self.node
        qos = sensor_qos(config.qos_reliability, config.qos_depth)
        group = self.inputs
        subscriptions = {
            "image": (types.Image, self._on_image),
            "camera_info": (types.CameraInfo, self._on_info),
        }
        if config.assembler.use_depth:
            subscriptions["depth"] = (types.Image, self._on_depth)
        if config.pose_source == "topic":
            subscriptions["pose"] = (types.PoseStamped, self._on_pose)
        elif config.pose_source == "tf":
            self._subscribe_tf()
        else:
            raise ValueError(f"pose_source must be 'topic' or 'tf', got {config.pose_source!r}")
        for topic, (cls, handler) in subscriptions.items():
            node.create_subscription(cls, topic, self._guarded(topic, handler), qos, callback_group=group)

    def _subscribe_tf(self) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

        self.tf_buffer = make_tf_buffer()
        dynamic = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        static = QoSProfile(
            depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        for topic, qos, is_static in (("/tf", dynamic, False), ("/tf_static", static, True)):
            handler = self._tf_handler(is_static)
            self.node.create_subscription(
                self.types.TFMessage, topic, self._guarded(topic, handler), qos, callback_group=self.inputs
            )

    def _guarded(self, kind: str, handler: Callable[[Any], list]) -> Callable[[Any], None]:
        """A subscription callback: frames to the worker; bad input dropped with a throttled warning."""

        def callback(msg: Any) -> None:
            try:
                for frame in handler(msg):
                    self.worker.put(frame)
            except (ValueError, KeyError) as err:  # ConversionError, FrameError, TfError: drop, carry on
                self.warn(kind, f"dropped a message on {kind}: {err}")
            for drop in self.assembler.take_dropped():
                self.warn("frame", f"dropped the frame at {drop.stamp_ns} ns: {drop.reason}")

        return callback

    # --- inputs -------------------------------------------------------------------------------------------

    def _on_image(self, msg: Any) -> list:
        stamp = sensors.stamp_to_ns(msg.header.stamp)
        frames = self.assembler.add_image(stamp, msg.header.frame_id, sensors.image_to_rgb(msg))
        if self.tf_buffer is not None:
            for dropped, reason in self.pending.add(stamp, msg.header.frame_id, time.monotonic()):
                self.warn("tf", f"dropped the frame at {dropped} ns: {reason}")
            frames += self._resolve_tf()
        return frames

    def _on_info(self, msg: Any) -> list:
        return self.assembler.add_camera_info(sensors.camera_info_to_intrinsics(msg))

    def _on_depth(self, msg: Any) -> list:
        return self.assembler.add_depth(sensors.stamp_to_ns(msg.header.stamp), sensors.image_to_depth(msg))

    def _on_pose(self, msg: Any) -> list:
        return self.assembler.add_pose(
            sensors.stamp_to_ns(msg.header.stamp), sensors.pose_to_matrix(msg.pose)
        )

    def _tf_handler(self, static: bool) -> Callable[[Any], list]:
        def on_tf(msg: Any) -> list:
            self.tf_buffer.add_message(msg, static=static)
            for error in getattr(self.tf_buffer, "last_errors", []):
                self.warn("tf", f"dropped a transform: {error}")
            return self._resolve_tf()

        return on_tf

    def _resolve_tf(self) -> list:
        poses, dropped = self.pending.resolve(self.tf_buffer, time.monotonic())
        for stamp, reason in dropped:
            self.warn("tf", f"dropped the frame at {stamp} ns: {reason}")
        return [frame for stamp, T in poses for frame in self.assembler.add_pose(stamp, T)]

    # --- outputs and services -----------------------------------------------------------------------------

    def _publish(self, outputs: StepOutputs) -> None:
        from .outputs import output_messages

        if self.closed:
            return
        for topic, msg in output_messages(self.types, outputs, self.config.world_frame):
            if topic in self.publishers:
                self.publishers[topic].publish(msg)

    def _publish_label_info(self, pipeline: Pipeline) -> None:
        if pipeline.recogniser is None:
            return
        names = pipeline.recogniser.bundle.class_names
        stamp = self.node.get_clock().now().nanoseconds
        msg = msgs.label_info_message(self.types, names, stamp, self.config.world_frame, 0.0)
        self.publishers["label_info"].publish(msg)

    def _save(self, request: Any, response: Any) -> Any:
        path = self.config.save_path
        try:
            count = self.worker.call(lambda p: (p.memory.save(path), p.memory.stats.gaussians)[1]).result(
                60.0
            )
            response.success, response.message = True, f"saved {count} Gaussians to {path}"
        except Exception as err:  # report to the caller instead of killing the node
            response.success, response.message = False, f"could not save to {path}: {err}"
        return response

    def _reset(self, request: Any, response: Any) -> Any:
        try:
            self.worker.call(lambda p: p.reset()).result(60.0)
            self.assembler.restart()
            response.success, response.message = True, "memory reset"
        except Exception as err:
            response.success, response.message = False, f"reset failed: {err}"
        return response

    def _diagnostics(self) -> None:
        msg = diagnostics_message(
            self.types,
            self.node.get_clock().now().to_msg(),
            self.worker.pipeline.memory.stats,
            self.worker.stats,
            time.monotonic() - self.started,
        )
        self.publishers["/diagnostics"].publish(msg)


def sensor_qos(reliability: str, depth: int) -> Any:
    """QoS of the sensor subscriptions ('best_effort' or 'reliable', keep last ``depth``)."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

    policies = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    if reliability not in policies:
        raise ValueError(f"qos_reliability must be one of {sorted(policies)}, got {reliability!r}")
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST, reliability=policies[reliability])


def output_qos(latched: bool = False) -> Any:
    """QoS of the outputs: reliable; ``latched`` (label_info) also transient-local with depth 1."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        depth=1 if latched else OUTPUT_DEPTH,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE,
    )


class WarningThrottle:
    """At most one warning per kind per ``period_s`` (rclpy's throttle keys on the call site, not the kind).

    Args:
        log: Called with each warning that passes (the node's logger ``warning``).
        period_s: Minimum seconds between two warnings of one kind.
    """

    def __init__(self, log: Any, period_s: float) -> None:
        self.log, self.period_s, self.last = log, period_s, {}

    def __call__(self, kind: str, text: str, now_s: float | None = None) -> bool:
        """Log ``text`` unless a ``kind`` warning was logged less than ``period_s`` ago; True if logged."""
        now_s = time.monotonic() if now_s is None else now_s
        if now_s - self.last.get(kind, -float("inf")) < self.period_s:
            return False
        self.last[kind] = now_s
        self.log(text)
        return True


def diagnostics_message(types: Any, stamp: Any, stats: Any, worker: Any, elapsed_s: float) -> Any:
    """/diagnostics status: keyframes, Gaussians, frames received/processed/dropped/failed, step rate, and
    where insertion places what the memory has not seen (what it assumes without depth images)."""
    status_cls = types.DiagnosticStatus
    values = {
        "keyframes": stats.keyframes,
        "gaussians": stats.gaussians,
        "frames_received": worker.received,
        "frames_processed": worker.processed,
        "frames_dropped": worker.dropped,
        "frames_failed": worker.failed,
        "step_rate_hz": f"{worker.processed / max(elapsed_s, 1e-9):.2f}",
        "insertion_depth": stats.insertion_depth or "no keyframe yet",
    }
    status = status_cls(
        # The class constants: rclpy's `byte` field wants b"\x00", rosbags' an int.
        level=status_cls.OK if worker.failed == 0 else status_cls.WARN,
        name="gs_perception: perception_node",
        message=f"{stats.keyframes} keyframes, {stats.gaussians} Gaussians",
        hardware_id="gs_perception",
        values=[types.KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )
    return types.DiagnosticArray(header=types.Header(stamp=stamp, frame_id=""), status=[status])
