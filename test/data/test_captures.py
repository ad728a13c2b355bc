"""Photo captures as users bring them: one transforms.json, distortion, missing frames, resizing, SfM points,
a seeded held-out split, and the mean-colour baseline beside every fit."""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from gs_perception.core.fit import FitViews, colours_from_views, scene_frame
from gs_perception.data.capture_synth import (
    SyntheticCaptureConfig,
    capture_poses,
    render_pinhole,
    write_synthetic_capture,
)
from gs_perception.data.captures import CaptureConfig, load_capture
from gs_perception.data.fit_folder import load_views, mean_colour_psnr
from gs_perception.data.nerf_synthetic import DatasetError

# Strong barrel distortion, so that ignoring it shows at 48×64.
SMALL = SyntheticCaptureConfig(
    views=12, width=48, height=64, missing=(2, 7), sfm_points=500, distortion=(-0.35, 0.1, 0.002, -0.002)
)


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    return write_synthetic_capture(tmp_path_factory.mktemp("capture"), SMALL)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return -10 * math.log10(float(np.mean((a - b) ** 2)))


def test_a_single_transforms_json_loads_with_a_seeded_split_and_missing_frames_counted(capture):
    with pytest.warns(UserWarning, match=r"skipped 2 listed frame\(s\) whose image is missing"):
        loaded = load_capture(capture, CaptureConfig(test_every=4, split_seed=1))
    assert loaded.layout == "single file" and loaded.missing == [
        "images/frame_00002.jpg",
        "images/frame_00007.jpg",
    ]
    test_names = [p.name for p in loaded.test.paths]
    assert test_names == ["frame_00001.jpg", "frame_00005.jpg", "frame_00009.jpg"]  # every 4th, offset 1
    assert len(loaded.train) == 12 - 2 - 3 and loaded.train.rgb.shape == (7, 64, 48, 3)
    again = load_capture(capture, CaptureConfig(test_every=4, split_seed=1))
    assert [p.name for p in again.test.paths] == test_names  # deterministic


def test_distorted_photos_are_undistorted_to_the_pinhole_view(capture):
    ideal = render_pinhole(SMALL)[0]
    loaded = load_capture(capture, CaptureConfig(test_every=0))
    undistorted = loaded.train.rgb[0].numpy()
    meta = json.loads((capture / "transforms.json").read_text())
    meta["camera_model"] = "PINHOLE"  # the same photos, distortion ignored (the old behaviour)
    (capture / "transforms.json").write_text(json.dumps(meta))
    try:
        raw = load_capture(capture, CaptureConfig(test_every=0)).train.rgb[0].numpy()
    finally:
        meta["camera_model"] = "OPENCV"
        (capture / "transforms.json").write_text(json.dumps(meta))
    inner = np.s_[6:-6, 6:-6]  # away from the border, which no distorted pixel reaches
    assert _psnr(undistorted[inner], ideal[inner]) > _psnr(raw[inner], ideal[inner]) + 3.0
    assert _psnr(undistorted[inner], ideal[inner]) > 24.0
    assert loaded.undistorted


def test_downscale_and_max_size_shrink_images_and_intrinsics_together(capture):
    full = load_capture(capture, CaptureConfig(test_every=0))
    half = load_capture(capture, CaptureConfig(test_every=0, downscale=2.0))
    capped = load_capture(capture, CaptureConfig(test_every=0, max_size=40))
    assert half.train.rgb.shape[1:3] == (32, 24) and capped.train.rgb.shape[1:3] == (40, 30)
    torch.testing.assert_close(half.train.K[:, :2], full.train.K[:, :2] / 2)
    torch.testing.assert_close(
        capped.train.K[:, :2], full.train.K[:, :2] * torch.tensor([[30 / 48], [40 / 64]])
    )


def test_sfm_points_come_with_their_colours(capture):
    loaded = load_capture(capture)
    assert loaded.points is not None and loaded.points.shape[1] == 3 and 100 < loaded.points.shape[0] <= 500
    assert loaded.points_rgb.shape == loaded.points.shape and float(loaded.points_rgb.std()) > 0.05


def test_unsupported_camera_models_and_captures_without_images_are_refused(tmp_path, capture):
    folder = tmp_path / "c"
    shutil.copytree(capture, folder)
    meta = json.loads((folder / "transforms.json").read_text())
    (folder / "transforms.json").write_text(json.dumps({**meta, "camera_model": "EQUIRECTANGULAR"}))
    with pytest.raises(DatasetError, match="EQUIRECTANGULAR.*supported: PINHOLE"):
        load_capture(folder)
    shutil.rmtree(folder / "images")
    (folder / "transforms.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="none of the training frames has an existing image"):
        with pytest.warns(UserWarning):
            load_capture(folder)
    with pytest.raises(DatasetError, match="no transforms_train.json nor transforms.json"):
        load_capture(tmp_path)


def test_the_mean_colour_baseline_is_the_psnr_of_each_views_flat_mean(capture):
    with pytest.warns(UserWarning):
        train, test, points, _ = load_views(capture, (1.0, 1.0, 1.0), CaptureConfig(test_every=3))
    expected = np.mean(
        [_psnr(np.broadcast_to(v.mean(axis=(0, 1)), v.shape), v) for v in test.rgb.numpy().astype(np.float64)]
    )
    assert mean_colour_psnr(test) == pytest.approx(expected, abs=1e-3)
    assert points is not None and train.K.shape == (len(train.rgb), 3, 3)


def test_scene_frame_finds_what_an_orbit_looks_at_and_colours_come_from_the_views():
    config = replace(SMALL, radius=4.0)
    centre, radius = scene_frame(capture_poses(config))
    torch.testing.assert_close(centre, torch.tensor([0.0, 0.3, -0.4]), atol=5e-3, rtol=0)
    assert radius == pytest.approx(4.0, rel=1e-4)
    T = torch.eye(4)[None]  # camera at the origin looking down +z
    K = torch.tensor([[[10.0, 0, 4], [0, 10.0, 4], [0, 0, 1]]])
    rgb = torch.zeros(1, 8, 8, 3)
    rgb[0, 2, 6] = torch.tensor([1.0, 0.5, 0.25])
    views = FitViews(rgb, T, K)
    points = torch.tensor([[0.25, -0.175, 1.0], [0.0, 0.0, -1.0]])  # the first lands on pixel (6, 2)
    torch.testing.assert_close(
        colours_from_views(points, views), torch.tensor([[1.0, 0.5, 0.25], [0.5, 0.5, 0.5]])
    )


def test_fit_picks_capture_defaults_for_photos_and_object_defaults_for_renders(capture, tmp_path):
    from gs_perception.core.fit import FitConfig
    from gs_perception.data.fit_folder import CAPTURE_FIT, default_fit_config
    from gs_perception.data.meshes import normalise_to_unit_sphere
    from gs_perception.data.shapes import make_shape
    from gs_perception.data.views import ViewRenderConfig, write_nerf_synthetic

    assert default_fit_config(capture) == CAPTURE_FIT
    assert CAPTURE_FIT.init_background > 0 and CAPTURE_FIT.prune_scale > FitConfig().prune_scale
    render = write_nerf_synthetic(
        tmp_path / "chair",
        normalise_to_unit_sphere(make_shape("chair")),
        ViewRenderConfig(width=16, height=16, n_train=2, n_test=1),
    )
    assert default_fit_config(render) == FitConfig()  # RGBA renders of an object keep the object defaults
