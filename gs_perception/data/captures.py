"""Posed photo captures as users bring them: NeRF-synthetic, Instant-NGP and nerfstudio ``transforms`` files.

Two layouts are read:

- ``transforms_train.json`` (+ optional ``transforms_test.json``): the NeRF-synthetic split files;
- one ``transforms.json`` (Instant-NGP / nerfstudio): all frames in one file; without a test file a
  deterministic, seeded share of the frames is held out (:attr:`CaptureConfig.test_every`).

Fields (top level, overridden per frame where nerfstudio allows it): ``fl_x fl_y cx cy w h`` in pixels or
``camera_angle_x``; ``camera_model`` (``OPENCV``, ``PINHOLE``, ``SIMPLE_PINHOLE``, ``OPENCV_FISHEYE``) with
distortion ``k1 k2 k3 k4 p1 p2``; ``ply_file_path`` (nerfstudio's SfM points, used as initial Gaussians);
``frames[].file_path`` and ``transform_matrix`` (camera→world, OpenGL axes: converted to OpenCV axes here).
Distorted images are undistorted with OpenCV to the same pinhole ``K``; images are then resized by
``downscale`` / ``max_size`` with ``K`` scaled alike. Frames whose image is missing are skipped with one
warning that counts them; the capture fails only when none remain.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..core.cameras import opengl_to_opencv
from .nerf_synthetic import (
    DatasetError,
    image_path_or_none,
    intrinsics_from_meta,
    read_json,
    read_pose,
    read_rgba,
)

#: camera_model → how to undistort it ("opencv": k1 k2 p1 p2 [k3]; "fisheye": k1..k4; None: nothing to do).
CAMERA_MODELS = {"PINHOLE": None, "SIMPLE_PINHOLE": None, "OPENCV": "opencv", "OPENCV_FISHEYE": "fisheye"}
_INTRINSIC_KEYS = ("fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y", "camera_model")
_DISTORTION_KEYS = ("k1", "k2", "k3", "k4", "p1", "p2")


@dataclass(frozen=True)
class CaptureConfig:
    """How a capture is read."""

    downscale: float = 1.0
    """Divide the image size by this (2: half the width and height); intrinsics follow."""
    max_size: int = 0
    """… and make the longer image side at most this many pixels (0: no limit)."""
    test_every: int = 8
    """Without a test file, hold out every this-th frame (0: hold out nothing)."""
    split_seed: int = 0
    """Which frame of each ``test_every`` group is held out (split_seed modulo test_every)."""


@dataclass
class CaptureViews:
    """Posed images of one split: ``rgb`` [N, H, W, 3] and ``alpha`` [N, H, W] in [0, 1], ``K`` [N, 3, 3]
    (pixels, after undistortion and resizing), ``T_world_cam`` [N, 4, 4] (camera→world, OpenCV axes)."""

    rgb: Tensor
    alpha: Tensor
    K: Tensor
    T_world_cam: Tensor
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.paths)


@dataclass
class Capture:
    """A loaded capture.

    Attributes:
        train: Training views.
        test: Held-out views (a test file's, or the seeded share), None when there are none.
        points, points_rgb: [P, 3] SfM points (world) and colours in [0, 1] from ``ply_file_path``, or None.
        missing: Listed frames whose image does not exist (skipped).
        undistorted: Whether any image was undistorted.
        layout: "split files" or "single file".
    """

    train: CaptureViews
    test: CaptureViews | None
    points: Tensor | None
    points_rgb: Tensor | None
    missing: list[str]
    undistorted: bool
    layout: str


def has_capture(folder: str | Path) -> bool:
    """Whether ``folder`` holds a transforms file of either layout."""
    folder = Path(folder)
    return (folder / "transforms_train.json").is_file() or (folder / "transforms.json").is_file()


def load_capture(folder: str | Path, config: CaptureConfig = CaptureConfig()) -> Capture:
    """Read a capture in either layout (see the module docstring).

    Raises:
        DatasetError: No transforms file, no frame with an existing image, an unsupported camera model,
            malformed poses or intrinsics, images of different sizes — naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: capture folder does not exist")
    missing: list[str] = []
    if (folder / "transforms_train.json").is_file():
        train_meta = read_json(folder / "transforms_train.json")
        train = _read_split(
            folder, train_meta, _frames(train_meta, folder / "transforms_train.json"), config, missing
        )
        test_json = folder / "transforms_test.json"
        test = None
        if test_json.is_file():
            test_meta = read_json(test_json)
            test = _read_split(folder, test_meta, _frames(test_meta, test_json), config, missing)
        meta, layout = train_meta, "split files"
    elif (folder / "transforms.json").is_file():
        meta = read_json(folder / "transforms.json")
        frames = _frames(meta, folder / "transforms.json")
        held = _held_out(len(frames), config)
        train = _read_split(folder, meta, [f for i, f in enumerate(frames) if i not in held], config, missing)
        test_frames = [f for i, f in enumerate(frames) if i in held]
        test = _read_split(folder, meta, test_frames, config, missing) if test_frames else None
        layout = "single file"
    else:
        raise DatasetError(f"{folder}: no transforms_train.json nor transforms.json")
    if missing:
        warnings.warn(f"{folder}: skipped {len(missing)} listed frame(s) whose image is missing "
                      f"(first: {missing[0]})", stacklevel=2)  # fmt: skip
    if train is None:
        raise DatasetError(f"{folder}: none of the training frames has an existing image")
    points, colours = _sfm_points(folder, meta)
    undistorted = CAMERA_MODELS.get(str(meta.get("camera_model", "PINHOLE")).upper()) is not None
    return Capture(train, test, points, colours, missing, undistorted, layout)


def _frames(meta: dict, json_path: Path) -> list[dict]:
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{json_path}: no 'frames' list (or it is empty)")
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or "file_path" not in frame:
            raise DatasetError(f"{json_path}: frame {i} has no 'file_path'")
        frame.setdefault("_where", f"{json_path.name} frame {i}")
    return frames


def _held_out(n: int, config: CaptureConfig) -> set[int]:
    if config.test_every <= 0 or n < 2:
        return set()
    offset = config.split_seed % config.test_every
    return {i for i in range(n) if i % config.test_every == offset}


def _read_split(
    folder: Path, meta: dict, frames: list[dict], config: CaptureConfig, missing: list[str]
) -> CaptureViews | None:
    rgbs, alphas, Ks, poses, paths = [], [], [], [], []
    for frame in frames:
        path = image_path_or_none(folder, frame["file_path"])
        if path is None:
            missing.append(str(frame["file_path"]))
            continue
        camera = {**{k: meta[k] for k in (*_INTRINSIC_KEYS, *_DISTORTION_KEYS) if k in meta}, **frame}
        rgb, alpha = read_rgba(path)
        K = camera_matrix(camera, rgb.shape[1], rgb.shape[0], path)
        rgb, alpha = undistort(rgb, alpha, K, camera, path)
        rgb, alpha, K = resize(rgb, alpha, K, config)
        if rgbs and rgb.shape != rgbs[0].shape:
            raise DatasetError(f"{path}: size {rgb.shape[1]}x{rgb.shape[0]} differs from {paths[0]}'s")
        rgbs.append(rgb), alphas.append(alpha), Ks.append(K), paths.append(path)
        poses.append(read_pose(frame.get("transform_matrix"), f"{frame['_where']} ({path.name})"))
    if not paths:
        return None
    return CaptureViews(
        rgb=torch.from_numpy(np.stack(rgbs)),
        alpha=torch.from_numpy(np.stack(alphas)),
        K=torch.from_numpy(np.stack(Ks)).float(),
        T_world_cam=opengl_to_opencv(torch.from_numpy(np.stack(poses))).float(),
        paths=paths,
    )


def camera_matrix(camera: dict, width: int, height: int, where: Path) -> np.ndarray:
    """Pinhole ``K`` [3, 3] (pixels) of one frame: the NeRF-synthetic rules (fl_x/fl_y/cx/cy, else
    camera_angle_x[/y]) applied to the frame's own fields over the file's."""
    return intrinsics_from_meta(camera, width, height, where).K(dtype=torch.float64).numpy()


def undistort(
    rgb: np.ndarray, alpha: np.ndarray, K: np.ndarray, camera: dict, where: Path
) -> tuple[np.ndarray, np.ndarray]:
    """The image as an ideal pinhole camera with the same ``K`` would see it (OpenCV's models).

    Pixels that no distorted pixel maps to get alpha 0. [H, W, 3], [H, W] → same shapes.

    Raises:
        DatasetError: A camera model OpenCV cannot undistort here (the message lists the supported ones).
    """
    model = str(camera.get("camera_model", "PINHOLE")).upper()
    if model not in CAMERA_MODELS:
        raise DatasetError(
            f"{where}: camera_model {model!r} cannot be undistorted; supported: {', '.join(CAMERA_MODELS)}"
        )
    kind = CAMERA_MODELS[model]
    coeffs = {k: float(camera.get(k, 0.0)) for k in _DISTORTION_KEYS}
    if kind is None or not any(coeffs.values()):
        return rgb, alpha
    import cv2

    h, w = alpha.shape
    if kind == "opencv":
        dist = np.array([coeffs["k1"], coeffs["k2"], coeffs["p1"], coeffs["p2"], coeffs["k3"]])
        map_x, map_y = cv2.initUndistortRectifyMap(K, dist, None, K, (w, h), cv2.CV_32FC1)
    else:
        dist = np.array([coeffs["k1"], coeffs["k2"], coeffs["k3"], coeffs["k4"]])
        map_x, map_y = cv2.fisheye.initUndistortRectifyMap(K, dist, np.eye(3), K, (w, h), cv2.CV_32FC1)
    rgb = cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    coverage = cv2.remap(alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.ascontiguousarray(rgb), np.ascontiguousarray(coverage)


def resize(
    rgb: np.ndarray, alpha: np.ndarray, K: np.ndarray, config: CaptureConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shrink by ``downscale`` and to ``max_size`` (area filter); ``K`` scaled per axis to the new size."""
    h, w = alpha.shape
    scale = 1.0 / max(config.downscale, 1e-9)
    if config.max_size > 0:
        scale = min(scale, config.max_size / max(w, h))
    if scale >= 1.0:
        return rgb, alpha, K
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    image = Image.fromarray(np.round(rgba * 255).astype(np.uint8), "RGBA").resize((new_w, new_h), Image.BOX)
    out = np.asarray(image, np.float32) / 255.0
    # K in the continuous convention (the image spans [0, w]), so both f and c scale with the size.
    sx, sy = new_w / w, new_h / h
    K = K * np.array([[sx], [sy], [1.0]])
    return np.ascontiguousarray(out[..., :3]), np.ascontiguousarray(out[..., 3]), K


def _sfm_points(folder: Path, meta: dict) -> tuple[Tensor | None, Tensor | None]:
    """nerfstudio's ``ply_file_path``: SfM points in the transforms' world frame, with colours."""
    if "ply_file_path" not in meta:
        return None, None
    path = folder / meta["ply_file_path"]
    import trimesh

    try:
        cloud = trimesh.load(path, process=False)  # a PointCloud for a PLY without faces
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: cannot read the SfM points ({exc}); initialising without them", stacklevel=3)
        return None, None
    points = np.asarray(cloud.vertices, np.float32)
    colours = getattr(cloud, "colors", None)
    if colours is None or len(colours) == 0:
        colours = getattr(getattr(cloud, "visual", None), "vertex_colors", None)
    rgb = None if colours is None or len(colours) != len(points) else np.asarray(colours)[:, :3] / 255.0
    if len(points) == 0:
        return None, None
    return torch.from_numpy(points), None if rgb is None else torch.from_numpy(rgb.astype(np.float32))


def capture_json(folder: str | Path) -> Path:
    """The transforms file the capture's metadata (``ply_file_path``, ``mesh_path`` …) is read from."""
    folder = Path(folder)
    split = folder / "transforms_train.json"
    return split if split.is_file() else folder / "transforms.json"


def read_capture_meta(folder: str | Path) -> dict:
    """The top-level fields of the capture's transforms file."""
    return json.loads(capture_json(folder).read_text())
