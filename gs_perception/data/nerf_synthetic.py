"""Load posed image sets in the NeRF-synthetic layout (ours and the original Blender dataset).

``transforms_{split}.json`` holds ``camera_angle_x`` (radians) or ``fl_x fl_y cx cy w h`` in pixels, and
``frames[]`` with ``file_path`` (relative to the folder; the Blender dataset omits ``.png``) and
``transform_matrix``: camera→world with OpenGL camera axes (y up, z backward). Poses are converted to
``T_world_cam`` with OpenCV axes (x right, y down, z forward) here, at the file boundary. Optional
``depth_path`` per frame is a uint16 PNG with metres = value / ``depth_scale``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, opengl_to_opencv

# Tolerance of the rigidity check; Blender writes rotations with float32 rounding (~1e-7).
_RIGID_TOL = 1e-4


class DatasetError(ValueError):
    """A posed image set that cannot be loaded. The message names the offending file and the problem."""


@dataclass
class PosedImages:
    """Posed images of one scene.

    Attributes:
        rgb: [N, H, W, 3] float32 colour in [0, 1], straight (not composited on any background).
        alpha: [N, H, W] float32 coverage in [0, 1]; ones when the images have no alpha channel.
        depth: [N, H, W] float32 z-depth in metres (0 = no depth), or None when the set has no depth.
        T_world_cam: [N, 4, 4] float32 camera→world poses, OpenCV camera axes.
        intrinsics: Shared pinhole intrinsics.
        paths: The N image files.
    """

    rgb: Tensor
    alpha: Tensor
    depth: Tensor | None
    T_world_cam: Tensor
    intrinsics: Intrinsics
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.paths)

    def composite(self, background: tuple[float, float, float]) -> Tensor:
        """Images over a uniform background: ``rgb * alpha + bg * (1 - alpha)``. Returns: [N, H, W, 3]."""
        bg = torch.tensor(background, dtype=self.rgb.dtype)
        a = self.alpha[..., None]
        return self.rgb * a + bg * (1.0 - a)


def load_nerf_synthetic(
    folder: str | Path, split: str = "train", max_images: int | None = None
) -> PosedImages:
    """Read ``folder/transforms_{split}.json`` and its images (and depth images when listed).

    Args:
        folder: Dataset folder (one scene).
        split: "train", "test", "val", ... (selects the json).
        max_images: Load only the first frames.

    Returns:
        :class:`PosedImages` with poses in OpenCV axes.

    Raises:
        DatasetError: Missing folder, json or image; malformed json; a non-finite or non-rigid
            ``transform_matrix``; images of different sizes.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: dataset folder does not exist")
    json_path = folder / f"transforms_{split}.json"
    meta = read_json(json_path)
    frames = meta.get("frames")
    if not isinstance(frames, list) or not frames:
        raise DatasetError(f"{json_path}: no 'frames' list (or it is empty)")
    frames = frames[:max_images] if max_images is not None else frames

    paths, rgbs, alphas, poses = [], [], [], []
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict) or "file_path" not in frame:
            raise DatasetError(f"{json_path}: frame {i} has no 'file_path'")
        path = _resolve_image(folder, frame["file_path"], json_path)
        rgb, alpha = read_rgba(path)
        if rgbs and rgb.shape != rgbs[0].shape:
            raise DatasetError(
                f"{path}: image size {rgb.shape[1]}x{rgb.shape[0]} differs from "
                f"{rgbs[0].shape[1]}x{rgbs[0].shape[0]} of {paths[0]}"
            )
        paths.append(path)
        rgbs.append(rgb)
        alphas.append(alpha)
        poses.append(read_pose(frame.get("transform_matrix"), f"{json_path} (frame {i}, {path.name})"))

    height, width = rgbs[0].shape[:2]
    intrinsics = intrinsics_from_meta(meta, width, height, json_path)
    T_world_cam = opengl_to_opencv(torch.from_numpy(np.stack(poses))).float()
    return PosedImages(
        rgb=torch.from_numpy(np.stack(rgbs)),
        alpha=torch.from_numpy(np.stack(alphas)),
        depth=_read_depths(folder, meta, frames, (height, width), json_path),
        T_world_cam=T_world_cam,
        intrinsics=intrinsics,
        paths=paths,
    )


def read_json(json_path: Path) -> dict:
    """A transforms file's JSON object; :class:`DatasetError` naming the file when it is absent or bad."""
    if not json_path.is_file():
        raise DatasetError(f"{json_path}: transforms file does not exist")
    try:
        meta = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{json_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise DatasetError(f"{json_path}: expected a JSON object at the top level")
    return meta


def image_path_or_none(folder: Path, file_path: str) -> Path | None:
    """The frame's image file, or None. A missing extension is tried as ``.png`` (the Blender dataset writes
    "./train/r_0") and ``.jpg``."""
    path = folder / file_path
    for candidate in (path, path.with_name(path.name + ".png"), path.with_name(path.name + ".jpg")):
        if candidate.is_file():
            return candidate
    return None


def _resolve_image(folder: Path, file_path: str, json_path: Path) -> Path:
    """The image of a frame, or a DatasetError naming it."""
    path = image_path_or_none(folder, file_path)
    if path is None:
        missing = folder / file_path
        raise DatasetError(
            f"{missing}: image listed in {json_path.name} does not exist (also tried {missing.name}.png)"
        )
    return path


def read_rgba(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Straight colour [H, W, 3] and alpha [H, W] as float32 in [0, 1]."""
    try:
        with Image.open(path) as image:
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            data = np.asarray(image.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read image ({exc})") from exc
    alpha = data[..., 3] if has_alpha else np.ones(data.shape[:2], np.float32)
    return np.ascontiguousarray(data[..., :3]), np.ascontiguousarray(alpha)


def read_pose(matrix: object, where: str) -> np.ndarray:
    """A validated 4×4 rigid camera→world matrix (OpenGL axes), float64."""
    try:
        T = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: transform_matrix is not numeric ({exc})") from exc
    if T.shape != (4, 4):
        raise DatasetError(f"{where}: transform_matrix has shape {T.shape}, expected (4, 4)")
    if not np.isfinite(T).all():
        raise DatasetError(f"{where}: transform_matrix has NaN or infinite entries")
    R = T[:3, :3]
    # Rigid = orthonormal rotation (det +1) and an affine last row; scaled or sheared poses would silently
    # distort every downstream projection.
    rigid = (
        np.allclose(R.T @ R, np.eye(3), atol=_RIGID_TOL)
        and abs(np.linalg.det(R) - 1.0) < _RIGID_TOL
        and np.allclose(T[3], (0.0, 0.0, 0.0, 1.0), atol=_RIGID_TOL)
    )
    if not rigid:
        raise DatasetError(f"{where}: transform_matrix is not a rigid transform (rotation not orthonormal)")
    return T


def intrinsics_from_meta(meta: dict, width: int, height: int, json_path: Path) -> Intrinsics:
    """fl_x/fl_y/cx/cy when present (ours, Instant-NGP style), else camera_angle_x[/y] and the image size."""
    w, h = int(meta.get("w", width)), int(meta.get("h", height))
    if (w, h) != (width, height):
        raise DatasetError(f"{json_path}: w×h {w}x{h} does not match the images' {width}x{height}")
    if "fl_x" in meta:
        fx = float(meta["fl_x"])
        fy = float(meta.get("fl_y", fx))
        return Intrinsics(fx, fy, float(meta.get("cx", 0.5 * w)), float(meta.get("cy", 0.5 * h)), w, h)
    if "camera_angle_x" not in meta:
        raise DatasetError(f"{json_path}: needs 'fl_x' or 'camera_angle_x' for the intrinsics")
    fov_x = float(meta["camera_angle_x"])
    fov_y = float(meta["camera_angle_y"]) if "camera_angle_y" in meta else None
    if not (0.0 < fov_x < math.pi):
        raise DatasetError(f"{json_path}: camera_angle_x {fov_x} is not an angle in (0, pi) radians")
    return Intrinsics.from_fov(fov_x, w, h, fov_y=fov_y)


def _read_depths(
    folder: Path, meta: dict, frames: list[dict], size: tuple[int, int], json_path: Path
) -> Tensor | None:
    """[N, H, W] float32 metres when every frame lists a ``depth_path``; None when none does."""
    listed = ["depth_path" in f for f in frames]
    if not any(listed):
        return None
    if not all(listed):
        raise DatasetError(f"{json_path}: only some frames have a 'depth_path'")
    scale = float(meta.get("depth_scale", 1.0))
    if not scale > 0.0:
        raise DatasetError(f"{json_path}: depth_scale {scale} must be positive")
    depths = np.zeros((len(frames),) + size, np.float32)
    for i, frame in enumerate(frames):
        path = folder / frame["depth_path"]
        if not path.is_file():
            raise DatasetError(f"{path}: depth image listed in {json_path.name} does not exist")
        try:
            with Image.open(path) as image:
                raw = np.asarray(image, dtype=np.float64)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read depth image ({exc})") from exc
        if raw.shape != size:
            raise DatasetError(f"{path}: depth image shape {raw.shape} differs from the images' {size}")
        depths[i] = raw / scale
    return torch.from_numpy(depths)
