"""Render posed RGBA, depth and mask views of a mesh with pyrender, and write NeRF-synthetic folders.

Conventions (docs/architecture.md §4): poses are ``T_world_cam`` (camera→world) with OpenCV camera axes (x
right, y down, z forward); pyrender and the NeRF-synthetic ``transform_matrix`` use OpenGL camera axes (y up,
z backward), so poses are converted with :func:`~gs_perception.core.cameras.opencv_to_opengl` at those two
boundaries only. Depth is z-depth (along the optical axis) in metres, 0 on the background. Colours are
straight (not premultiplied) alpha: compositing ``rgb * a + bg * (1 - a)`` reproduces an anti-aliased render
on ``bg``.

pyrender is imported lazily inside the functions (so importing this module never touches OpenGL), after
``PYOPENGL_PLATFORM`` defaults to ``egl``: headless offscreen rendering, Mesa llvmpipe on CPU machines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import trimesh
from PIL import Image
from torch import Tensor

from gs_perception.core.cameras import Intrinsics, golden_poses, opencv_to_opengl, spiral_poses
from gs_perception.core.choices import check_choices
from gs_perception.data.meshes import DEFAULT_GREY, check_mesh, normalise_to_unit_sphere

# PyOpenGL picks its platform once, at its first import: set it before any lazy `import pyrender`.
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

#: Depth PNGs store uint16 ``round(metres * DEPTH_SCALE)``: 0.1 mm steps up to 6.55 m.
DEPTH_SCALE = 10000.0


@dataclass(frozen=True)
class ViewRenderConfig:
    """How views of one object are rendered (object normalised to the unit sphere at the origin)."""

    width: int = 64
    """Image width in pixels."""
    height: int = 64
    """Image height in pixels."""
    fov_deg: float = 40.0
    """Horizontal field of view in degrees (square pixels, principal point at the image centre)."""
    n_train: int = 16
    """Number of training views on the spiral."""
    n_test: int = 4
    """Number of held-out test views (see :meth:`poses` for how they avoid the training poses)."""
    test_layout: Literal["golden", "spiral"] = "golden"
    """Held-out cameras: 'golden' spreads them over azimuth and elevation alike; 'spiral' (datasets made
    before it) puts them on the training spiral's family, which with 4 views and 2 turns is 2 azimuths."""
    radius: float = 3.0
    """Camera distance from the object's centre in metres (the object fits in the unit sphere)."""
    elevation_range: tuple[float, float] = (-15.0, 60.0)
    """(first, last) camera elevation in degrees above the horizontal plane through the centre."""
    turns: float = 2.0
    """Azimuth turns of the spiral."""
    light_intensity: float = 3.0
    """Intensity of the directional headlight (attached to the camera, pointing along its optical axis)."""
    ambient: float = 0.35
    """Ambient light level (grey) added everywhere."""
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    """RGB in [0, 1] stored in fully transparent pixels (alpha 0), so viewers ignoring alpha show it."""
    base_color: tuple[float, float, float] | None = None
    """None keeps the mesh's own colours (grey when it has none); an RGB tuple in [0, 1] paints every face
    with that one material (the study's fixed-material renders)."""
    metallic: float = 0.0
    """Metallic factor of the PBR material."""
    roughness: float = 0.8
    """Roughness factor of the PBR material."""
    seed: int = 0
    """Seed for anything random in rendering (the spiral poses and lighting are deterministic today)."""

    def __post_init__(self):
        check_choices(self)

    def intrinsics(self) -> Intrinsics:
        """Pinhole intrinsics of every view."""
        return Intrinsics.from_fov(np.deg2rad(self.fov_deg), self.width, self.height)

    def poses(self, split: str) -> Tensor:
        """Camera poses of a split. Returns: [n, 4, 4] ``T_world_cam`` (OpenCV axes) looking at the origin.

        Train: ``n_train`` cameras on the study's spiral. Test (held out): ``n_test`` cameras at the same
        radius and within the same elevation range, starting half a training azimuth step away from the
        first training camera: with ``test_layout='golden'`` spread over azimuth (golden-angle steps) and
        elevation (:func:`~gs_perception.core.cameras.golden_poses`); with 'spiral' on a spiral of the
        training one's turns.
        """
        if split == "train":
            return spiral_poses(self.n_train, self.radius, self.elevation_range, self.turns)
        if split == "test":
            half_step = 180.0 * self.turns / max(self.n_train, 1)
            if self.test_layout == "golden":
                return golden_poses(self.n_test, self.radius, self.elevation_range, azimuth_offset=half_step)
            return spiral_poses(
                self.n_test, self.radius, self.elevation_range, self.turns, azimuth_offset=half_step
            )
        raise ValueError(f"unknown split {split!r}; expected 'train' or 'test'")


@dataclass
class RenderedViews:
    """Rendered views of a mesh.

    Attributes:
        rgba: [N, H, W, 4] uint8, straight alpha; alpha is the object's mask, anti-aliased (MSAA 4×
            coverage: 0 on the background, 255 inside the silhouette); colour is ``background`` where alpha
            is 0.
        depth: [N, H, W] float32 z-depth in metres at each pixel centre, 0 on the background.
        mask: [N, H, W] bool, pixels whose centre sees the object (``depth > 0``). Binary, so it differs
            from the anti-aliased alpha on partly covered silhouette pixels only.
    """

    rgba: Tensor
    depth: Tensor
    mask: Tensor


def load_triton_before_mesa() -> None:
    """Import triton (torch's GPU compiler, pulled in later by torch.optim) before Mesa's EGL driver.

    Both bundle LLVM; when Mesa's llvmpipe loads first, a later ``import triton`` segfaults the process
    (seen with torch 2.13 / triton 3.7 / Mesa 22.3: render views, then build an Adam optimiser).
    """
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


def render_views(
    mesh: trimesh.Trimesh,
    config: ViewRenderConfig,
    poses: Tensor,
    intrinsics: Intrinsics | None = None,
) -> RenderedViews:
    """Render ``mesh`` from each camera with a headlight and ambient light (deterministic).

    Args:
        mesh: The object (world frame, metres); rendered as is, not normalised.
        config: Lighting, material and image settings.
        poses: [N, 4, 4] ``T_world_cam`` (camera→world, OpenCV axes).
        intrinsics: Camera model; default ``config.intrinsics()``. Its width and height set the image size.

    Returns:
        :class:`RenderedViews` with [N, H, W(, 4)] images.
    """
    load_triton_before_mesa()
    import pyrender  # lazy: see the module docstring

    poses = torch.as_tensor(poses)
    assert poses.ndim == 3 and poses.shape[-2:] == (4, 4), poses.shape
    check_mesh(mesh)
    intr = config.intrinsics() if intrinsics is None else intrinsics
    poses_gl = opencv_to_opengl(poses.double()).numpy()  # pyrender cameras look down their -z (OpenGL)
    znear, zfar = _clip_planes(mesh, poses_gl[:, :3, 3])

    scene = pyrender.Scene(bg_color=(0.0, 0.0, 0.0, 0.0), ambient_light=(config.ambient,) * 3)
    mesh_node = scene.add(pyrender_mesh(mesh, config))
    # pyrender's IntrinsicsCamera measures cy from the top row, as our K does (checked by a projection test).
    camera = pyrender.IntrinsicsCamera(intr.fx, intr.fy, intr.cx, intr.cy, znear=znear, zfar=zfar)
    camera_node = scene.add(camera, pose=np.eye(4))
    # A child of the camera node, so the headlight moves with the camera and shines along its view axis.
    light = pyrender.DirectionalLight(color=np.ones(3), intensity=config.light_intensity)
    scene.add(light, pose=np.eye(4), parent_node=camera_node)

    n, h, w = len(poses_gl), intr.height, intr.width
    rgba, depth = np.zeros((n, h, w, 4), np.uint8), np.zeros((n, h, w), np.float32)
    renderer = pyrender.OffscreenRenderer(viewport_width=w, viewport_height=h)
    try:
        for i, pose in enumerate(poses_gl):
            scene.set_pose(camera_node, pose)
            colour, _ = renderer.render(scene, flags=pyrender.RenderFlags.RGBA)
            rgba[i] = _unpremultiply(colour, config.background)
            # Depth from a second, segmentation pass: pyrender renders it without MSAA, so every pixel's
            # depth is sampled at its centre (the MSAA pass resolves depth from one off-centre sample,
            # which is off by up to several cm on a sphere's rim at 32 px).
            _, depth[i] = renderer.render(
                scene, flags=pyrender.RenderFlags.SEG, seg_node_map={mesh_node: (1, 1, 1)}
            )
    finally:
        renderer.delete()
    return RenderedViews(torch.from_numpy(rgba), torch.from_numpy(depth), torch.from_numpy(depth > 0.0))


def pyrender_mesh(mesh: trimesh.Trimesh, config: ViewRenderConfig) -> object:
    """A flat-shaded, double-sided pyrender mesh with the mesh's colours or ``config.base_color``.

    Built by hand because ``pyrender.Mesh.from_trimesh`` drops the per-face colours when a material is given,
    and we need both (colours and the configured metallic/roughness). Double-sided because CAD meshes
    (ModelNet) often have inconsistent winding, and culling would punch holes in them.
    """
    import pyrender

    faces = np.asarray(mesh.faces)
    positions = np.asarray(mesh.vertices, dtype=np.float32)[faces].reshape(-1, 3)
    normals = np.repeat(np.asarray(mesh.face_normals, dtype=np.float32), 3, axis=0)
    colours = _corner_colours(mesh) if config.base_color is None else None
    if config.base_color is not None:
        base = (*config.base_color, 1.0)
    else:  # vertex colours multiply the base colour: white keeps them, grey stands in for none
        base = (1.0, 1.0, 1.0, 1.0) if colours is not None else (DEFAULT_GREY,) * 3 + (1.0,)
    material = pyrender.MetallicRoughnessMaterial(
        baseColorFactor=base,
        metallicFactor=config.metallic,
        roughnessFactor=config.roughness,
        alphaMode="OPAQUE",
        doubleSided=True,
    )
    primitive = pyrender.Primitive(positions=positions, normals=normals, color_0=colours, material=material)
    return pyrender.Mesh(primitives=[primitive])


def _corner_colours(mesh: trimesh.Trimesh) -> np.ndarray | None:
    """Opaque RGBA float colours [3F, 4] of each face corner (unindexed, like the positions), or None."""
    visual = mesh.visual.to_color() if mesh.visual.kind == "texture" else mesh.visual
    if visual.kind == "face":
        corner = np.repeat(np.asarray(visual.face_colors), 3, axis=0)
    elif visual.kind == "vertex":
        corner = np.asarray(visual.vertex_colors)[np.asarray(mesh.faces)].reshape(-1, 4)
    else:
        return None
    out = corner.astype(np.float32) / 255.0
    out[:, 3] = 1.0  # opaque: alpha is the coverage mask, not a material property
    return out


def _clip_planes(mesh: trimesh.Trimesh, centres: np.ndarray) -> tuple[float, float]:
    """Near/far planes bracketing the mesh's bounding sphere from every camera centre [N, 3].

    Tight planes keep the 24-bit depth buffer's precision well below a millimetre.
    """
    lo, hi = np.asarray(mesh.bounds, dtype=np.float64)
    r = 0.5 * float(np.linalg.norm(hi - lo))
    dist = np.linalg.norm(centres - 0.5 * (lo + hi), axis=1)
    znear = max(0.5 * (float(dist.min()) - r), 1e-3 * r)
    zfar = 1.01 * (float(dist.max()) + r)
    return znear, zfar


def _unpremultiply(colour: np.ndarray, background: tuple[float, float, float]) -> np.ndarray:
    """Straight-alpha RGBA uint8 [H, W, 4] from a render on transparent black (MSAA premultiplies colour)."""
    alpha = colour[..., 3:4].astype(np.float64)
    rgb = colour[..., :3].astype(np.float64) * 255.0 / np.maximum(alpha, 1.0)
    rgb = np.where(alpha > 0, rgb, np.asarray(background) * 255.0)
    out = np.empty_like(colour)
    out[..., :3] = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    out[..., 3] = colour[..., 3]
    return out


def write_nerf_synthetic(out_dir: str | Path, mesh: trimesh.Trimesh, config: ViewRenderConfig) -> Path:
    """Render a normalised ``mesh`` and write it as a NeRF-synthetic folder (deterministic for the inputs).

    Layout (paths in the jsons are relative to the folder)::

        mesh.ply                               the mesh normalised to the unit sphere
        transforms_{train,test}.json           camera_angle_x, fl_x fl_y cx cy w h, depth_scale,
                                               mesh_path, frames[{file_path, depth_path, mask_path,
                                               transform_matrix (camera→world, OpenGL axes)}]
        {train,test}/r_000.png                 RGBA uint8, straight alpha
        depth/{train,test}/r_000.png           uint16, metres = value / depth_scale
        mask/{train,test}/r_000.png            uint8, 0 or 255

    Args:
        out_dir: Folder to write (created if missing; existing files are overwritten).
        mesh: The object, in any frame and scale; it is normalised first.
        config: Views, image size and lighting.

    Returns:
        ``out_dir`` as a Path.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unit = normalise_to_unit_sphere(mesh)
    (out / "mesh.ply").write_bytes(unit.export(file_type="ply"))
    intr = config.intrinsics()
    for split in ("train", "test"):
        poses = config.poses(split)
        views = render_views(unit, config, poses)
        frames = _write_frames(out, split, views, poses)
        meta = {
            "camera_angle_x": intr.fov_x,
            "fl_x": intr.fx,
            "fl_y": intr.fy,
            "cx": intr.cx,
            "cy": intr.cy,
            "w": intr.width,
            "h": intr.height,
            "depth_scale": DEPTH_SCALE,
            "mesh_path": "mesh.ply",
            "frames": frames,
        }
        (out / f"transforms_{split}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return out


def _write_frames(out: Path, split: str, views: RenderedViews, poses: Tensor) -> list[dict]:
    """Write one split's RGBA, depth and mask PNGs; returns the json ``frames`` entries."""
    depth_units = np.round(views.depth.double().numpy() * DEPTH_SCALE)
    if depth_units.max() > np.iinfo(np.uint16).max:
        raise ValueError(
            f"depth up to {views.depth.max():.2f} m does not fit uint16 at depth_scale {DEPTH_SCALE:g}; "
            "move the cameras closer (ViewRenderConfig.radius)"
        )
    poses_gl = opencv_to_opengl(poses.double())  # NeRF files use OpenGL camera axes
    frames = []
    for sub in (split, f"depth/{split}", f"mask/{split}"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i in range(len(poses)):
        name = f"r_{i:03d}.png"
        frame = {
            "file_path": f"{split}/{name}",
            "depth_path": f"depth/{split}/{name}",
            "mask_path": f"mask/{split}/{name}",
            "transform_matrix": poses_gl[i].tolist(),
        }
        Image.fromarray(views.rgba[i].numpy()).save(out / frame["file_path"])
        Image.fromarray(depth_units[i].astype(np.uint16)).save(out / frame["depth_path"])
        Image.fromarray(views.mask[i].numpy().astype(np.uint8) * 255).save(out / frame["mask_path"])
        frames.append(frame)
    return frames
