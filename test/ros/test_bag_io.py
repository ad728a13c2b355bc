"""Bags without ROS: BagWriter/read_bag round trips (sqlite3 and mcap) and simulated-run bags."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from rosbags.highlevel import AnyReader
from rosbags.interfaces import QosDurability

from gs_perception.core.cameras import Intrinsics, look_at
from gs_perception.core.frames import Frame
from gs_perception.core.gaussians import GaussianCloud
from gs_perception.data.sim import SimConfig, SimFrame, simulate
from gs_perception.ros import perception_msgs as msgs
from gs_perception.ros import sensor_conversions as sensors
from gs_perception.ros.bag_io import BagReadWarning, BagWriter, bag_message_counts, bag_topics, read_bag
from gs_perception.ros.frames import frame_from_messages
from gs_perception.ros.sim_bag import SimTopics, write_sim_bag
from gs_perception.ros.typestore import MessageTypes, make_typestore

TYPES = MessageTypes.from_typestore(make_typestore("humble"))
T0 = 1_700_000_000_000_000_000
STORAGES = ["sqlite3", "mcap"]


def assert_msg_equal(a, b, path: str = "msg") -> None:
    """Field-by-field equality across typestores (read-back classes differ; numpy fields need array_equal)."""
    if dataclasses.is_dataclass(a):
        assert a.__msgtype__ == b.__msgtype__, path
        for f in dataclasses.fields(a):
            if not f.name.startswith("__"):
                assert_msg_equal(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_msg_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def sample_messages() -> list[tuple[str, object, int]]:
    """(topic, message, log time) covering every message family the package writes."""
    intr = Intrinsics.from_fov(1.0, 8, 6)
    T = look_at(torch.tensor([1.0, 2.0, 1.0]), torch.zeros(3))
    rgb = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)
    cloud = GaussianCloud.from_points(
        torch.randn(5, 3, generator=torch.Generator().manual_seed(1)), scale=0.1
    )
    obj = msgs.DetectedObject("obj-1", ("bed", "chair"), (0.3, 0.7), (0.0, 1.0, 2.0), (0.5, 0.5, 1.0))
    tf = sensors.matrix_to_transform_stamped(TYPES, T, T0, "world", "cam")
    return [
        ("/camera/image_raw", sensors.array_to_image(TYPES, rgb, "rgb8", T0, "cam"), T0),
        ("/camera/camera_info", sensors.intrinsics_to_camera_info(TYPES, intr, T0, "cam"), T0),
        ("/camera/pose", sensors.matrix_to_pose_stamped(TYPES, T, T0, "world"), T0 + 1),
        ("/tf", sensors.tf_message(TYPES, [tf]), T0 + 2),
        ("/gaussians", msgs.gaussians_to_pointcloud2(TYPES, cloud, T0 + 3, "world"), T0 + 3),
        ("/detections", msgs.detections_message(TYPES, T0 + 3, "world", [obj]), T0 + 3),
        (
            "/classification",
            msgs.classification_message(TYPES, T0 + 3, "cam", ["a", "b"], [0.4, 0.6]),
            T0 + 3,
        ),
        (
            "/embeddings",
            msgs.embeddings_to_image(TYPES, np.eye(1, 4, dtype=np.float32), T0 + 3, "cam"),
            T0 + 3,
        ),
        ("/label_info", msgs.label_info_message(TYPES, ["bed", "chair"], T0 + 4, "world", 0.5), T0 + 4),
    ]


@pytest.mark.parametrize("storage", STORAGES)
def test_bag_round_trip(tmp_path, storage):
    path = tmp_path / "bag"
    written = sample_messages()
    with BagWriter(path, storage=storage) as writer:
        for topic, msg, stamp in written:
            writer.write(topic, msg, stamp)
    assert writer.counts["/camera/image_raw"] == 1
    read = list(read_bag(path))
    assert [(m.topic, m.stamp_ns) for m in read] == [(t, s) for t, _, s in written]
    for (topic, msg, _), got in zip(written, read):
        assert got.msgtype == msg.__msgtype__
        assert_msg_equal(msg, got.msg, topic)
    assert bag_topics(path)["/detections"] == "vision_msgs/msg/Detection3DArray"
    assert bag_message_counts(path)["/tf"] == 1


@pytest.mark.parametrize("storage", STORAGES)
def test_topic_filter_and_corrupt_message_skipped(tmp_path, storage):
    path = tmp_path / "bag"
    image = sensors.array_to_image(TYPES, np.zeros((2, 3), np.uint8), "mono8", T0, "cam")
    with BagWriter(path, storage=storage) as writer:
        writer.write("/camera/image_raw", image, T0)
        writer.write_raw(
            "/camera/image_raw", "sensor_msgs/msg/Image", b"\x00\x01\x00\x00" + b"\xff" * 7, T0 + 5
        )
        writer.write("/camera/image_raw", image, T0 + 9)
        writer.write("/unrelated", sensors.tf_message(TYPES, []), T0 + 1)
    with pytest.warns(BagReadWarning, match=rf"/camera/image_raw at {T0 + 5} ns"):
        read = list(read_bag(path, topics=["/camera/image_raw", "/not/in/bag"]))
    assert [(m.topic, m.stamp_ns) for m in read] == [("/camera/image_raw", T0), ("/camera/image_raw", T0 + 9)]
    assert list(read_bag(path, topics=["/not/in/bag"])) == []


def test_label_info_recorded_transient_local(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path, transient_local_topics=["/latched_pose"]) as writer:
        for topic, msg, stamp in sample_messages():
            writer.write(topic, msg, stamp)
        writer.write("/latched_pose", sensors.matrix_to_pose_stamped(TYPES, np.eye(4), T0, "world"), T0)
    with AnyReader([path]) as reader:
        durability = {c.topic: c.ext.offered_qos_profiles[0].durability for c in reader.connections}
    assert durability["/label_info"] == QosDurability.TRANSIENT_LOCAL
    assert durability["/latched_pose"] == QosDurability.TRANSIENT_LOCAL
    assert durability["/camera/image_raw"] == QosDurability.VOLATILE


def test_writer_refuses_overwrite_and_type_change(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path) as writer:
        writer.write("/pose", sensors.matrix_to_pose_stamped(TYPES, np.eye(4), T0, "world"), T0)
        with pytest.raises(ValueError, match="already has type geometry_msgs/msg/PoseStamped"):
            writer.write("/pose", sensors.tf_message(TYPES, []), T0)
        with pytest.raises(TypeError, match="not a rosbags message"):
            writer.write("/pose", object(), T0)
    with pytest.raises(FileExistsError, match=f"{path} exists already"):
        BagWriter(path)
    with pytest.raises(ValueError, match="unknown bag storage 'zip'"):
        BagWriter(tmp_path / "other", storage="zip")


def test_missing_bag_names_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=f"bag not found: {missing}"):
        list(read_bag(missing))
    with pytest.raises(FileNotFoundError, match="nope"):
        bag_topics(missing)


# -- simulated runs -----------------------------------------------------------------------------------------
def sim_frames() -> list[SimFrame]:
    """Four live frames and one held-out frame orbiting the origin, 16×12, 10 Hz."""
    intr = Intrinsics.from_fov(1.2, 16, 12)
    out = []
    for i in range(5):
        angle = 2 * math.pi * i / 5
        T = look_at(torch.tensor([2 * math.cos(angle), 2 * math.sin(angle), 0.5]), torch.zeros(3))
        levels = torch.randint(0, 256, (12, 16, 3), generator=torch.Generator().manual_seed(i))
        depth = torch.full((12, 16), 1.5 + 0.1 * i)
        frame = Frame(levels.float() / 255.0, intr, T, T0 + i * 100_000_000, depth=depth)
        out.append(SimFrame(frame=frame, held_out=(i == 3), labels=("chair", "bed")))
    return out


@pytest.mark.parametrize("storage", STORAGES)
def test_write_sim_bag(tmp_path, storage):
    frames = sim_frames()
    summary = write_sim_bag(frames, tmp_path / "sim", storage=storage)
    topics = SimTopics()
    assert (summary.frames, summary.held_out, summary.storage, summary.topics) == (4, 1, storage, topics)
    expected_counts = {
        topics.image: 4,
        topics.camera_info: 4,
        topics.depth: 4,
        topics.pose: 4,
        topics.tf: 4,
        topics.eval_image: 1,
        topics.eval_camera_info: 1,
        topics.eval_depth: 1,
        topics.eval_pose: 1,
        topics.ground_truth: 5,
    }
    assert summary.message_counts == expected_counts
    assert bag_message_counts(summary.path) == dict(sorted(expected_counts.items()))
    types = bag_topics(summary.path)
    assert (
        types[topics.tf] == "tf2_msgs/msg/TFMessage"
        and types[topics.ground_truth] == "vision_msgs/msg/Classification"
    )
    by_topic: dict[str, list] = {}
    for m in read_bag(summary.path):
        by_topic.setdefault(m.topic, []).append(m)
    live = [f for f in frames if not f.held_out]
    for sim, img, info, depth, pose, tf in zip(
        live, *(by_topic[t] for t in (topics.image, topics.camera_info, topics.depth, topics.pose, topics.tf))
    ):
        stamp = sim.frame.stamp_ns
        assert {img.stamp_ns, info.stamp_ns, depth.stamp_ns, pose.stamp_ns, tf.stamp_ns} == {stamp}
        rebuilt = frame_from_messages(img.msg, info.msg, sensors.pose_to_matrix(pose.msg.pose), depth.msg)
        assert rebuilt.stamp_ns == stamp and rebuilt.frame_id == topics.camera_frame
        assert rebuilt.intrinsics == sim.frame.intrinsics
        torch.testing.assert_close(rebuilt.rgb, sim.frame.rgb, rtol=0, atol=1e-6)
        torch.testing.assert_close(rebuilt.depth, sim.frame.depth, rtol=0, atol=0)
        torch.testing.assert_close(rebuilt.T_world_cam, sim.frame.T_world_cam, rtol=0, atol=1e-6)
        (transform,) = tf.msg.transforms
        assert (transform.header.frame_id, transform.child_frame_id) == (
            topics.world_frame,
            topics.camera_frame,
        )
        np.testing.assert_allclose(
            sensors.transform_to_matrix(transform.transform), sim.frame.T_world_cam, atol=1e-6
        )
    (eval_image,) = by_topic[topics.eval_image]
    assert eval_image.stamp_ns == frames[3].frame.stamp_ns
    assert eval_image.msg.header.frame_id == topics.eval_camera_frame
    truth = by_topic[topics.ground_truth]
    assert [[(r.class_id, r.score) for r in m.msg.results] for m in truth] == [
        [("chair", 1.0), ("bed", 1.0)]
    ] * 5
    assert [m.msg.header.frame_id for m in truth].count(topics.eval_camera_frame) == 1


# -- bags as users hand them over: lone files, cut recordings, garbage --------------------------------------
SMALL_SIM = SimConfig(width=32, height=24, frames=6)


@pytest.fixture(scope="module")
def small_bags(tmp_path_factory) -> dict[str, Path]:
    """A 6+1-frame simulated bag per storage (41 messages), written once."""
    root = tmp_path_factory.mktemp("small")
    return {s: write_sim_bag(simulate(SMALL_SIM), root / s, storage=s).path for s in STORAGES}


def storage_file(bag: Path) -> Path:
    (file,) = [p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")]
    return file


def stamps(messages) -> list[tuple[str, int]]:
    return [(m.topic, m.stamp_ns) for m in messages]


@pytest.mark.parametrize("storage", STORAGES)
def test_a_lone_storage_file_or_a_folder_without_metadata_is_a_bag(tmp_path, small_bags, storage):
    full = stamps(read_bag(small_bags[storage]))
    folder = tmp_path / "copied"
    folder.mkdir()
    lone = shutil.copy(
        storage_file(small_bags[storage]), folder
    )  # what users copy: the file, no metadata.yaml
    assert stamps(read_bag(lone)) == full and stamps(read_bag(folder)) == full and len(full) == 41
    assert bag_message_counts(folder) == bag_message_counts(small_bags[storage])


def cut_copy(bag: Path, dst: Path, keep: float | int) -> Path:
    """A copy of ``bag`` whose storage file keeps only its first bytes (a share, or a byte count)."""
    shutil.copytree(bag, dst)
    file = storage_file(dst)
    data = file.read_bytes()
    file.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    return file


@pytest.mark.parametrize("storage", STORAGES)
def test_a_cut_recording_is_read_as_far_as_it_is_intact(tmp_path, small_bags, storage):
    full = stamps(read_bag(small_bags[storage]))
    file = cut_copy(small_bags[storage], tmp_path / "cut", 0.6)  # killed at 60 % of its bytes
    with pytest.warns(BagReadWarning, match="cut short") as caught:
        read = stamps(read_bag(tmp_path / "cut"))
    assert 0 < len(read) < len(full) and read == full[: len(read)]  # rows/records are appended in time order
    (warning,) = [str(w.message) for w in caught]
    assert str(file) in warning and f"({len(full) - len(read)} messages lost)" in warning


def test_an_mcap_without_summary_and_footer_loses_nothing(tmp_path, small_bags):
    data = storage_file(small_bags["mcap"]).read_bytes()
    summary_start = int.from_bytes(data[-37:][9:17], "little")  # footer: opcode, length, summary_start, ...
    file = cut_copy(small_bags["mcap"], tmp_path / "nofooter", summary_start)
    with pytest.warns(BagReadWarning, match=rf"{file}.*\(0 messages lost\)"):
        read = stamps(read_bag(file.parent))
    assert read == stamps(read_bag(small_bags["mcap"]))


@pytest.mark.parametrize(
    "name, content, why",
    [
        ("noise.db3", os.urandom(5000), "not a readable ROS 2 sqlite3 bag file .*not a database"),
        ("noise.mcap", os.urandom(5000), "not a readable ROS 2 MCAP bag file .*magic"),
        ("empty.mcap", b"", "not a readable ROS 2 MCAP bag file"),
        ("notes.txt", b"hello", "not a ROS 2 bag"),
        ("folder", None, "not a ROS 2 bag folder .*no metadata.yaml"),
    ],
)
def test_garbage_is_a_one_line_error_naming_the_file(tmp_path, name, content, why):
    path = tmp_path / name
    path.mkdir() if content is None else path.write_bytes(content)
    with pytest.raises(ValueError, match=why) as caught:  # BagError: the CLI prints it without a traceback
        list(read_bag(path))
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert type(caught.value).__name__ == "BagError"


def test_damage_met_while_reading_ends_the_read_with_a_warning(tmp_path, small_bags):
    file = cut_copy(small_bags["mcap"], tmp_path / "badcrc", 1.0)
    data = bytearray(file.read_bytes())
    chunk = 8 + 9 + int.from_bytes(data[9:17], "little")  # after the magic and the header record
    assert data[chunk] == 0x06  # the chunk record: opcode, length, start, end, size, crc, ...
    data[chunk + 9 + 24 : chunk + 9 + 28] = (0xDEADBEEF).to_bytes(4, "little")  # opens, fails when read
    file.write_bytes(bytes(data))
    with pytest.warns(BagReadWarning, match=r"stopped after 0 messages \(Chunk checksum mismatch\)"):
        assert list(read_bag(file.parent)) == []
