"""The viewer's scene model: what a memory PLY and a replay output folder show, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gs_perception.core.ply import PlyError, write_ply
from gs_perception.ros.view_sources import load_scene, view_kind
from gs_perception.viewer.config import ViewerConfig
from gs_perception.viewer.scene import Splats, read_replay_folder, select_frames

STEPS = 6  # test/viewer/conftest.py: steps 0, 2, 4 are keyframes, step 4 recognised


def test_replay_folder_shows_a_frustum_per_keyframe_the_last_detections_and_the_input_images(replay_folder):
    scene = load_scene(replay_folder)
    assert scene.title.endswith("/replay") and scene.splats.num == scene.splats.total == 600
    assert [c.index for c in scene.cameras] == [0, 2, 4]
    assert [(d.class_name, d.score) for d in scene.detections] == [("chair", 0.87)]
    assert [f.camera.index for f in scene.frames] == [0, 2, 4]
    for frame in scene.frames:  # each frame got its own image from the bag (solid colours by step)
        k = frame.camera.index
        expected = np.round(np.array([k / STEPS, 0.5, 1.0 - k / STEPS]) * 255)
        assert frame.image.shape == (30, 40, 3) and frame.image.dtype == np.uint8
        assert np.abs(frame.image.reshape(-1, 3).astype(float) - expected).max() <= 1
    assert scene.notes == []


def test_the_memory_render_at_a_frame_shows_the_object_in_the_middle_over_the_background(replay_folder):
    scene = load_scene(replay_folder, ViewerConfig(image_max_side=20))
    render = scene.render_frame(1, max_side=20)
    assert render.shape == (15, 20, 3) and render.dtype == np.uint8  # 40×30 scaled to a 20-pixel side
    centre, corner = render[7, 10].astype(int), render[0, 0].astype(int)
    assert centre[0] > 150 and centre[2] < 100  # the red blob the camera looks at
    assert (corner > 240).all()  # the memory's white background
    assert scene.render_frame(99, 20) is None


def test_splats_are_the_most_opaque_gaussians_with_their_covariances(make_blob):
    cloud = make_blob(n=50)
    cloud.opacity_logits = torch.linspace(-3.0, 3.0, 50)
    splats = Splats.of(cloud, max_splats=10)
    assert splats.num == 10 and splats.total == 50
    assert splats.opacities.shape == (10, 1) and splats.opacities.min() > torch.sigmoid(torch.tensor(1.7))
    assert splats.covariances.shape == (10, 3, 3)
    np.testing.assert_allclose(splats.covariances[0], np.eye(3) * 0.03**2, rtol=1e-4, atol=1e-9)
    np.testing.assert_allclose(splats.rgbs[0], [0.9, 0.1, 0.1], atol=1e-5)
    assert np.linalg.norm(splats.centre()) < 0.05 and 0.05 < splats.radius() < 0.16


def test_a_ply_shows_its_splats_only(tmp_path, make_blob):
    write_ply(tmp_path / "memory.ply", make_blob(n=80))
    scene = load_scene(tmp_path / "memory.ply", ViewerConfig(max_splats=50))
    assert scene.title == "memory.ply" and scene.splats.num == 50 and scene.splats.total == 80
    assert scene.cameras == [] and scene.detections == [] and scene.frames == []


def test_a_replay_whose_bag_is_gone_still_shows_the_memory_and_says_why_images_are_missing(
    tmp_path, make_replay
):
    folder = make_replay(tmp_path, with_bag=False)
    scene = load_scene(folder)
    assert len(scene.cameras) == 3 and all(f.image is None for f in scene.frames)
    assert any("sim_bag" in note and "no input images" in note for note in scene.notes), scene.notes


def test_a_replay_from_before_steps_jsonl_shows_the_memory_and_says_so(tmp_path, make_replay):
    folder = make_replay(tmp_path)
    (folder / "steps.jsonl").unlink()
    scene = load_scene(folder)
    assert scene.splats.num == 600 and scene.cameras == [] and scene.frames == []
    assert any("steps.jsonl" in note for note in scene.notes)


def test_a_folder_without_memory_ply_is_a_clear_error_naming_the_file(tmp_path):
    (tmp_path / "steps.jsonl").write_text("")
    with pytest.raises(FileNotFoundError, match=r"memory\.ply not found.*not a replay output folder"):
        read_replay_folder(tmp_path)
    with pytest.raises(ValueError, match=rf"{tmp_path}.*memory\.ply not found.*bag"):
        load_scene(tmp_path)


def test_a_bad_ply_is_a_clear_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken.ply"
    bad.write_bytes(b"ply\nformat ascii 1.0\nend_header\n")
    with pytest.raises(PlyError, match="broken.ply"):
        load_scene(bad)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_scene(tmp_path / "nope.ply")


def test_view_kind_tells_a_ply_a_replay_folder_and_a_bag_apart(tmp_path, replay_folder):
    (tmp_path / "m.ply").write_bytes(b"")
    (tmp_path / "bag").mkdir()
    (tmp_path / "bag" / "metadata.yaml").write_text("")
    (tmp_path / "x.mcap").write_bytes(b"")
    assert view_kind(tmp_path / "m.ply") == "ply" and view_kind(replay_folder) == "replay"
    assert view_kind(tmp_path / "bag") == "bag" and view_kind(tmp_path / "x.mcap") == "bag"
    assert view_kind(replay_folder.parent / "sim_bag") == "bag"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a memory .ply"):
        view_kind(tmp_path / "empty")


def test_frames_are_the_keyframes_evenly_thinned_keeping_the_first_and_last(make_record):
    steps = [make_record(i, keyframe=i % 3 != 1) for i in range(30)]
    chosen = select_frames(steps, max_frames=5)
    keyframes = [s.index for s in steps if s.keyframe]
    assert len(chosen) == 5 and chosen[0].index == keyframes[0] and chosen[-1].index == keyframes[-1]
    assert all(s.keyframe for s in chosen)
    assert [s.index for s in select_frames(steps[:1], 5)] == [0]  # no keyframe: every step


def test_viewer_config_refuses_impossible_values():
    with pytest.raises(ValueError, match="port"):
        ViewerConfig(port=70000)
    with pytest.raises(ValueError, match="max_splats"):
        ViewerConfig(max_splats=0)


def test_the_replay_folder_fixture_is_what_replay_writes(replay_folder: Path):
    assert {p.name for p in replay_folder.iterdir()} == {"memory.ply", "steps.jsonl", "metrics.json"}
    assert read_replay_folder(replay_folder).input_bag == replay_folder.parent / "sim_bag"
