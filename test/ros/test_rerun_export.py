"""Rerun export: a replay folder → .rrd, read back with rerun's own reader and checked entity by entity."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from gs_perception.cli import main
from gs_perception.core.ply import read_ply
from gs_perception.pipeline.step_log import STEPS_FILE, read_steps
from gs_perception.ros.bag_io import read_bag
from gs_perception.ros.replay import ReplayConfig, replay
from gs_perception.ros.replay_folder import METRICS_FILE, RECORDING_FILE
from gs_perception.ros.rerun_export import RerunConfig, RerunMissingError, export_rerun, require_rerun

pytestmark = pytest.mark.slow
rr = pytest.importorskip("rerun", reason="rerun-sdk is not installed (pip install -e '.[rerun]')")


def _read(rrd: Path) -> dict[str, dict]:
    """entity path → {column: one value per row, rows of all its chunks in the viewer's order (stamp, then
    logging order), None where a chunk lacks the column} plus 'static': {column: values} of its static rows;
    stamps as int nanoseconds."""
    from rerun.chunk import RrdReader

    entities: dict[str, dict] = {}
    for chunk in RrdReader(rrd).stream().collect().stream():
        table = chunk.to_record_batch().to_pydict()
        row_ids = table.pop("rerun.controls.RowId")  # time-ordered ids: bytes compare in logging order
        columns = entities.setdefault(chunk.entity_path, {"static": {}, "stamp": []})
        if chunk.is_static:
            columns["static"].update(table)
            continue
        table["row_id"] = row_ids
        before, rows = len(columns["stamp"]), chunk.num_rows
        table["stamp"] = [int(np.datetime64(v, "ns").astype(np.int64)) for v in table["stamp"]]
        for name in set(columns) - {"static"} | set(table):
            columns.setdefault(name, [None] * before).extend(table.get(name, [None] * rows))
    for columns in entities.values():  # chunks of one entity may interleave in time: sort their rows
        order = sorted(
            range(len(columns["stamp"])), key=lambda k: (columns["stamp"][k], columns["row_id"][k])
        )
        for name in [n for n in columns if n != "static"]:
            columns[name] = [columns[name][k] for k in order]
    return entities


@pytest.fixture(scope="module")
def recording(tiny_replay):
    """The recording replay wrote with ``ReplayConfig.rerun`` (test/ros/conftest.py), read back."""
    return _read(tiny_replay / RECORDING_FILE)


def test_cameras_poses_and_intrinsics_follow_the_steps_on_the_stamp_timeline(tiny_replay, recording):
    steps = read_steps(tiny_replay / STEPS_FILE)
    stamps = [s.stamp_ns for s in steps]
    camera = recording["/world/camera"]
    assert camera["stamp"] == stamps
    for step, translation, rotation in zip(
        steps, camera["Transform3D:translation"], camera["Transform3D:mat3x3"]
    ):
        T = np.asarray(step.T_world_cam).reshape(4, 4)
        assert np.allclose(translation[0], T[:3, 3], atol=1e-6)
        # rerun stores 3×3 matrices column-major
        assert np.allclose(np.asarray(rotation[0]).reshape(3, 3).T, T[:3, :3], atol=1e-6)
    image = recording["/world/camera/image"]
    pinhole_rows = [k for k, p in enumerate(image["Pinhole:image_from_camera"]) if p is not None]
    assert len(pinhole_rows) == len(steps)
    fx, fy, cx, cy, width, height = steps[0].intrinsics
    K = np.asarray(image["Pinhole:image_from_camera"][pinhole_rows[0]][0]).reshape(3, 3).T
    assert np.allclose(K, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    assert image["Pinhole:resolution"][pinhole_rows[0]][0] == [width, height]
    assert recording["/world"]["static"]["ViewCoordinates:xyz"]  # REP-103 world axes, logged once


def test_images_memory_views_and_heldout_pairs_are_logged_at_their_stamps(tiny_replay, recording):
    stamps = [s.stamp_ns for s in read_steps(tiny_replay / STEPS_FILE)]
    image = recording["/world/camera/image"]
    jpegs = [(t, b) for t, b in zip(image["stamp"], image["EncodedImage:blob"]) if b is not None]
    assert [t for t, _ in jpegs] == stamps  # every live input image, JPEG by default
    assert all(bytes(blob[0][:2]) == b"\xff\xd8" for _, blob in jpegs)  # JPEG magic
    assert recording["/memory_view"]["stamp"] == stamps
    sim = tiny_replay.parent / "sim"
    heldout = [m.stamp_ns for m in read_bag(sim, topics={"/eval/image_raw"})]
    assert recording["/heldout/input"]["stamp"] == recording["/heldout/memory"]["stamp"] == heldout
    assert recording["/metrics/gaussians"]["stamp"] == stamps


def test_memory_points_splats_and_detection_boxes_match_the_replay(tiny_replay, recording):
    clouds = list(read_bag(tiny_replay / "bag", topics={"/gs_perception/gaussians"}))
    points = recording["/world/gaussians"]
    logged = [(t, len(p)) for t, p in zip(points["stamp"], points["Points3D:positions"]) if p is not None]
    assert logged == [(m.stamp_ns, m.msg.width) for m in clouds] and clouds
    cloud = read_ply(tiny_replay / "memory.ply")
    splats = recording["/world/memory"]
    steps = read_steps(tiny_replay / STEPS_FILE)
    assert splats["stamp"] == [steps[-1].stamp_ns]
    # at the end the points are cleared: the final splats stand for the memory
    assert points["stamp"][-1] == steps[-1].stamp_ns and points["Clear:is_recursive"][-1] == [False]
    assert np.allclose(splats["GaussianSplats3D:centers"][0], cloud.means.numpy(), atol=1e-6)
    alpha = np.asarray(splats["GaussianSplats3D:colors"][0], dtype=np.uint32) & 0xFF  # RGBA packed 0xRRGGBBAA
    assert np.abs(alpha - cloud.opacities().numpy() * 255).max() <= 0.5 + 1e-6
    recognised = [s for s in steps if s.detections is not None]
    boxes = recording["/world/detections"]
    assert boxes["stamp"] == [s.stamp_ns for s in recognised]
    for step, labels, centres, half in zip(
        recognised, boxes["Boxes3D:labels"], boxes["Boxes3D:centers"], boxes["Boxes3D:half_sizes"]
    ):
        assert labels == [f"{d.class_name} {d.score:.2f}" for d in step.detections]
        assert np.allclose(centres, [d.centre for d in step.detections], atol=1e-6)
        assert np.allclose(np.asarray(half) * 2, [d.size for d in step.detections], atol=1e-6)
    classes = recording["/world/detections"]["static"]["AnnotationContext:context"]
    assert classes  # one colour per class, logged once


def test_without_the_input_bag_the_rest_is_exported_with_a_warning(tiny_replay, tmp_path):
    folder = tmp_path / "moved"
    shutil.copytree(tiny_replay, folder)
    payload = json.loads((folder / METRICS_FILE).read_text())
    payload["bag"] = str(tmp_path / "gone")
    (folder / METRICS_FILE).write_text(json.dumps(payload))
    with pytest.warns(UserWarning, match="input bag .*gone.* is gone: no input images"):
        done = export_rerun(folder, tmp_path / "r.rrd", RerunConfig(jpeg_quality=0))
    assert (done.input_images, done.poses, done.memory_views, done.detection_steps) == (0, 8, 8, 2)
    read = _read(tmp_path / "r.rrd")
    assert "/heldout/input" not in read and "Image:buffer" in read["/memory_view"]  # raw pixels at quality 0
    assert not (tmp_path / "r.rrd.partial").exists()


def test_the_recording_carries_a_default_layout(tiny_replay):
    from rerun.chunk import RrdReader

    reader = RrdReader(tiny_replay / RECORDING_FILE)
    assert len(reader.recordings()) == 1 and len(reader.blueprints()) == 1


def test_export_rerun_command_writes_the_folders_recording(tiny_replay, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_replay, folder)
    (folder / RECORDING_FILE).unlink()
    assert main(["export-rerun", str(folder)]) == 0
    assert f"→ {folder / RECORDING_FILE} (open with: rerun" in capsys.readouterr().out
    assert _read(folder / RECORDING_FILE).keys() == _read(tiny_replay / RECORDING_FILE).keys()


def test_without_rerun_sdk_the_error_says_how_to_install_it_before_any_replay(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "rerun", None)  # what `import rerun` sees when it is not installed
    with pytest.raises(RerunMissingError, match=r"pip install 'rerun-sdk==0\.41\.0'"):
        require_rerun()
    with pytest.raises(RerunMissingError):
        replay(tmp_path / "no_bag_needed", tmp_path / "out", ReplayConfig(rerun=str(tmp_path / "x.rrd")))
    assert not (tmp_path / "out").exists()
