"""Bag replay end to end: a 10-frame simulated bag through the pipeline, outputs checked in the output bag."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gs_perception.core.memory import MemoryConfig
from gs_perception.data.sim import SimConfig, simulate
from gs_perception.pipeline.recognition import RecognitionConfig
from gs_perception.pipeline.step import Pipeline, PipelineConfig
from gs_perception.pipeline.step_log import STEPS_FILE, read_steps
from gs_perception.ros import perception_msgs as msgs
from gs_perception.ros import sensor_conversions as sensors
from gs_perception.ros.bag_io import BagReadWarning, BagWriter, read_bag
from gs_perception.ros.replay import ReplayConfig, replay
from gs_perception.ros.sim_bag import SimTopics, write_sim_bag
from gs_perception.ros.typestore import MessageTypes

pytestmark = pytest.mark.slow

SIM = SimConfig(width=64, height=48, frames=8, held_out_every=4, rate_hz=4.0)
# threaded=False: deterministic mode, as replay runs by default
MEMORY = MemoryConfig(
    working_min_width=64, steps_per_keyframe=15, keyframe_min_interval_s=0.0, threaded=False
)
CLASSES = ("bed", "chair", "table")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, tiny_bundle):  # tiny_bundle: test/ros/conftest.py, always says "chair"
    root = tmp_path_factory.mktemp("replay")
    write_sim_bag(simulate(SIM), root / "sim")
    recognition = RecognitionConfig(bundle=str(tiny_bundle), num_views=2, min_gaussians=20)
    config = ReplayConfig(pipeline=PipelineConfig(memory=MEMORY, recognition=recognition, recognise_every=4))
    observer = _Recorder()
    first = replay(root / "sim", root / "out1", config, show_progress=False, observers=[observer])
    second = replay(root / "sim", root / "out2", config, show_progress=False)
    return root, first, second, observer


class _Recorder:
    """A StepObserver that keeps what it was shown."""

    def __init__(self):
        self.records, self.gaussians, self.closed = [], [], 0

    def on_step(self, frame, outputs, record, pipeline):
        self.records.append(record)
        self.gaussians.append(pipeline.cloud().means.shape[0])

    def close(self):
        self.closed += 1


def test_every_live_frame_is_stepped_and_held_out_frames_are_rendered_well(replayed):
    _, result, _, _ = replayed
    m = result.metrics
    assert m.frames == 8 and m.dropped_frames == 0 and m.skipped_messages == {}
    assert m.heldout_frames == 2
    assert m.heldout_psnr_db is not None and m.heldout_psnr_db > 22.0, m.heldout_psnr_per_frame
    assert m.keyframes >= 6 and m.final_gaussians > 100
    assert [count for _, count in m.gaussians_over_time][-1] == m.final_gaussians
    assert m.latency_ms_p95 >= m.latency_ms_p50 > 0


def test_outputs_carry_the_input_stamps_and_frames(replayed):
    root, result, _, _ = replayed
    inputs = {msg.stamp_ns for msg in read_bag(root / "sim", topics={"/camera/image_raw"})}
    by_topic: dict[str, list] = {}
    for msg in read_bag(result.out_bag):
        by_topic.setdefault(msg.topic, []).append(msg)
    views = by_topic["/gs_perception/memory_view"]
    assert {m.stamp_ns for m in views} == inputs
    assert all(sensors.stamp_to_ns(m.msg.header.stamp) == m.stamp_ns for m in views)
    assert all(m.msg.header.frame_id == "camera_optical_frame" and m.msg.encoding == "rgb8" for m in views)
    detections = by_topic["/gs_perception/detections"]
    assert {m.stamp_ns for m in detections} <= inputs and detections
    det = detections[-1].msg.detections[0]
    assert det.id == "object_0" and det.results[0].hypothesis.class_id == "chair"
    table = msgs.image_to_embeddings(by_topic["/gs_perception/embeddings/image"][-1].msg)
    assert table.shape == (len(detections[-1].msg.detections), 16)
    label_info = by_topic["/gs_perception/label_info"][0].msg
    assert [c.class_name for c in label_info.class_map] == list(CLASSES)
    assert len(by_topic["/gs_perception/eval/memory_view"]) == 2
    clouds = by_topic["/gs_perception/gaussians"]
    assert clouds and msgs.pointcloud2_to_array(clouds[-1].msg).shape[0] > 100


def test_ground_truth_gives_accuracy_and_metrics_json(replayed):
    _, result, _, _ = replayed
    m = result.metrics
    assert m.ground_truth == ["chair"] and m.predicted[0] == "chair" and m.accuracy == 1.0
    saved = json.loads(result.metrics_json.read_text())
    assert saved["metrics"]["heldout_psnr_db"] == pytest.approx(m.heldout_psnr_db)
    assert saved["provenance"]["git_sha"] and result.memory_ply.is_file()


def test_steps_jsonl_holds_every_step_and_observers_see_them_live(replayed):
    root, result, _, observer = replayed
    steps = read_steps(root / "out1" / STEPS_FILE)
    m = result.metrics
    assert [s.index for s in steps] == list(range(m.frames))
    assert [s.gaussians for s in steps] == [count for _, count in m.gaussians_over_time]
    assert sum(s.keyframe for s in steps) == m.keyframes and all(s.latency_ms > 0 for s in steps)
    assert steps[0].intrinsics[4:] == (SIM.width, SIM.height) and len(steps[0].T_world_cam) == 16
    recognised = [s for s in steps if s.detections is not None]
    assert recognised and all(s.keyframe for s in recognised)  # recognition runs on keyframes
    top = recognised[-1].detections[0]
    assert (
        top.class_name == "chair"
        and top.score == max(top.scores.values())
        and set(top.scores) == set(CLASSES)
    )
    assert observer.records == steps and observer.closed == 1
    assert observer.gaussians == [s.gaussians for s in steps]


def test_deterministic_replay_gives_the_same_result_twice(replayed):
    _, first, second, _ = replayed
    assert first.metrics.heldout_psnr_per_frame == second.metrics.heldout_psnr_per_frame
    assert first.metrics.final_gaussians == second.metrics.final_gaussians
    a, b = first.heldout[0][1], second.heldout[0][1]
    assert torch.equal(a, b)


def test_a_corrupt_message_is_skipped_with_a_warning(tmp_path):
    from gs_perception.ros.bag_io import BagWriter
    from gs_perception.ros.typestore import MessageTypes

    frames = list(simulate(replace(SIM, frames=4, held_out_every=0)))
    with BagWriter(tmp_path / "bad") as writer:
        types = MessageTypes.from_typestore(writer.typestore)
        from gs_perception.ros.sim_bag import SimTopics, sim_frame_messages

        for k, sim in enumerate(frames):
            for topic, msg in sim_frame_messages(types, sim, SimTopics()):
                if k == 1 and topic == "/camera/image_raw":
                    msg = sensors.array_to_image(
                        types, np.zeros((48, 64), np.uint16), "16UC1", sim.frame.stamp_ns, "x"
                    )
                    msg.encoding = "yuv422_weird"  # an encoding nobody converts
                writer.write(topic, msg, sim.frame.stamp_ns)
        writer.write("/unrelated", sensors.make_header(types, 0, "x"), 1)
    config = ReplayConfig(pipeline=PipelineConfig(memory=replace(MEMORY, steps_per_keyframe=2)))
    with pytest.warns(UserWarning, match="yuv422_weird"):
        result = replay(tmp_path / "bad", tmp_path / "out", config, show_progress=False)
    assert result.metrics.frames == 3 and result.metrics.skipped_messages == {"/camera/image_raw": 1}


# -- what users hand over: bags without the camera, reruns, crashes, cut recordings -------------------------
SMALL = SimConfig(width=32, height=24, frames=6)  # 6 live + 1 held-out frame: 41 messages
SMALL_MEMORY = replace(MEMORY, working_min_width=32, steps_per_keyframe=2)
FAST = ReplayConfig(pipeline=PipelineConfig(memory=SMALL_MEMORY))


@pytest.fixture(scope="module")
def small_bag(tmp_path_factory) -> Path:
    return write_sim_bag(simulate(SMALL), tmp_path_factory.mktemp("small") / "sim").path


def leftovers(out: Path) -> list[str]:
    """What lies next to ``out`` under its name: the output itself and any partial folder."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name))


def fail_on_third_step(monkeypatch) -> list[int]:
    """Make Pipeline.step raise on the 3rd frame (after real steps on the first two)."""
    calls: list[int] = []
    real_step = Pipeline.step

    def step(self, frame):
        calls.append(frame.stamp_ns)
        if len(calls) == 3:
            raise RuntimeError("the 3rd step failed")
        return real_step(self, frame)

    monkeypatch.setattr(Pipeline, "step", step)
    return calls


def test_a_bag_without_the_camera_is_refused_listing_its_topics_and_the_flags(tmp_path):
    with BagWriter(tmp_path / "talker") as writer:
        for i in range(3):
            writer.write("/chatter", writer.typestore.types["std_msgs/msg/String"](data=f"hi {i}"), i)
    with BagWriter(tmp_path / "tf_only") as writer:
        writer.write("/tf", sensors.tf_message(MessageTypes.from_typestore(writer.typestore), []), 0)
    out = tmp_path / "out"
    listings = {
        "talker": "/chatter  std_msgs/msg/String  (3 messages)",
        "tf_only": "/tf  tf2_msgs/msg/TFMessage",
    }
    for bag, listed in listings.items():
        with pytest.raises(ValueError, match="cannot be replayed") as caught:
            replay(tmp_path / bag, out, FAST, show_progress=False)
        text = str(caught.value)
        assert str(tmp_path / bag) in text and listed in text
        for topic, flag in [
            ("/camera/image_raw (sensor_msgs/msg/Image)", "--topics-image"),
            ("/camera/camera_info (sensor_msgs/msg/CameraInfo)", "--topics-camera-info"),
            ("/camera/pose (geometry_msgs/msg/PoseStamped)", "--topics-pose"),
        ]:
            assert f"{topic} is not in the bag: remap with {flag} TOPIC" in text
        assert leftovers(out) == []
    with BagWriter(tmp_path / "wrong_type") as writer:  # a topic of the right name but another type
        writer.write("/camera/image_raw", writer.typestore.types["std_msgs/msg/String"](data="img"), 0)
    with pytest.raises(ValueError) as caught:
        replay(tmp_path / "wrong_type", out, FAST, show_progress=False)
    expected = "/camera/image_raw is std_msgs/msg/String, not sensor_msgs/msg/Image: choose another with"
    assert f"{expected} --topics-image" in str(caught.value) and leftovers(out) == []


def test_a_bag_without_the_pose_topic_is_refused_and_remapping_it_works(tmp_path):
    bag = write_sim_bag(simulate(SMALL), tmp_path / "sim", topics=SimTopics(pose="/robot/pose")).path
    with pytest.raises(ValueError) as caught:
        replay(bag, tmp_path / "out", FAST, show_progress=False)
    text = str(caught.value)
    assert "/camera/pose (geometry_msgs/msg/PoseStamped) is not in the bag: remap with --topics-pose" in text
    assert "/robot/pose  geometry_msgs/msg/PoseStamped  (6 messages)" in text
    assert "/camera/image_raw" not in text.split("the bag has")[0]  # only the missing topic is complained of
    remapped = replace(FAST, topics=replace(FAST.topics, pose="/robot/pose"))
    assert replay(bag, tmp_path / "out", remapped, show_progress=False).metrics.frames == 6


def test_a_replay_failing_midway_leaves_neither_output_nor_partial_folder(tmp_path, small_bag, monkeypatch):
    calls = fail_on_third_step(monkeypatch)
    with pytest.raises(RuntimeError, match="3rd step"):
        replay(small_bag, tmp_path / "out", FAST, show_progress=False)
    assert len(calls) == 3 and leftovers(tmp_path / "out") == []


def test_an_existing_output_is_refused_and_overwrite_replaces_it_when_done(tmp_path, small_bag, monkeypatch):
    out = tmp_path / "out"
    replay(small_bag, out, FAST, show_progress=False)
    (out / "earlier.txt").write_text("the earlier output")
    with pytest.raises(FileExistsError, match=f"output {out} exists already: pass --overwrite") as caught:
        replay(small_bag, out, FAST, show_progress=False)
    assert isinstance(caught.value, ValueError)  # the CLI reports ValueErrors in one line
    fail_on_third_step(monkeypatch)
    with pytest.raises(RuntimeError):
        replay(small_bag, out, FAST, show_progress=False, overwrite=True)
    assert (out / "earlier.txt").is_file() and leftovers(out) == ["out"]  # a failed overwrite keeps the old
    monkeypatch.undo()
    result = replay(small_bag, out, FAST, show_progress=False, overwrite=True)
    assert not (out / "earlier.txt").exists() and leftovers(out) == ["out"]
    assert result.metrics_json == out / "metrics.json" and result.out_bag == out / "bag"
    assert json.loads(result.metrics_json.read_text())["metrics"]["frames"] == 6
    assert result.memory_ply.is_file()


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_a_cut_recording_is_replayed_as_far_as_intact_and_the_loss_counted(tmp_path, storage):
    bag = write_sim_bag(simulate(SMALL), tmp_path / "sim", storage=storage).path
    (file,) = [p for p in bag.iterdir() if p.suffix in (".db3", ".mcap")]
    file.write_bytes(file.read_bytes()[: int(file.stat().st_size * 0.6)])  # killed at 60 % of its bytes
    with pytest.warns(BagReadWarning, match="cut short"):
        readable = len(list(read_bag(bag)))
        result = replay(bag, tmp_path / "out", FAST, show_progress=False)
    m = result.metrics
    assert 0 < m.frames < 6 and 0 < readable < 41
    assert m.unreadable_messages == 41 - readable and str(file) in m.bag_damage[0]
    saved = json.loads(result.metrics_json.read_text())["metrics"]
    assert saved["unreadable_messages"] == 41 - readable and saved["bag_damage"] == m.bag_damage


def test_the_progress_bar_counts_to_the_wanted_topics_messages(tmp_path, small_bag, monkeypatch):
    import tqdm

    bars = []

    class RecordedBar(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, file=io.StringIO())
            bars.append(self)

    monkeypatch.setattr(tqdm, "tqdm", RecordedBar)
    replay(small_bag, tmp_path / "out", FAST, show_progress=True)
    unread = {"/tf", "/eval/depth/image_raw"}  # replay takes poses from /camera/pose and ignores eval depth
    wanted = sum(1 for m in read_bag(small_bag) if m.topic not in unread)
    (bar,) = bars
    assert bar.total == wanted == 34 and bar.n == wanted
