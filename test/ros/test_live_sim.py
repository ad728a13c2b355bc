"""sim_camera_node and perception_node as real processes together: poses from the simulator's /tf, and
Ctrl-C (SIGINT) shutting both down cleanly, many times over."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

pytestmark = pytest.mark.ros

SIM = {"sim.width": 48, "sim.height": 36, "sim.frames": 8, "sim.rate_hz": 4.0, "sim.held_out_every": 0}
# The perception node's relative inputs, remapped onto the simulator's topics (as sim.launch.py does).
REMAP = {
    "image": "/camera/image_raw",
    "camera_info": "/camera/camera_info",
    "depth": "/camera/depth/image_raw",
    "pose": "/camera/pose",
}
PERCEPTION = {
    "pose_source": "tf",
    "qos_reliability": "reliable",
    "pipeline.memory.threaded": False,
    "pipeline.memory.working_min_width": 48,
    "pipeline.memory.steps_per_keyframe": 10,
    "tf_timeout_s": 2.0,
}
# What a clean shutdown never prints.
CRASH_SIGNS = ("terminate called", "Traceback", "Failed to publish", "RCLError", "Segmentation fault")


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_perception_node_takes_its_poses_from_the_sim_nodes_tf(live_graph):
    from gs_perception.data.sim import SimConfig, sim_trajectory
    from gs_perception.ros.typestore import MessageTypes

    types, client = MessageTypes.from_rclpy(), live_graph.client
    images = client.subscribe("/camera/image_raw", types.Image)
    views = client.subscribe("memory_view", types.Image)
    perception = live_graph.start("perception_node", PERCEPTION, REMAP)
    sim = live_graph.start("sim_camera_node", {**SIM, "publish_clock": False})
    by_stamp = {}

    def enough() -> bool:
        by_stamp.update((_stamp(m), m) for m in images)
        return sum(_stamp(v) in by_stamp for v in views) >= 4

    assert client.spin_until(enough, 90), perception.output()[-3000:] + sim.output()[-2000:]
    # Every view answers one simulated image, at its stamp (the client may have joined after the first ones).
    grid = set(sim_trajectory(SimConfig(width=48, height=36, frames=8, rate_hz=4.0, held_out_every=0))[1])
    period = round(1e9 * 8 / 4.0)
    assert all((_stamp(v) - min(grid)) % period + min(grid) in grid for v in views)
    for view in (v for v in views if _stamp(v) in by_stamp):
        source = by_stamp[_stamp(view)]
        assert view.header.frame_id == source.header.frame_id == "camera_optical_frame"
        rgb = [np.frombuffer(bytes(m.data), np.uint8).reshape(36, 48, 3) / 255.0 for m in (view, source)]
        psnr = -10 * math.log10(float(np.mean((rgb[0] - rgb[1]) ** 2)))
        assert psnr > 18.0, psnr
    assert "no transform" not in perception.output()


def _ready(client, topic_counts: dict[str, int]) -> bool:
    graph = {name: len(client.node.get_publishers_info_by_topic(name)) for name in topic_counts}
    return all(graph[name] >= n for name, n in topic_counts.items())


@pytest.mark.slow
def test_sigint_shuts_both_nodes_down_cleanly_20_times_out_of_20(live_graph):
    """Ctrl-C at different moments: during start-up, once the nodes are up, and while frames flow."""
    from gs_perception.ros.typestore import MessageTypes

    client, types = live_graph.client, MessageTypes.from_rclpy()
    views = client.subscribe("memory_view", types.Image)
    sim_params = {**SIM, "sim.width": 32, "sim.height": 24, "sim.rate_hz": 8.0}
    failures = []
    for run in range(20):
        workdir = live_graph.workdir / f"run{run:02d}"
        workdir.mkdir()
        live_graph.workdir = workdir
        perception = live_graph.start("perception_node", PERCEPTION, REMAP)
        sim = live_graph.start("sim_camera_node", sim_params)
        phase = run % 3
        if phase == 0:  # start-up: imports, rclpy.init, node construction
            time.sleep(0.3 + 0.15 * (run % 7))
        else:  # up; phase 2 also waits for frames flowing through the perception node
            seen = len(views)
            client.spin_until(lambda: _ready(client, {"/camera/image_raw": 1, "memory_view": 1}), 60)
            if phase == 2:
                client.spin_until(lambda: len(views) > seen, 30)  # noqa: B023 (used at once, in this pass)
        for node in (sim, perception):
            code = node.interrupt(timeout_s=20.0)
            log = node.output()
            crashes = [sign for sign in CRASH_SIGNS if sign in log]
            if code != 0 or crashes:
                failures.append(f"run {run} phase {phase} {node.name}: exit {code}, {crashes}\n{log[-1500:]}")
        live_graph.nodes.clear()
    assert not failures, "\n\n".join(failures)


def test_both_nodes_run_without_vision_msgs_and_tf2_msgs_where_they_can(live_graph, tiny_bundle):
    """Without the two packages PyPI lacks: the sim skips /tf and ground truth, the perception node runs
    memory-only; with a bundle (which needs vision_msgs) it refuses to start, naming the package."""
    from gs_perception.ros.typestore import MessageTypes

    blocker = live_graph.workdir / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(  # as if not installed: importing them raises ImportError
        "import sys\nfor name in ('vision_msgs', 'vision_msgs.msg', 'tf2_msgs', 'tf2_msgs.msg'):\n"
        "    sys.modules[name] = None\n"
    )
    live_graph.env["PYTHONPATH"] = str(blocker)
    types, client = MessageTypes.from_rclpy(), live_graph.client
    views = client.subscribe("memory_view", types.Image)
    perception = live_graph.start("perception_node", {**PERCEPTION, "pose_source": "topic"}, REMAP)
    sim = live_graph.start("sim_camera_node", {**SIM, "publish_clock": False})
    assert client.spin_until(lambda: len(views) >= 2, 90), perception.output()[-3000:] + sim.output()[-2000:]
    assert "vision_msgs is not installed" in perception.output()
    assert "tf2_msgs/msg/TFMessage is not installed: no /tf" in sim.output()
    assert "vision_msgs/msg/Classification is not installed: no ground truth" in sim.output()
    assert not client.node.get_publishers_info_by_topic("/tf")
    live_graph.workdir = live_graph.workdir / "with_bundle"
    live_graph.workdir.mkdir()
    refused = live_graph.start(
        "perception_node", {**PERCEPTION, "pipeline.recognition.bundle": str(tiny_bundle)}
    )
    assert refused.process.wait(60) == 1
    assert "needs the ROS 2 package vision_msgs" in refused.output()
    for node in (sim, perception):
        assert node.interrupt() == 0, node.output()[-2000:]
