"""``sim_camera_node``: a simulated camera orbiting procedural objects or meshes, published live.

It publishes exactly what ``gs-perception sim-bag`` records (ros/sim_bag.py :func:`sim_frame_messages`):
image, camera_info, depth, pose and /tf, plus held-out frames and ground truth on /eval/* — and /clock, so
nodes started with ``use_sim_time`` follow the simulation's stamps. Rendering (pyrender, EGL) runs in one
thread that owns the GL context; the orbit restarts after the last frame with stamps that keep increasing.
Parameters: one per field of :class:`SimNodeConfig` (``sim.objects``, ``sim.rate_hz`` …).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..data.sim import SimConfig, SimFrame
from . import require_rclpy
from .sim_bag import SimTopics


@dataclass(frozen=True)
class SimNodeConfig:
    """Parameters of the simulated camera node."""

    sim: SimConfig = SimConfig()
    """Scene, camera, trajectory and rate (data/sim.py)."""
    loop: bool = True
    """Orbit again after the last frame (stamps keep increasing); False: publish one orbit, then idle."""
    publish_held_out: bool = True
    """Also publish the held-out evaluation frames on /eval/* (they never reach the memory)."""
    publish_clock: bool = True
    """Publish /clock with the frame stamps (for use_sim_time)."""


def shifted(sim: SimFrame, offset_ns: int) -> SimFrame:
    """The frame ``offset_ns`` later (the next lap of a looping orbit)."""
    return dataclasses.replace(
        sim, frame=dataclasses.replace(sim.frame, stamp_ns=sim.frame.stamp_ns + offset_ns)
    )


def laps(config: SimNodeConfig, simulate: Any) -> Any:
    """Simulated frames lap after lap (one lap without ``loop``), stamps strictly increasing."""
    period_ns = round(1e9 * config.sim.frames / config.sim.rate_hz)
    lap = 0
    while True:
        for sim in simulate(config.sim):
            yield shifted(sim, lap * period_ns)
        lap += 1
        if not config.loop:
            return


def main(args: list[str] | None = None) -> None:
    """Entry point of ``ros2 run gs_perception sim_camera_node``."""
    rclpy = require_rclpy()
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        node = _make_node()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop.set()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()


def _make_node() -> Any:
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from ..data.sim import simulate
    from .params import declare_config
    from .sim_bag import sim_frame_messages
    from .typestore import MessageTypes

    class SimCameraNode(Node):
        def __init__(self) -> None:
            super().__init__("sim_camera_node")
            self.config = declare_config(self, SimNodeConfig)
            self.types, self.topics = MessageTypes.from_rclpy(), SimTopics()
            self.qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self.pubs: dict[str, Any] = {}
            self.stop = threading.Event()
            if self.config.publish_clock:
                from rosgraph_msgs.msg import Clock

                self.clock_cls = Clock
                self.clock_pub = self.create_publisher(Clock, "/clock", self.qos)
            threading.Thread(target=self.run, name="sim_camera", daemon=True).start()

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
                    stamp = self.types.Time(
                        sec=sim.frame.stamp_ns // 10**9, nanosec=sim.frame.stamp_ns % 10**9
                    )
                    self.clock_pub.publish(self.clock_cls(clock=stamp))
                if sim.held_out and not self.config.publish_held_out:
                    continue
                for topic, msg in sim_frame_messages(self.types, sim, self.topics):
                    self.publish(topic, msg)

    return SimCameraNode()
