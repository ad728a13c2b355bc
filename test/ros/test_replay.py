"""Bag replay end to end: a 10-frame simulated bag through the pipeline, outputs checked in the output bag."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from gs_perception.core.memory import MemoryConfig
from gs_perception.data.sim import SimConfig, simulate
from gs_perception.pipeline.recognition import RecognitionConfig
from gs_perception.pipeline.step import PipelineConfig
from gs_perception.ros import conversions as cv
from gs_perception.ros.bag_io import read_bag
from gs_perception.ros.replay import ReplayConfig, replay
from gs_perception.ros.sim_bag import write_sim_bag

pytestmark = pytest.mark.slow

SIM = SimConfig(width=64, height=48, frames=8, held_out_every=4, rate_hz=4.0)
MEMORY = MemoryConfig(working_min_width=64, steps_per_keyframe=15, keyframe_min_interval_s=0.0)
CLASSES = ("bed", "chair", "table")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, tiny_bundle):  # tiny_bundle: test/ros/conftest.py, always says "chair"
    root = tmp_path_factory.mktemp("replay")
    write_sim_bag(simulate(SIM), root / "sim")
    recognition = RecognitionConfig(bundle=str(tiny_bundle), num_views=2, min_gaussians=20)
    config = ReplayConfig(pipeline=PipelineConfig(memory=MEMORY, recognition=recognition, recognise_every=4))
    first = replay(root / "sim", root / "out1", config, show_progress=False)
    second = replay(root / "sim", root / "out2", config, show_progress=False)
    return root, first, second


def test_every_live_frame_is_stepped_and_held_out_frames_are_rendered_well(replayed):
    _, result, _ = replayed
    m = result.metrics
    assert m.frames == 8 and m.dropped_frames == 0 and m.skipped_messages == {}
    assert m.heldout_frames == 2
    assert m.heldout_psnr_db is not None and m.heldout_psnr_db > 22.0, m.heldout_psnr_per_frame
    assert m.keyframes >= 6 and m.final_gaussians > 100
    assert [count for _, count in m.gaussians_over_time][-1] == m.final_gaussians
    assert m.latency_ms_p95 >= m.latency_ms_p50 > 0


def test_outputs_carry_the_input_stamps_and_frames(replayed):
    root, result, _ = replayed
    inputs = {msg.stamp_ns for msg in read_bag(root / "sim", topics={"/camera/image_raw"})}
    by_topic: dict[str, list] = {}
    for msg in read_bag(result.out_bag):
        by_topic.setdefault(msg.topic, []).append(msg)
    views = by_topic["/gs_perception/memory_view"]
    assert {m.stamp_ns for m in views} == inputs
    assert all(cv.stamp_to_ns(m.msg.header.stamp) == m.stamp_ns for m in views)
    assert all(m.msg.header.frame_id == "camera_optical_frame" and m.msg.encoding == "rgb8" for m in views)
    detections = by_topic["/gs_perception/detections"]
    assert {m.stamp_ns for m in detections} <= inputs and detections
    det = detections[-1].msg.detections[0]
    assert det.id == "object_0" and det.results[0].hypothesis.class_id == "chair"
    table = cv.image_to_embeddings(by_topic["/gs_perception/embeddings/image"][-1].msg)
    assert table.shape == (len(detections[-1].msg.detections), 16)
    label_info = by_topic["/gs_perception/label_info"][0].msg
    assert [c.class_name for c in label_info.class_map] == list(CLASSES)
    assert len(by_topic["/gs_perception/eval/memory_view"]) == 2
    clouds = by_topic["/gs_perception/gaussians"]
    assert clouds and cv.pointcloud2_to_array(clouds[-1].msg).shape[0] > 100


def test_ground_truth_gives_accuracy_and_metrics_json(replayed):
    _, result, _ = replayed
    m = result.metrics
    assert m.ground_truth == ["chair"] and m.predicted[0] == "chair" and m.accuracy == 1.0
    saved = json.loads(result.metrics_json.read_text())
    assert saved["metrics"]["heldout_psnr_db"] == pytest.approx(m.heldout_psnr_db)
    assert saved["provenance"]["git_sha"] and result.memory_ply.is_file()


def test_deterministic_replay_gives_the_same_result_twice(replayed):
    _, first, second = replayed
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
                    msg = cv.array_to_image(
                        types, np.zeros((48, 64), np.uint16), "16UC1", sim.frame.stamp_ns, "x"
                    )
                    msg.encoding = "yuv422_weird"  # an encoding nobody converts
                writer.write(topic, msg, sim.frame.stamp_ns)
        writer.write("/unrelated", cv.make_header(types, 0, "x"), 1)
    config = ReplayConfig(pipeline=PipelineConfig(memory=replace(MEMORY, steps_per_keyframe=2)))
    with pytest.warns(UserWarning, match="yuv422_weird"):
        result = replay(tmp_path / "bad", tmp_path / "out", config, show_progress=False)
    assert result.metrics.frames == 3 and result.metrics.skipped_messages == {"/camera/image_raw": 1}
