"""``perception_node``: camera images and poses in; Gaussian memory, embeddings, class predictions and
memory-rendered views out (DESIGN §7). Topics, services and parameters: ros/interface.py and the README.

The node only converts: message callbacks decode and hand inputs to a
:class:`~gs_perception.pipeline.assembler.FrameAssembler`; complete frames go to a
:class:`~gs_perception.pipeline.worker.PipelineWorker` (drop-oldest queue, one thread owns the GPU);
the worker's outputs become messages through :func:`~gs_perception.ros.outputs.output_messages` — the same
function bag replay uses, so what replay measures is what the robot publishes. Services run in their own
callback group and execute on the worker thread between frames.
"""

from __future__ import annotations

import time
from typing import Any

from . import require_rclpy


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run gs_perception perception_node`` (explicit init, shutdown in finally)."""
    rclpy = require_rclpy()
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor

    rclpy.init(args=args)
    node = None
    try:
        node = _make_node()
        executor = MultiThreadedExecutor(num_threads=3)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def _make_node() -> Any:
    # The class is defined inside a function so that importing this module never imports rclpy.
    from rclpy.node import Node

    class PerceptionNode(Node):
        def __init__(self) -> None:
            super().__init__("perception_node")
            _setup(self)

        def close(self) -> None:
            self.worker.close()

    return PerceptionNode()


def _qos(config: Any, latched: bool = False) -> Any:
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    if latched:  # label_info: late subscribers still get the class names
        return QoSProfile(
            depth=1,
            history=HistoryPolicy.KEEP_LAST,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
    reliability = {"best_effort": ReliabilityPolicy.BEST_EFFORT, "reliable": ReliabilityPolicy.RELIABLE}
    if config.qos_reliability not in reliability:
        raise ValueError(
            f"qos_reliability must be one of {sorted(reliability)}, got {config.qos_reliability!r}"
        )
    return QoSProfile(
        depth=config.qos_depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=reliability[config.qos_reliability],
    )


def _setup(node: Any) -> None:
    """Parameters, pipeline, worker, subscriptions, publishers, services, timers."""
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

    from ..pipeline.assembler import FrameAssembler
    from ..pipeline.step import Pipeline
    from ..pipeline.worker import PipelineWorker
    from .interface import TOPICS, PerceptionNodeConfig
    from .params import declare_config
    from .typestore import MessageTypes

    config = declare_config(node, PerceptionNodeConfig)
    node.config, node.types = config, MessageTypes.from_rclpy()
    node.assembler = FrameAssembler(config.assembler)
    node.last_warn: dict[str, float] = {}
    pipeline = Pipeline(config.pipeline)
    pipeline.start()
    node.worker = PipelineWorker(
        pipeline,
        lambda out: _publish(node, out),
        lambda what, err: _warn(node, "step", f"{what}: {err}"),
        queue_size=config.queue_size,
    )
    node.publishers_by_topic = {
        t.name: node.create_publisher(
            getattr(node.types, t.type.split("/")[1]), t.name, _qos(config, t.name == "label_info")
        )
        for t in TOPICS
        if t.direction == "out"
    }
    _subscribe(node, config)
    services = MutuallyExclusiveCallbackGroup()
    from std_srvs.srv import Trigger

    node.create_service(Trigger, "save_memory", lambda req, res: _save(node, res), callback_group=services)
    node.create_service(Trigger, "reset_memory", lambda req, res: _reset(node, res), callback_group=services)
    node.create_timer(config.diagnostics_period_s, lambda: _diagnostics(node))
    node.started = time.monotonic()
    _publish_label_info(node, pipeline)


def _subscribe(node: Any, config: Any) -> None:
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup

    from . import conversions as cv

    types, qos, group = node.types, _qos(config), MutuallyExclusiveCallbackGroup()

    def guarded(kind: str, fn: Any) -> Any:
        def callback(msg: Any) -> None:
            try:
                for frame in fn(msg):
                    node.worker.put(frame)
            except (ValueError, KeyError) as err:  # ConversionError, FrameError: drop, warn, carry on
                _warn(node, kind, f"dropped a {kind} message: {err}")
            for drop in node.assembler.take_dropped():
                _warn(node, "frame", f"dropped the frame at {drop.stamp_ns} ns: {drop.reason}")

        return callback

    def on_image(msg: Any) -> list:
        stamp = cv.stamp_to_ns(msg.header.stamp)
        frames = node.assembler.add_image(stamp, msg.header.frame_id, cv.image_to_rgb(msg))
        if config.pose_source == "tf":
            T = _lookup(node, config, msg.header.frame_id, stamp)
            frames += node.assembler.add_pose(stamp, T) if T is not None else []
        return frames

    def on_info(msg: Any) -> list:
        return node.assembler.add_camera_info(cv.camera_info_to_intrinsics(msg))

    node.create_subscription(types.Image, "image", guarded("image", on_image), qos, callback_group=group)
    node.create_subscription(
        types.CameraInfo, "camera_info", guarded("camera_info", on_info), qos, callback_group=group
    )

    def on_depth(msg: Any) -> list:
        return node.assembler.add_depth(cv.stamp_to_ns(msg.header.stamp), cv.image_to_depth(msg))

    def on_pose(msg: Any) -> list:
        return node.assembler.add_pose(cv.stamp_to_ns(msg.header.stamp), cv.pose_to_matrix(msg.pose))

    if config.assembler.use_depth:
        node.create_subscription(types.Image, "depth", guarded("depth", on_depth), qos, callback_group=group)
    if config.pose_source == "topic":
        node.create_subscription(
            types.PoseStamped, "pose", guarded("pose", on_pose), qos, callback_group=group
        )
    elif config.pose_source == "tf":
        from tf2_ros import Buffer, TransformListener

        node.tf_buffer = Buffer()
        node.tf_listener = TransformListener(node.tf_buffer, node)
    else:
        raise ValueError(f"pose_source must be 'topic' or 'tf', got {config.pose_source!r}")


def _lookup(node: Any, config: Any, frame_id: str, stamp_ns: int) -> Any:
    """``T_world_cam`` from TF at the image stamp (never 'latest'), or None with a throttled warning."""
    from rclpy.duration import Duration
    from rclpy.time import Time

    from . import conversions as cv

    try:
        tf = node.tf_buffer.lookup_transform(
            config.world_frame,
            frame_id,
            Time(nanoseconds=stamp_ns),
            timeout=Duration(seconds=config.tf_timeout_s),
        )
    except Exception as err:  # tf2 raises several exception types; all mean "no pose for this frame"
        _warn(node, "tf", f"no transform {config.world_frame} → {frame_id} at {stamp_ns} ns: {err}")
        return None
    return cv.transform_to_matrix(tf.transform)


def _publish(node: Any, outputs: Any) -> None:
    from .outputs import output_messages

    for topic, msg in output_messages(node.types, outputs, node.config.world_frame):
        node.publishers_by_topic[topic].publish(msg)


def _publish_label_info(node: Any, pipeline: Any) -> None:
    from . import conversions as cv

    if pipeline.recogniser is None:
        return
    names = pipeline.recogniser.bundle.class_names
    stamp = node.get_clock().now().nanoseconds
    node.publishers_by_topic["label_info"].publish(
        cv.label_info_message(node.types, names, stamp, node.config.world_frame, 0.0)
    )


def _save(node: Any, response: Any) -> Any:
    path = node.config.save_path
    try:
        count = node.worker.call(lambda p: (p.memory.save(path), p.memory.stats.gaussians)[1]).result(60.0)
        response.success, response.message = True, f"saved {count} Gaussians to {path}"
    except Exception as err:  # report to the caller instead of killing the node
        response.success, response.message = False, f"could not save to {path}: {err}"
    return response


def _reset(node: Any, response: Any) -> Any:
    try:
        node.worker.call(lambda p: p.reset()).result(60.0)
        response.success, response.message = True, "memory reset"
    except Exception as err:
        response.success, response.message = False, f"reset failed: {err}"
    return response


def _warn(node: Any, kind: str, text: str) -> None:
    """One warning per kind per ``warn_throttle_s`` (rclpy's throttle keys on the call site, not the kind)."""
    now = time.monotonic()
    if now - node.last_warn.get(kind, -1e9) >= node.config.warn_throttle_s:
        node.last_warn[kind] = now
        node.get_logger().warning(text)


def diagnostics_message(types: Any, stamp: Any, stats: Any, worker: Any, elapsed_s: float) -> Any:
    """/diagnostics status: keyframes, Gaussians, frames received/processed/dropped/failed, step rate."""
    status_cls = types.DiagnosticStatus
    values = {
        "keyframes": stats.keyframes,
        "gaussians": stats.gaussians,
        "frames_received": worker.received,
        "frames_processed": worker.processed,
        "frames_dropped": worker.dropped,
        "frames_failed": worker.failed,
        "step_rate_hz": f"{worker.processed / max(elapsed_s, 1e-9):.2f}",
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


def _diagnostics(node: Any) -> None:
    msg = diagnostics_message(
        node.types,
        node.get_clock().now().to_msg(),
        node.worker.pipeline.memory.stats,
        node.worker.stats,
        time.monotonic() - node.started,
    )
    node.publishers_by_topic["/diagnostics"].publish(msg)
