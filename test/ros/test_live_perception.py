"""perception_node as a real process: a test client feeds simulated frames and checks every output.

The client publishes live and held-out frames of a tiny simulated orbit onto the node's input topics in
lockstep (the next frame once the previous one's memory_view arrived), with the node in deterministic mode,
so the run does not depend on the machine's speed. Held-out frames come 0.125 s after a keyframe, inside the
keyframe gate's 0.2 s, so the memory renders them without learning from them: their memory_view is a novel
view. Every subscription uses default QoS (reliable, volatile) — what `ros2 topic echo` and most nodes use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pytest

from gs_perception.data.sim import SimConfig, simulate

pytestmark = pytest.mark.ros

SIM = SimConfig(width=48, height=36, frames=8, held_out_every=2, rate_hz=4.0)
INPUTS = {"image": "image", "camera_info": "camera_info", "depth": "depth", "pose": "pose"}
OUTPUTS = (
    "memory_view",
    "gaussians",
    "detections",
    "classification",
    "embeddings/image",
    "embeddings/gaussians",
)
PARAMETERS = {
    "pipeline.memory.threaded": False,  # deterministic: the step optimises before it returns
    "pipeline.memory.working_min_width": 48,
    "pipeline.memory.steps_per_keyframe": 15,
    "pipeline.recognise_every": 2,
    "pipeline.cloud_every": 2,
    "pipeline.recognition.num_views": 2,
    "pipeline.recognition.min_gaussians": 20,
    "qos_reliability": "reliable",
    "diagnostics_period_s": 0.5,
    "warn_throttle_s": 0.0,
    "queue_size": 8,
    "view.enabled": True,  # the live web view (docs/viewer.md), on a free port
    "view.port": 0,
}


@dataclass
class Fed:
    graph: object
    node: object
    stamps: list[int]
    held_out: dict[int, np.ndarray]
    frame_ids: dict[int, str]


def _publishers(client, types):
    return {
        name: client.node.create_publisher(cls, name, 10)
        for name, cls in (
            ("image", types.Image),
            ("camera_info", types.CameraInfo),
            ("depth", types.Image),
            ("pose", types.PoseStamped),
        )
    }


def _feed_frame(client, pubs, messages, stamp, views, timeout_s=60.0):
    """Publish one frame's messages; wait until its memory_view arrived."""
    for name, msg in messages:
        pubs[name].publish(msg)
    got = client.spin_until(lambda: any(_stamp(v) == stamp for v in views), timeout_s)
    assert got, f"no memory_view for the frame at {stamp} ns within {timeout_s} s"


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def _frame_messages(types, sim):
    from gs_perception.ros.sim_bag import SimTopics, sim_frame_messages

    topics = SimTopics()
    route = {
        topics.image: "image", topics.eval_image: "image",
        topics.camera_info: "camera_info", topics.eval_camera_info: "camera_info",
        topics.depth: "depth", topics.eval_depth: "depth",
        topics.pose: "pose", topics.eval_pose: "pose",
    }  # fmt: skip
    return [(route[t], m) for t, m in sim_frame_messages(types, sim, topics) if t in route]


@pytest.fixture(scope="module")
def fed(module_graph, tiny_bundle):
    from gs_perception.ros.typestore import MessageTypes

    graph, types = module_graph, MessageTypes.from_rclpy()
    params = {**PARAMETERS, "pipeline.recognition.bundle": str(tiny_bundle), "save_path": "memory.ply"}
    node = graph.start("perception_node", params)
    client = graph.client
    for topic in OUTPUTS:
        cls = {"gaussians": types.PointCloud2, "detections": types.Detection3DArray}.get(topic, types.Image)
        client.subscribe(topic, types.Classification if topic == "classification" else cls)
    client.subscribe("/diagnostics", types.DiagnosticArray)
    pubs = _publishers(client, types)
    assert client.spin_until(lambda: pubs["image"].get_subscription_count() > 0, 60), node.output()
    # Images that never get camera_info (nor a pose): dropped once more than max_pending (8) wait.
    for sim in list(simulate(SIM))[:10]:
        image = _frame_messages(types, sim)[0][1]
        image.header.stamp.sec -= 100
        pubs["image"].publish(image)
        client.spin_until(lambda: False, 0.05)  # paced: the subscription keeps only qos_depth messages
    stamps, held_out, frame_ids = [], {}, {}
    for sim in simulate(SIM):
        stamp = sim.frame.stamp_ns
        messages = _frame_messages(types, sim)
        frame_ids[stamp] = messages[0][1].header.frame_id
        if sim.held_out:
            held_out[stamp] = sim.frame.rgb.numpy()
        _feed_frame(client, pubs, messages, stamp, client.received["memory_view"])
        stamps.append(stamp)
    client.spin_until(lambda: len(client.received["/diagnostics"]) > 0, 5)
    return Fed(graph, node, stamps, held_out, frame_ids)


def test_every_output_arrives_with_the_input_stamps_and_frame_ids(fed):
    received = fed.graph.client.received
    views = received["memory_view"]
    assert sorted(_stamp(v) for v in views) == fed.stamps  # one view per frame, none lost
    for view in views:
        assert view.header.frame_id == fed.frame_ids[_stamp(view)]
        assert (view.width, view.height, view.encoding) == (SIM.width, SIM.height, "rgb8")
    for topic in OUTPUTS[1:]:
        assert received[topic], f"nothing on {topic}"
        for msg in received[topic]:
            assert _stamp(msg) in fed.stamps and msg.header.frame_id == "world", topic
    assert received["/diagnostics"][-1].status[0].name == "gs_perception: perception_node"


def test_detections_classification_and_embedding_rows_join_by_stamp_and_index(fed):
    from gs_perception.ros import perception_msgs as msgs

    received = fed.graph.client.received
    by_stamp = {topic: {_stamp(m): m for m in received[topic]} for topic in OUTPUTS[2:]}
    assert by_stamp["detections"], "no detections"
    for stamp, detections in by_stamp["detections"].items():
        n = len(detections.detections)
        assert n >= 1
        for topic in ("embeddings/image", "embeddings/gaussians"):
            table = msgs.image_to_embeddings(by_stamp[topic][stamp])
            assert table.shape == (n, 16) and np.all(np.isfinite(table)), topic
        largest = detections.detections[0].results[0].hypothesis
        assert largest.class_id == "chair"  # the tiny bundle's bias
        assert by_stamp["classification"][stamp].results[0].class_id == "chair"


def test_memory_view_matches_the_held_out_frames(fed):
    views = {_stamp(v): v for v in fed.graph.client.received["memory_view"]}
    psnrs = []
    for stamp, truth in fed.held_out.items():
        view = np.frombuffer(bytes(views[stamp].data), np.uint8).reshape(SIM.height, SIM.width, 3) / 255.0
        psnrs.append(-10 * math.log10(float(np.mean((view - truth) ** 2))))
    assert len(psnrs) == 4 and min(psnrs) > 22.0, psnrs  # measured 26.8–31.8 dB


def test_a_late_subscriber_still_gets_label_info(fed):
    from gs_perception.ros.perception_callbacks import output_qos
    from gs_perception.ros.typestore import MessageTypes

    client = fed.graph.client
    late = client.subscribe("label_info", MessageTypes.from_rclpy().LabelInfo, output_qos(latched=True))
    assert client.spin_until(lambda: bool(late), 10), "label_info was not latched"
    assert [c.class_name for c in late[0].class_map] == ["bed", "chair", "table"]


def test_save_memory_writes_a_ply_with_the_reported_count_and_reset_empties_it(fed):
    from std_srvs.srv import Trigger

    from gs_perception.core.ply import read_ply

    client = fed.graph.client
    saved = client.call(Trigger, "save_memory", Trigger.Request())
    assert saved.success, saved.message
    count = int(saved.message.split()[1])
    cloud = read_ply(fed.graph.workdir / "memory.ply")
    assert cloud.num == count > 100
    reset = client.call(Trigger, "reset_memory", Trigger.Request())
    assert reset.success, reset.message
    empty = client.call(Trigger, "save_memory", Trigger.Request())
    assert empty.message.startswith("saved 0 Gaussians") or not empty.success, empty.message


def test_the_live_view_serves_a_page_while_the_node_runs(fed):
    import re
    import urllib.request

    match = re.search(r"live view at (http://127\.0\.0\.1:\d+)", fed.node.output())
    assert match, fed.node.output()
    with urllib.request.urlopen(match[1], timeout=10) as response:
        assert response.status == 200 and b"<html" in response.read().lower()


def test_declared_parameters_carry_descriptions_and_the_dataclass_defaults(fed):
    from rcl_interfaces.srv import DescribeParameters, GetParameters
    from rclpy.parameter import parameter_value_to_python

    from gs_perception.ros.interface import PerceptionNodeConfig
    from gs_perception.ros.params import parameter_specs

    specs = parameter_specs(PerceptionNodeConfig)
    names = [s.name for s in specs]
    client = fed.graph.client
    described = client.call(
        DescribeParameters, "perception_node/describe_parameters", DescribeParameters.Request(names=names)
    )
    values = client.call(GetParameters, "perception_node/get_parameters", GetParameters.Request(names=names))
    overridden = {**PARAMETERS, "pipeline.recognition.bundle": None, "save_path": None}
    for spec, descriptor, value in zip(specs, described.descriptors, values.values):
        assert descriptor.name == spec.name and descriptor.description == spec.description, spec.name
        assert descriptor.read_only
        if spec.name not in overridden:
            actual = parameter_value_to_python(value)
            assert (
                list(actual) == spec.default if isinstance(spec.default, list) else actual == spec.default
            ), spec.name


def test_bad_input_is_dropped_with_a_warning_and_the_next_good_frame_is_processed(fed):
    from gs_perception.ros.typestore import MessageTypes

    types, client = MessageTypes.from_rclpy(), fed.graph.client
    pubs = _publishers(client, types)
    views = client.received["memory_view"]
    frames = list(simulate(replace(SIM, frames=16, start_stamp_ns=SIM.start_stamp_ns + 10**10)))
    cases = {
        "unknown encoding": lambda m: setattr(m["image"], "encoding", "yuv422_yuy2_weird"),
        "NaN pose": lambda m: setattr(m["pose"].pose.position, "x", float("nan")),
        "0x0 image": lambda m: (setattr(m["image"], "width", 0), setattr(m["image"], "height", 0)),
        "wrong-size depth": lambda m: _shrink_depth(m["depth"]),
        "out-of-order stamp": lambda m: _restamp(m, fed.stamps[-1] - 100_000_000),
    }
    good = iter(f for f in frames if not f.held_out)
    for what, spoil in cases.items():
        bad = next(good)
        messages = dict(_frame_messages(types, bad))
        spoil(messages)
        for name, msg in messages.items():
            pubs[name].publish(msg)
        nxt = next(good)
        _feed_frame(client, pubs, _frame_messages(types, nxt), nxt.frame.stamp_ns, views)
        assert all(_stamp(v) != _stamp(messages["image"]) for v in views), what
    log = fed.node.output()
    assert log.count("dropped") >= len(cases), log[-3000:]
    for reason in ("no camera_info arrived in time", "unsupported encoding", "non-finite position", "0×0",
                   "depth has shape", "out of order"):  # fmt: skip
        assert reason in log, reason


def _restamp(messages, stamp_ns):
    for msg in messages.values():
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)


def _shrink_depth(msg):
    msg.width, msg.height = msg.width // 2, msg.height // 2
    msg.step = msg.width * 4
    msg.data = bytes(msg.data)[: msg.step * msg.height]
