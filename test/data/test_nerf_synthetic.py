"""Tests for gs_perception.data.nerf_synthetic: loading ours and original-Blender-style folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gs_perception.core.cameras import Intrinsics, look_at, opencv_to_opengl
from gs_perception.data.meshes import load_mesh, normalise_to_unit_sphere
from gs_perception.data.nerf_synthetic import DatasetError, PosedImages, load_nerf_synthetic
from gs_perception.data.shapes import make_shape
from gs_perception.data.views import DEPTH_SCALE, ViewRenderConfig, render_views, write_nerf_synthetic

CONFIG = ViewRenderConfig(width=32, height=32, n_train=5, n_test=3)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    mesh = make_shape("chair", 4)
    folder = write_nerf_synthetic(tmp_path_factory.mktemp("chair"), mesh, CONFIG)
    return folder, normalise_to_unit_sphere(mesh)


def test_round_trip_restores_poses_intrinsics_images_and_depth(written):
    folder, unit = written
    for split, n in (("train", 5), ("test", 3)):
        data = load_nerf_synthetic(folder, split)
        poses = CONFIG.poses(split)
        assert len(data) == n and data.rgb.shape == (n, 32, 32, 3) and data.alpha.shape == (n, 32, 32)
        assert torch.allclose(data.T_world_cam, poses, atol=1e-6)  # OpenCV → OpenGL file → OpenCV
        assert data.intrinsics == CONFIG.intrinsics()
        views = render_views(unit, CONFIG, poses)
        assert torch.equal(data.rgb, views.rgba[..., :3].float() / 255.0)
        assert torch.equal(data.alpha, views.rgba[..., 3].float() / 255.0)
        assert data.depth is not None
        assert (data.depth - views.depth).abs().max() <= 1.0 / DEPTH_SCALE
        assert data.paths[0] == folder / split / "r_000.png"


def test_written_test_poses_differ_from_train_poses(written):
    folder, _ = written
    train, test = load_nerf_synthetic(folder, "train"), load_nerf_synthetic(folder, "test")
    assert torch.cdist(test.T_world_cam[:, :3, 3], train.T_world_cam[:, :3, 3]).min() > 0.1


def test_written_mesh_and_masks_match_the_render(written):
    folder, unit = written
    meta = json.loads((folder / "transforms_train.json").read_text())
    mesh = load_mesh(folder / meta["mesh_path"])
    # Loading merges duplicate vertices, so compare the surface, not the vertex arrays.
    assert len(mesh.faces) == len(unit.faces) and mesh.area == pytest.approx(unit.area, rel=1e-6)
    assert np.allclose(mesh.bounds, unit.bounds, atol=1e-6)
    assert np.array_equal(
        np.unique(mesh.visual.face_colors, axis=0), np.unique(unit.visual.face_colors, axis=0)
    )
    data = load_nerf_synthetic(folder, "train")
    mask = np.asarray(Image.open(folder / meta["frames"][0]["mask_path"]))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    assert np.array_equal(mask > 0, data.depth[0].numpy() > 0)


def test_max_images_limits_the_frames(written):
    folder, _ = written
    data = load_nerf_synthetic(folder, "train", max_images=2)
    assert len(data) == 2 and data.rgb.shape[0] == data.depth.shape[0] == data.T_world_cam.shape[0] == 2


def test_composite_blends_over_the_background():
    rgb = torch.tensor([[[[0.2, 0.4, 0.6], [1.0, 0.0, 0.0]]]])
    alpha = torch.tensor([[[0.25, 0.0]]])
    data = PosedImages(rgb, alpha, None, torch.eye(4)[None], Intrinsics(1, 1, 1, 0.5, 2, 1), [Path("x.png")])
    out = data.composite((0.0, 1.0, 0.0))
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.05, 0.85, 0.15]))
    assert torch.allclose(out[0, 0, 1], torch.tensor([0.0, 1.0, 0.0]))


def _blender_folder(
    root: Path, poses_cv: torch.Tensor, images: list[np.ndarray], angle: float = 0.69
) -> Path:
    """An original-Blender-style scene: paths without extension, only camera_angle_x, no depth."""
    (root / "train").mkdir(parents=True)
    frames = []
    for i, (pose, image) in enumerate(zip(poses_cv, images)):
        Image.fromarray(image).save(root / "train" / f"r_{i}.png")
        frames.append(
            {
                "file_path": f"./train/r_{i}",
                "rotation": 0.012,
                "transform_matrix": opencv_to_opengl(pose).tolist(),
            }
        )
    (root / "transforms_train.json").write_text(json.dumps({"camera_angle_x": angle, "frames": frames}))
    return root


def _poses() -> torch.Tensor:
    return look_at(torch.tensor([[4.0, 0.0, 1.0], [0.0, 4.0, 2.0]]), torch.zeros(2, 3))


def test_loads_an_original_blender_style_folder(tmp_path: Path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (24, 20, 4), dtype=np.uint8) for _ in range(2)]
    data = load_nerf_synthetic(_blender_folder(tmp_path, _poses(), images), "train")
    assert data.depth is None
    assert data.paths[1] == tmp_path / "train" / "r_1.png"
    assert torch.allclose(data.T_world_cam, _poses(), atol=1e-6)
    assert data.intrinsics == Intrinsics.from_fov(0.69, 20, 24)
    assert data.intrinsics.fx == pytest.approx(10.0 / math.tan(0.345))
    assert torch.equal(data.rgb[0], torch.from_numpy(images[0][..., :3]).float() / 255.0)
    assert torch.equal(data.alpha[1], torch.from_numpy(images[1][..., 3]).float() / 255.0)


def test_rgb_images_without_alpha_load_with_unit_alpha(tmp_path: Path):
    images = [np.full((8, 8, 3), 100, np.uint8)] * 2
    data = load_nerf_synthetic(_blender_folder(tmp_path, _poses(), images))
    assert torch.equal(data.alpha, torch.ones(2, 8, 8))
    assert torch.allclose(data.rgb, torch.full((2, 8, 8, 3), 100 / 255.0))


def _edit_frame(folder: Path, key: str, value) -> None:
    path = folder / "transforms_train.json"
    meta = json.loads(path.read_text())
    meta["frames"][1][key] = value
    path.write_text(json.dumps(meta))


def test_nan_or_non_rigid_transform_is_a_dataset_error(tmp_path: Path):
    images = [np.zeros((8, 8, 4), np.uint8)] * 2
    folder = _blender_folder(tmp_path / "nan", _poses(), images)
    bad = opencv_to_opengl(_poses()[1]).tolist()
    bad[0][3] = float("nan")
    _edit_frame(folder, "transform_matrix", bad)
    with pytest.raises(DatasetError, match=r"transforms_train.json.*frame 1.*NaN"):
        load_nerf_synthetic(folder)
    folder = _blender_folder(tmp_path / "scaled", _poses(), images)
    _edit_frame(folder, "transform_matrix", (2.0 * opencv_to_opengl(_poses()[1])).tolist())
    with pytest.raises(DatasetError, match="not a rigid"):
        load_nerf_synthetic(folder)


def test_missing_image_folder_or_json_is_a_dataset_error(tmp_path: Path):
    folder = _blender_folder(tmp_path / "scene", _poses(), [np.zeros((8, 8, 4), np.uint8)] * 2)
    (folder / "train" / "r_1.png").unlink()
    with pytest.raises(DatasetError, match="r_1.*does not exist"):
        load_nerf_synthetic(folder)
    with pytest.raises(DatasetError, match="transforms_test.json.*does not exist"):
        load_nerf_synthetic(folder, "test")
    with pytest.raises(DatasetError, match="nowhere.*does not exist"):
        load_nerf_synthetic(tmp_path / "nowhere")


def test_mismatched_image_sizes_are_a_dataset_error(tmp_path: Path):
    images = [np.zeros((8, 8, 4), np.uint8), np.zeros((8, 9, 4), np.uint8)]
    folder = _blender_folder(tmp_path, _poses(), images)
    with pytest.raises(DatasetError, match="r_1.png.*9x8 differs"):
        load_nerf_synthetic(folder)


def test_missing_depth_image_is_a_dataset_error(written, tmp_path: Path):
    folder, _ = written
    meta = json.loads((folder / "transforms_test.json").read_text())
    meta["frames"][0]["depth_path"] = "depth/test/gone.png"
    for name in ("test", "depth/test"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    for frame in meta["frames"]:
        for key in ("file_path", "depth_path"):
            if (folder / frame[key]).is_file():
                (tmp_path / frame[key]).write_bytes((folder / frame[key]).read_bytes())
    (tmp_path / "transforms_test.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="gone.png.*does not exist"):
        load_nerf_synthetic(tmp_path, "test")
