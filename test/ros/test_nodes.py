"""The node modules: importable without ROS, a clear error from main() when rclpy is missing, and, where ROS 2
is installed (``ros`` marker), the perception node in-process: simulated frames in, outputs out."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time

import pytest

NODES = ("gs_perception.ros.perception_node", "gs_perception.ros.sim_camera_node")


@pytest.mark.parametrize("module", NODES)
def test_node_modules_import_without_ros_and_main_explains_what_is_missing(module):
    code = (
        "import importlib, sys\n"
        "sys.modules['rclpy'] = None  # as on a machine without ROS: importing it raises ImportError\n"
        f"m = importlib.import_module({module!r})\n"
        "try:\n"
        "    m.main([])\n"
        "except ImportError as err:\n"
        "    print('IMPORT-ERROR:', err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IMPORT-ERROR:" in out.stdout and "source /opt/ros/" in out.stdout and "rclpy" in out.stdout


def test_sim_node_laps_keep_stamps_increasing():
    from gs_perception.data.sim import SimConfig, simulate
    from gs_perception.ros.sim_camera import SimNodeConfig, laps

    config = SimNodeConfig(sim=SimConfig(width=32, height=24, frames=3, held_out_every=0, rate_hz=10.0))
    stamps = []
    for k, sim in enumerate(laps(config, simulate)):
        stamps.append(sim.frame.stamp_ns)
        if k == 6:
            break
    assert all(b - a == 100_000_000 for a, b in zip(stamps, stamps[1:])), stamps
    once = list(laps(SimNodeConfig(sim=config.sim, loop=False), simulate))
    assert len(once) == 3


@pytest.mark.ros
def test_perception_node_in_process_turns_simulated_frames_into_memory_views():
    rclpy = importlib.import_module("rclpy")
    from rclpy.executors import MultiThreadedExecutor
    from sensor_msgs.msg import Image

    from gs_perception.data.sim import SimConfig, simulate
    from gs_perception.ros.perception_node import _make_node
    from gs_perception.ros.sim_bag import SimTopics, sim_frame_messages
    from gs_perception.ros.testing import next_domain_id
    from gs_perception.ros.typestore import MessageTypes

    rclpy.init(domain_id=next_domain_id())  # a domain of its own, discovery on localhost (test/conftest.py)
    try:
        node = _make_node()
        helper = rclpy.create_node("gs_perception_test")
        types, topics = MessageTypes.from_rclpy(), SimTopics()
        received = []
        helper.create_subscription(Image, "memory_view", received.append, 10)
        remap = {
            topics.image: "image",
            topics.camera_info: "camera_info",
            topics.depth: "depth",
            topics.pose: "pose",
        }
        pubs = {}
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.add_node(helper)
        for sim in simulate(SimConfig(width=48, height=36, frames=4, held_out_every=0)):
            for topic, msg in sim_frame_messages(types, sim, topics):
                if topic in remap:
                    pubs.setdefault(topic, helper.create_publisher(type(msg), remap[topic], 10)).publish(msg)
            executor.spin_once(timeout_sec=0.2)
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.2)
        assert received and received[0].encoding == "rgb8" and received[0].width == 48
        node.close()
    finally:
        rclpy.shutdown()


def test_diagnostics_message_reports_the_counters_and_serialises(tmp_path):
    from gs_perception.core.memory import MemoryStats
    from gs_perception.pipeline.worker import WorkerStats
    from gs_perception.ros import sensor_conversions as sensors
    from gs_perception.ros.bag_io import BagWriter, read_bag
    from gs_perception.ros.perception_callbacks import diagnostics_message
    from gs_perception.ros.typestore import MessageTypes

    types = MessageTypes.from_typestore()
    stats = MemoryStats(10, 4, 1234, 80, 0, 1300, 66, 5, "no depth images: 4.20 m, where …")
    msg = diagnostics_message(types, sensors.ns_to_stamp(types, 5), stats, WorkerStats(10, 8, 2, 1), 4.0)
    values = {kv.key: kv.value for kv in msg.status[0].values}
    assert (
        values["gaussians"] == "1234" and values["frames_dropped"] == "2" and values["step_rate_hz"] == "2.00"
    )
    assert values["insertion_depth"] == "no depth images: 4.20 m, where …"
    assert msg.status[0].level == types.DiagnosticStatus.WARN  # a failed frame
    with BagWriter(tmp_path / "bag") as writer:
        writer.write("/diagnostics", msg, 5)
    back = next(iter(read_bag(tmp_path / "bag"))).msg
    assert back.status[0].message == "4 keyframes, 1234 Gaussians"
