"""``sim_camera_node``: a simulated camera orbiting procedural objects or meshes, published live.

It publishes exactly what ``gs-perception sim-bag`` records (ros/sim_bag.py :func:`sim_frame_messages`):
image, camera_info, depth, pose and /tf, plus held-out frames and ground truth on /eval/* — and /clock, so
nodes started with ``use_sim_time`` follow the simulation's stamps. Rendering (pyrender, EGL) runs in one
thread that owns the GL context; the orbit restarts after the last frame with stamps that keep increasing.
Parameters: one per field of :class:`~gs_perception.ros.sim_camera.SimNodeConfig`.

This module imports almost nothing until ``main()`` runs (the simulator needs torch, trimesh, pyrender), so a
Ctrl-C at any moment of start-up is handled by ros/node_main.py.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from .node_main import run_node


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run gs_perception sim_camera_node`` (and ``python -m`` of this module)."""
    return run_node(_make_node, args)


def _make_node() -> Any:
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from ..data.sim import simulate
    from . import sensor_conversions as sensors
    from .params import declare_config
    from .sim_bag import SimTopics, sim_frame_messages
    from .sim_camera import SimNodeConfig, laps
    from .typestore import MessageTypes

    class SimCameraNode(Node):
        def __init__(self) -> None:
            super().__init__("sim_camera_node")
            self.config = declare_config(self, SimNodeConfig)
            self.types, self.topics = MessageTypes.from_rclpy(), SimTopics()
            self.qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self.pubs: dict[str, Any] = {}
            self.stop = threading.Event()
            for short, what in (("TFMessage", "/tf"), ("Classification", "ground truth")):
                if not self.types.available(short):
                    self.get_logger().warning(f"{self.types.type_name(short)} is not installed: no {what}")
            if self.config.publish_clock:
                self.clock_pub = self.create_publisher(self.types.Clock, "/clock", self.qos)
            # Daemon only as a last resort (a Ctrl-C before close() exists); close() joins it.
            self.thread = threading.Thread(target=self.run, name="sim_camera", daemon=True)
            self.thread.start()

        def close(self) -> None:
            # Join the render thread before the context goes: a publish after shutdown raises, and a thread
            # still inside the middleware at exit aborts the process.
            self.stop.set()
            self.thread.join(timeout=30.0)

        def publish(self, topic: str, msg: Any) -> None:
            if topic not in self.pubs:  # publishers made on first use: the message fixes the type
                self.pubs[topic] = self.create_publisher(type(msg), topic, self.qos)
            self.pubs[topic].publish(msg)

        def run(self) -> None:
            # One thread renders and publishes: pyrender's EGL context belongs to the thread that made it.
            start, first = time.monotonic(), None
            for sim in laps(self.config, simulate):
                first = sim.frame.stamp_ns if first is None else first
                # Real time follows the simulated stamps (held-out frames sit between live ones).
                if self.stop.wait(max(0.0, start + (sim.frame.stamp_ns - first) / 1e9 - time.monotonic())):
                    return
                if self.config.publish_clock:
                    self.clock_pub.publish(
                        self.types.Clock(clock=sensors.ns_to_stamp(self.types, sim.frame.stamp_ns))
                    )
                if sim.held_out and not self.config.publish_held_out:
                    continue
                for topic, msg in sim_frame_messages(self.types, sim, self.topics):
                    if self.stop.is_set():
                        return
                    self.publish(topic, msg)

    return SimCameraNode()


if __name__ == "__main__":
    sys.exit(main())
