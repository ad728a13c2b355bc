"""``perception_node``: camera images and poses in; Gaussian memory, embeddings, class predictions and
memory-rendered views out (DESIGN §7). Topics, services and parameters: ros/interface.py and the README.

The node only converts: message callbacks decode and hand inputs to a
:class:`~gs_perception.pipeline.assembler.FrameAssembler`; complete frames go to a
:class:`~gs_perception.pipeline.worker.PipelineWorker` (drop-oldest queue, one thread owns the GPU);
the worker's outputs become messages through :func:`~gs_perception.ros.outputs.output_messages` — the same
function bag replay uses, so what replay measures is what the robot publishes. Services run in their own
callback group and execute on the worker thread between frames. Bad input (an unknown encoding, a NaN pose,
a 0×0 image …) is dropped with a warning, at most one per kind per ``warn_throttle_s``.

QoS: sensor subscriptions follow ``qos_reliability`` (best-effort by default, like camera drivers); every
output is published *reliable*, which both reliable (the default for ``ros2 topic echo`` and most nodes) and
best-effort subscribers can receive; ``label_info`` is also transient-local, so late subscribers get it.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .node_main import run_node

#: Output history per topic: enough for a slow reliable subscriber to not lose a frame at a few Hz.
OUTPUT_DEPTH = 10


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run gs_perception perception_node`` (and ``python -m`` of this module)."""
    return run_node(_make_node, args, threads=3)


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


def _make_node() -> Any:
    # The class is defined inside a function so that importing this module never imports rclpy.
    from rclpy.node import Node

    from .perception_callbacks import NodeCallbacks

    class PerceptionNode(Node):
        def __init__(self) -> None:
            super().__init__("perception_node")
            self.callbacks = NodeCallbacks(self)

        def close(self) -> None:
            self.callbacks.close()

    return PerceptionNode()


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


if __name__ == "__main__":
    sys.exit(main())
