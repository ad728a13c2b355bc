"""A photo capture the project makes itself, with what real ones have: a scene that fills every pixel
(textured objects on a checkered floor inside a striped backdrop), lens distortion, portrait JPEGs, one
nerfstudio-style ``transforms.json`` (``camera_model: OPENCV``, ``fl_x fl_y cx cy w h k1 k2 p1 p2``),
optional SfM-like points (``ply_file_path``), and frames listed whose image is missing. Tests and benchmarks
use it where a user would bring a phone capture.

The camera orbits the scene centre (OpenCV axes inside; the file gets camera→world in OpenGL axes, as the
convention wants). Each view is rendered as an ideal pinhole image on a padded canvas, then distorted with
OpenCV's model: a distorted pixel takes the colour of the pinhole pixel ``cv2.undistortPoints`` maps it to.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh
from PIL import Image

from ..core.cameras import look_at, opencv_to_opengl
from .appearance import AppearanceConfig, apply_appearance
from .meshes import normalise_to_unit_sphere
from .shapes import make_shape
from .views import ViewRenderConfig, load_triton_before_mesa, pyrender_mesh


@dataclass(frozen=True)
class SyntheticCaptureConfig:
    """The capture's camera, trajectory and flaws."""

    views: int = 50
    """Photos listed in transforms.json."""
    width: int = 96
    """Image width in pixels (portrait by default, as phones hold them)."""
    height: int = 128
    """Image height in pixels."""
    fov_y_deg: float = 60.0
    """Vertical field of view of the pinhole part of the camera."""
    radius: float = 5.0
    """Distance of the camera to the scene centre (metres): objects 4–6 m away, as in the user's capture."""
    elevation_deg: tuple[float, float] = (12.0, 32.0)
    """The camera's elevation bobs between these angles while it orbits once."""
    distortion: tuple[float, float, float, float] = (-0.12, 0.04, 0.0015, -0.001)
    """OpenCV k1 k2 p1 p2."""
    missing: tuple[int, ...] = (5, 18, 33)
    """Frames listed in transforms.json whose image is not written (indices into the views)."""
    sfm_points: int = 0
    """> 0: also write this many noisy surface points with colours as sparse_pc.ply (``ply_file_path``)."""
    jpeg_quality: int = 93
    """JPEG quality of the photos."""
    seed: int = 0
    """Seed of the objects' appearance and the points."""


def _scene_meshes(seed: int) -> list[tuple[trimesh.Trimesh, ViewRenderConfig]]:
    """Three textured objects, a checkered floor and a striped backdrop (world frame, z up, metres)."""
    appearance = AppearanceConfig(mode="random", texture_probability=1.0)
    out = []
    for k, (name, x, y) in enumerate((("chair", -0.9, 0.3), ("table", 0.8, -0.2), ("sofa", 0.0, 1.4))):
        unit = normalise_to_unit_sphere(make_shape(name, seed))
        painted, view, _ = apply_appearance(
            unit, ViewRenderConfig(), appearance, f"capture/{name}_{seed}_{k}"
        )
        painted.apply_translation(
            (x, y, -float(painted.bounds[0, 2]) - 1.0)
        )  # standing on the floor (z = -1)
        out.append((painted, view))
    floor = trimesh.creation.box(extents=(14.0, 14.0, 0.02))
    floor = floor.subdivide_to_size(0.5)
    floor.apply_translation((0.0, 0.0, -1.01))
    centres = floor.triangles_center
    checker = (np.floor(centres[:, 0] / 0.7) + np.floor(centres[:, 1] / 0.7)) % 2
    floor.visual.face_colors = np.where(checker[:, None] > 0, [200, 190, 160, 255], [70, 90, 120, 255])
    backdrop = trimesh.creation.cylinder(radius=9.0, height=10.0, sections=96)
    backdrop.invert()  # seen from inside
    angle = np.arctan2(backdrop.triangles_center[:, 1], backdrop.triangles_center[:, 0])
    height = backdrop.triangles_center[:, 2]
    band = (np.floor(angle / (2 * math.pi) * 24) % 3).astype(int)
    palette = np.array([[180, 80, 60, 255], [90, 160, 90, 255], [230, 220, 200, 255]])
    colours = palette[band].copy()
    colours[height > 2.5] = [150, 190, 235, 255]  # "sky" above the walls
    backdrop.visual.face_colors = colours
    flat = ViewRenderConfig()
    return [*out, (floor, flat), (backdrop, flat)]


def capture_poses(config: SyntheticCaptureConfig) -> torch.Tensor:
    """[N, 4, 4] camera→world poses (OpenCV axes) orbiting the scene centre once."""
    poses = []
    low, high = (math.radians(e) for e in config.elevation_deg)
    target = torch.tensor([0.0, 0.3, -0.4])
    for i in range(config.views):
        t = i / config.views
        azimuth = 2 * math.pi * t
        elevation = low + (high - low) * 0.5 * (1 - math.cos(4 * math.pi * t))
        eye = target + config.radius * torch.tensor(
            [
                math.cos(elevation) * math.cos(azimuth),
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
            ]
        )
        poses.append(look_at(eye, target))
    return torch.stack(poses)


def camera_matrix(config: SyntheticCaptureConfig) -> np.ndarray:
    """The pinhole ``K`` [3, 3] of the capture (pixels; image spans [0, w] × [0, h])."""
    f = 0.5 * config.height / math.tan(math.radians(config.fov_y_deg) / 2)
    return np.array([[f, 0.0, config.width / 2], [0.0, f, config.height / 2], [0.0, 0.0, 1.0]])


def render_pinhole(config: SyntheticCaptureConfig, pad: float = 0.0) -> list[np.ndarray]:
    """Ideal pinhole renders [H', W', 3] float32 of every view, on a canvas ``pad`` × larger on each side."""
    load_triton_before_mesa()
    import pyrender

    K = camera_matrix(config)
    px, py = round(pad * config.width), round(pad * config.height)
    w, h = config.width + 2 * px, config.height + 2 * py
    scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 1.0), ambient_light=(0.55,) * 3)
    for mesh, view in _scene_meshes(config.seed):
        scene.add(pyrender_mesh(mesh, view))
    camera = pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2] + px, K[1, 2] + py, znear=0.05, zfar=40.0)
    node = scene.add(camera, pose=np.eye(4))
    scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=2.0), pose=np.eye(4), parent_node=node)
    renderer = pyrender.OffscreenRenderer(viewport_width=w, viewport_height=h)
    try:
        images = []
        for pose in opencv_to_opengl(capture_poses(config).double()).numpy():
            scene.set_pose(node, pose)
            colour, _ = renderer.render(scene)
            images.append(colour[..., :3].astype(np.float32) / 255.0)
        return images
    finally:
        renderer.delete()


def distort(image: np.ndarray, config: SyntheticCaptureConfig, pad: float) -> np.ndarray:
    """The view through the distorted lens: [H', W', 3] padded pinhole render → [H, W, 3]."""
    import cv2

    K, dist = camera_matrix(config), np.array(config.distortion, dtype=np.float64)
    u, v = np.meshgrid(np.arange(config.width, dtype=np.float64), np.arange(config.height, dtype=np.float64))
    pixels = np.stack([u.ravel(), v.ravel()], axis=-1)[:, None, :]
    ideal = cv2.undistortPoints(pixels, K, dist, P=K)[:, 0, :]
    map_x = (ideal[:, 0] + round(pad * config.width)).reshape(config.height, config.width).astype(np.float32)
    map_y = (ideal[:, 1] + round(pad * config.height)).reshape(config.height, config.width).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write_synthetic_capture(
    out: str | Path, config: SyntheticCaptureConfig = SyntheticCaptureConfig()
) -> Path:
    """Render the capture into ``out`` (images/, transforms.json, optional sparse_pc.ply); returns ``out``."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    pad = 0.25
    K, poses = camera_matrix(config), opencv_to_opengl(capture_poses(config).double())
    frames = []
    for i, render in enumerate(render_pinhole(config, pad)):
        name = f"images/frame_{i:05d}.jpg"
        if i not in config.missing:
            photo = np.clip(np.round(distort(render, config, pad) * 255), 0, 255).astype(np.uint8)
            Image.fromarray(photo).save(out / name, quality=config.jpeg_quality)
        frames.append({"file_path": name, "transform_matrix": poses[i].tolist()})
    k1, k2, p1, p2 = config.distortion
    meta = {
        "camera_model": "OPENCV",
        "fl_x": K[0, 0], "fl_y": K[1, 1], "cx": K[0, 2], "cy": K[1, 2], "w": config.width, "h": config.height,
        "k1": k1, "k2": k2, "p1": p1, "p2": p2,
        "frames": frames,
    }  # fmt: skip
    if config.sfm_points > 0:
        meta["ply_file_path"] = "sparse_pc.ply"
        _write_points(out / "sparse_pc.ply", config)
    (out / "transforms.json").write_text(json.dumps(meta, indent=1))
    return out


def _write_points(path: Path, config: SyntheticCaptureConfig) -> None:
    """Noisy colour samples of the objects and the floor near them, like a sparse SfM reconstruction."""
    rng = np.random.default_rng(config.seed)
    meshes = [m for m, _ in _scene_meshes(config.seed)][:4]
    combined = trimesh.util.concatenate(meshes)
    points, faces = trimesh.sample.sample_surface(combined, config.sfm_points, seed=config.seed)
    near = np.abs(points[:, :2]).max(axis=1) < 3.0
    points = points[near] + rng.normal(0.0, 0.01, size=(int(near.sum()), 3))
    colours = np.asarray(combined.visual.face_colors)[faces[near]]
    trimesh.PointCloud(points, colors=colours).export(path)
