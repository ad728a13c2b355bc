"""Simulated camera orbiting one or more meshes: posed frames with ground truth (sim bags, the sim node).

World frame: REP-103 (x forward, y left, z up, metres). Poses are ``T_world_cam`` (camera→world) with OpenCV
camera axes (the ROS optical frame).

Objects are placed like the training dataset renders them (:mod:`~gs_perception.data.generate`): each mesh is
normalised to the unit sphere (bounding-box centre at its position, farthest vertex at ``scale`` metres) and
painted by :func:`~gs_perception.data.appearance.apply_appearance` with the dataset's object id, so the
encoders see the scale and the kind of colours they were trained on. Procedural shapes and ModelNet meshes are
already z-up (REP-103), so they stand upright as they are; y-up files (glTF, many OBJ) need ``mesh_up='y'``.

The camera orbits the scene centre (mean object position) at a fixed distance, always looking at it, while its
elevation bobs between two angles, so the views are not coplanar. The trajectory is a function of time:
training frame ``i`` is at ``t = i / rate_hz``; a held-out frame is inserted after every ``held_out_every``-th
training frame at the in-between time ``(i + 0.5) / rate_hz`` and pose, so it never repeats a training view.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import trimesh
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, look_at, opencv_to_opengl
from gs_perception.core.frames import Frame

from ..core.choices import check_choices
from .appearance import AppearanceConfig, apply_appearance
from .meshes import load_mesh, normalise_to_unit_sphere
from .shapes import SHAPE_NAMES, make_shape
from .views import ViewRenderConfig, load_triton_before_mesa, pyrender_mesh

#: Split folders skipped when a mesh file's class is read from its folder (ModelNet: <class>/train/x.off).
_SPLIT_FOLDERS = ("train", "test", "val")


@dataclass
class SimFrame:
    """One simulated frame and its ground truth.

    Attributes:
        frame: The posed image (with depth and an object mask).
        held_out: True for evaluation frames (recorded on their own topics; never fed to the memory).
        labels: Class names of the objects in the scene, in object order.
    """

    frame: Frame
    held_out: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SimConfig:
    """A simulated camera orbiting a scene of meshes (defaults: the CPU demo, one procedural chair)."""

    objects: tuple[str, ...] = ("chair",)
    """Objects in the scene: procedural shape names (see data/shapes.py) or mesh file paths."""
    object_seed: int = 0
    """Seed of the procedural shapes: seed s is the dataset's object '<class>/<class>_<s:04d>' (same mesh and,
    with 'random' appearance, same colours); seeds >= the dataset's train_per_class are test-split objects."""
    positions: tuple[float, ...] = ()
    """World xyz of each object's centre, flattened (x0 y0 z0 x1 y1 z1 ...); empty puts the objects in a row
    along y, 2.5 × scale apart, centred on the origin (one object: at the origin)."""
    scale: float = 1.0
    """Radius in metres of each object's bounding sphere (the training data's unit sphere at 1)."""
    mesh_up: Literal["z", "y"] = "z"
    """Up axis of mesh files: 'z' (ModelNet, REP-103) keeps them as they are; 'y' (glTF, many OBJ) rotates
    +y onto +z. Procedural shapes are always z-up."""
    width: int = 160
    """Image width in pixels (160×120 for the CPU demo; a robot camera would be 640×480)."""
    height: int = 120
    """Image height in pixels."""
    fov_x_deg: float = 60.0
    """Horizontal field of view in degrees (square pixels, principal point at the image centre)."""
    radius: float = 3.0
    """Distance of the camera from the scene centre in metres (the dataset's views use 3 m)."""
    elevation_range: tuple[float, float] = (10.0, 35.0)
    """(low, high) camera elevation in degrees above the horizontal plane through the scene centre."""
    bobs: float = 2.0
    """Up-and-down cycles of the elevation per orbit turn."""
    turns: float = 1.0
    """Orbit turns over the training frames."""
    frames: int = 24
    """Number of training frames."""
    held_out_every: int = 4
    """A held-out evaluation frame follows every k-th training frame, at the in-between pose; 0 = none."""
    rate_hz: float = 4.0
    """Frame rate: training frame i is stamped start_stamp_ns + i / rate_hz."""
    start_stamp_ns: int = 1_700_000_000_000_000_000
    """Stamp of the first frame in integer nanoseconds (fixed, so runs and bags are reproducible)."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """RGB in [0, 1] behind the objects (white, as the dataset's images are composited)."""
    appearance: AppearanceConfig = AppearanceConfig()
    """Materials and light, as in the dataset (default 'random' = DatasetConfig's default, used by shapes10);
    with several objects the light of the first one is used."""
    depth: bool = True
    """Attach the z-depth image (metres, 0 on the background) to each frame."""
    camera_frame: str = "camera_optical_frame"
    """frame_id of the images (an OpenCV-axes optical frame, REP-105)."""

    def __post_init__(self):
        check_choices(self)


def sim_intrinsics(config: SimConfig) -> Intrinsics:
    """Pinhole intrinsics of the simulated camera."""
    return Intrinsics.from_fov(math.radians(config.fov_x_deg), config.width, config.height)


def scene_labels(config: SimConfig) -> tuple[str, ...]:
    """Class name per object: the shape name, or a mesh file's folder (ModelNet-style, skips train/test)."""
    return tuple(_label(name) for name in config.objects)


def object_positions(config: SimConfig) -> Tensor:
    """World centres of the objects. Returns: [M, 3] float64."""
    n = len(config.objects)
    if config.positions:
        return torch.tensor(config.positions, dtype=torch.float64).reshape(n, 3)
    y = 2.5 * config.scale * (torch.arange(n, dtype=torch.float64) - 0.5 * (n - 1))
    return torch.stack([torch.zeros(n, dtype=torch.float64), y, torch.zeros_like(y)], dim=-1)


def scene_centre(config: SimConfig) -> Tensor:
    """The point the camera orbits and looks at: the mean object position. Returns: [3] float64."""
    return object_positions(config).mean(dim=0)


def sim_trajectory(config: SimConfig) -> tuple[Tensor, list[int], list[bool]]:
    """Poses, stamps and held-out flags of every frame, in stream (stamp) order.

    Returns:
        poses: [N, 4, 4] float32 ``T_world_cam`` (OpenCV axes), N = frames + frames // held_out_every.
        stamps: N integer nanosecond stamps.
        held_out: N flags, True for the in-between evaluation frames.
    """
    _check(config)
    k = config.held_out_every
    times = []  # in training-frame periods
    for i in range(config.frames):
        times.append((float(i), False))
        if k > 0 and (i + 1) % k == 0:
            times.append((i + 0.5, True))
    t = torch.tensor([s for s, _ in times], dtype=torch.float64)
    azimuth = 2.0 * math.pi * config.turns * t / config.frames
    lo, hi = (math.radians(e) for e in config.elevation_range)
    elevation = lo + (hi - lo) * 0.5 * (1.0 - torch.cos(config.bobs * azimuth))
    direction = torch.stack(
        [
            torch.cos(elevation) * torch.cos(azimuth),
            torch.cos(elevation) * torch.sin(azimuth),
            torch.sin(elevation),
        ],
        dim=-1,
    )
    centre = scene_centre(config)
    eyes = centre + config.radius * direction
    poses = look_at(eyes.float(), centre.float().expand_as(eyes))  # up = +z: image rows run down the world
    period_ns = 1e9 / config.rate_hz
    stamps = [config.start_stamp_ns + round(s * period_ns) for s, _ in times]
    return poses, stamps, [held for _, held in times]


def simulate(config: SimConfig = SimConfig()) -> Iterator[SimFrame]:
    """Render the orbit frame by frame (deterministic: the same config gives identical frames).

    Meshes are loaded and checked here, before the first frame, so a bad object fails at the call. One
    pyrender scene and renderer serve every frame (only the camera moves); the renderer's EGL context
    belongs to the thread that iterates, and is released when the iterator is exhausted or closed.

    Args:
        config: Scene, camera and trajectory.

    Returns:
        An iterator of :class:`SimFrame` in stamp order: ``frame.rgb`` [H, W, 3] float32 in [0, 1] composited
        on ``background``, ``frame.depth`` [H, W] float32 z-depth in metres (0 on the background; None when
        ``config.depth`` is off), ``frame.mask`` [H, W] bool, pixels whose centre sees an object.

    Raises:
        ValueError: An invalid setting or an unknown shape name (named); ``MeshError`` for an unreadable
            or missing mesh file (naming the file).
    """
    _check(config)
    objects = _scene_objects(config)
    poses, stamps, held_out = sim_trajectory(config)
    return _render(config, objects, poses, stamps, held_out)


def _render(
    config: SimConfig,
    objects: list[tuple[trimesh.Trimesh, ViewRenderConfig]],
    poses: Tensor,
    stamps: list[int],
    held_out: list[bool],
) -> Iterator[SimFrame]:
    load_triton_before_mesa()
    import pyrender  # lazy, after PYOPENGL_PLATFORM defaults to egl (set by views.py)

    intr, labels = sim_intrinsics(config), scene_labels(config)
    light = objects[0][1]
    scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=(light.ambient,) * 3)
    nodes = [scene.add(pyrender_mesh(mesh, view)) for mesh, view in objects]
    znear, zfar = _clip_planes(config, poses)
    camera = pyrender.IntrinsicsCamera(intr.fx, intr.fy, intr.cx, intr.cy, znear=znear, zfar=zfar)
    camera_node = scene.add(camera, pose=np.eye(4))
    # A headlight (child of the camera) as in the dataset's renders.
    headlight = pyrender.DirectionalLight(color=np.ones(3), intensity=light.light_intensity)
    scene.add(headlight, pose=np.eye(4), parent_node=camera_node)
    seg_map = {node: (1, 1, 1) for node in nodes}
    background = np.asarray(config.background, dtype=np.float32)
    poses_gl = opencv_to_opengl(poses.double()).numpy()  # pyrender cameras look down their -z (OpenGL)
    renderer = pyrender.OffscreenRenderer(viewport_width=intr.width, viewport_height=intr.height)
    try:
        for pose, pose_gl, stamp, held in zip(poses, poses_gl, stamps, held_out):
            scene.set_pose(camera_node, pose_gl)
            colour, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
            # Depth from the segmentation pass: it has no MSAA, so depth is sampled at pixel centres (see
            # views.render_views).
            _, depth = renderer.render(scene, flags=pyrender.RenderFlags.SEG, seg_node_map=seg_map)
            depth = torch.from_numpy(np.array(depth, dtype=np.float32))
            frame = Frame(
                rgb=torch.from_numpy(_composite(colour, background)),
                intrinsics=intr,
                T_world_cam=pose.clone(),
                stamp_ns=int(stamp),
                frame_id=config.camera_frame,
                depth=depth if config.depth else None,
                mask=depth > 0.0,
            )
            yield SimFrame(frame=frame, held_out=bool(held), labels=labels)
    finally:
        renderer.delete()


def _composite(colour: np.ndarray, background: np.ndarray) -> np.ndarray:
    """[H, W, 3] float32 RGB on ``background`` from an MSAA render on transparent black [H, W, 4] uint8.

    That render is premultiplied (edge pixels average object and transparent-black samples), so
    ``rgb + bg * (1 - alpha)`` is the straight-alpha composite ``rgb / alpha * alpha + bg * (1 - alpha)``.
    """
    rgba = colour.astype(np.float32) / 255.0
    out = rgba[..., :3] + background * (1.0 - rgba[..., 3:4])
    return np.clip(out, 0.0, 1.0)


def _clip_planes(config: SimConfig, poses: Tensor) -> tuple[float, float]:
    """Near/far planes bracketing every object's bounding sphere from every camera (tight, for precision)."""
    eyes = poses[:, :3, 3].double()
    dist = torch.cdist(eyes, object_positions(config))  # [N, M]
    znear = max(0.5 * (float(dist.min()) - config.scale), 1e-3 * config.scale)
    zfar = 1.01 * (float(dist.max()) + config.scale)
    return znear, zfar


def _scene_objects(config: SimConfig) -> list[tuple[trimesh.Trimesh, ViewRenderConfig]]:
    """Each object normalised, painted as in the dataset, scaled and moved to its position (world frame)."""
    out = []
    for name, position in zip(config.objects, object_positions(config).numpy()):
        label = _label(name)
        if name in SHAPE_NAMES:
            mesh, object_id = make_shape(name, config.object_seed), f"{name}/{name}_{config.object_seed:04d}"
        else:
            mesh, object_id = _load_file(name, config.mesh_up), f"{label}/{Path(name).stem}"
        unit = normalise_to_unit_sphere(mesh)
        # Same view settings and object id as data/generate.py, so 'random' draws the dataset's colours.
        painted, view, _ = apply_appearance(unit, ViewRenderConfig(), config.appearance, object_id)
        placed = painted.copy()
        placed.apply_scale(config.scale)
        placed.apply_translation(position)
        out.append((placed, view))
    return out


def _load_file(name: str, up: str) -> trimesh.Trimesh:
    """A mesh file turned z-up; a name that is neither a shape nor path-like is an unknown shape."""
    path = Path(name)
    if not path.suffix and len(path.parts) == 1:
        raise ValueError(
            f"unknown object {name!r}: not a procedural shape ({', '.join(SHAPE_NAMES)}) nor a mesh file path"
        )
    mesh = load_mesh(path)  # raises MeshError naming the file
    if up == "y":  # +90° about x takes +y to +z
        mesh.apply_transform(trimesh.transformations.rotation_matrix(math.pi / 2, [1.0, 0.0, 0.0]))
    return mesh


def _label(name: str) -> str:
    """Class of an object: its shape name, or its mesh file's folder (the one above train/test if any)."""
    if name in SHAPE_NAMES:
        return name
    parents = [p.name for p in Path(name).parents if p.name]
    for folder in parents:
        if folder not in _SPLIT_FOLDERS:
            return folder
    return Path(name).stem


def _check(config: SimConfig) -> None:
    """Raise ValueError naming the first invalid setting."""
    n = len(config.objects)
    problems = [
        (n >= 1, "objects is empty"),
        (
            len(config.positions) in (0, 3 * n),
            f"positions needs 3 values per object ({3 * n}), got {len(config.positions)}",
        ),
        (config.scale > 0.0, f"scale must be > 0, got {config.scale}"),
        (config.mesh_up in ("y", "z"), f"mesh_up must be 'y' or 'z', got {config.mesh_up!r}"),
        (config.width >= 1 and config.height >= 1, f"image size {config.width}×{config.height} is empty"),
        (0.0 < config.fov_x_deg < 180.0, f"fov_x_deg must be in (0, 180), got {config.fov_x_deg}"),
        (config.radius > 0.0, f"radius must be > 0, got {config.radius}"),
        (
            all(-90.0 < e < 90.0 for e in config.elevation_range),
            "elevation_range must lie in (-90, 90) degrees",
        ),
        (len(config.elevation_range) == 2, "elevation_range needs two values (low, high)"),
        (config.frames >= 1, f"frames must be >= 1, got {config.frames}"),
        (config.held_out_every >= 0, f"held_out_every must be >= 0, got {config.held_out_every}"),
        (config.rate_hz > 0.0, f"rate_hz must be > 0, got {config.rate_hz}"),
        (len(config.background) == 3, "background needs three values (RGB)"),
    ]
    for ok, message in problems:
        if not ok:
            raise ValueError(f"SimConfig: {message}")
