"""Object appearance in dataset renders: the study's fixed material, or seeded random colours and light.

The study rendered every object with one texture and one lighting setup and named that its main limitation:
encoders can then lean on shading alone. ``mode='random'`` gives each object (seeded by its id, so a rerun
renders the same images) new part colours, with some probability a procedural texture, and its own light
levels. Textures are baked into per-corner vertex colours on a subdivided copy of the mesh, so they work for
meshes without UV coordinates (ModelNet's OFF files have none) and need nothing beyond the face-colour path
of :func:`~gs_perception.data.views.render_views`.
"""

from __future__ import annotations

import colorsys
import dataclasses
import zlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import trimesh

from ..core.choices import check_choices
from .views import ViewRenderConfig

APPEARANCE_MODES = ("fixed", "random", "mesh")
TEXTURE_KINDS = ("stripes", "checker", "rings")


@dataclass(frozen=True)
class AppearanceConfig:
    """How objects look in the rendered views (the mesh is normalised to the unit sphere first)."""

    mode: Literal["fixed", "random", "mesh"] = "random"
    """'fixed': one grey material and the default light for every object (the study's setting); 'random':
    seeded part colours, textures and light per object; 'mesh': the mesh's own colours (grey if none)."""
    fixed_color: tuple[float, float, float] = (0.55, 0.55, 0.55)
    """RGB in [0, 1] of the material in 'fixed' mode."""
    texture_probability: float = 0.5
    """'random' mode: chance that an object gets a procedural texture (stripes, checker or rings)."""
    texture_frequency: tuple[float, float] = (2.0, 4.0)
    """'random' mode: range of texture periods per unit length (the object spans 2 units)."""
    texture_contrast: float = 0.35
    """'random' mode: how much a texture darkens its dark phase (0 = invisible, 1 = black)."""
    light_intensity: tuple[float, float] = (2.0, 4.5)
    """'random' mode: range of the headlight intensity."""
    ambient: tuple[float, float] = (0.2, 0.5)
    """'random' mode: range of the ambient light level."""
    seed: int = 0
    """Mixed with each object's id: change it to draw a different appearance for every object."""

    def __post_init__(self):
        check_choices(self)


@dataclass(frozen=True)
class Appearance:
    """What :func:`apply_appearance` chose for one object (recorded in the dataset manifest)."""

    mode: str
    texture: str | None = None
    light_intensity: float | None = None
    ambient: float | None = None


def apply_appearance(
    mesh: trimesh.Trimesh, view_config: ViewRenderConfig, config: AppearanceConfig, object_id: str
) -> tuple[trimesh.Trimesh, ViewRenderConfig, Appearance]:
    """Give one object its appearance.

    Args:
        mesh: The object normalised to the unit sphere (texture periods are in its units). Not modified.
        view_config: The dataset's render settings.
        config: The appearance settings.
        object_id: Stable id of the object; seeds its random choices together with ``config.seed``.

    Returns:
        (mesh to render, render settings for it, what was chosen).
    """
    if config.mode == "mesh":
        return mesh, dataclasses.replace(view_config, base_color=None), Appearance("mesh")
    if config.mode == "fixed":
        fixed = dataclasses.replace(view_config, base_color=tuple(config.fixed_color))
        return mesh, fixed, Appearance("fixed")
    if config.mode != "random":
        raise ValueError(f"unknown appearance mode {config.mode!r}; expected one of {APPEARANCE_MODES}")
    rng = np.random.default_rng([config.seed, zlib.crc32(object_id.encode())])
    painted, texture = _random_colours(mesh, rng, config)
    light = float(rng.uniform(*config.light_intensity))
    ambient = float(rng.uniform(*config.ambient))
    lit = dataclasses.replace(view_config, base_color=None, light_intensity=light, ambient=ambient)
    return painted, lit, Appearance("random", texture, light, ambient)


def _random_colours(
    mesh: trimesh.Trimesh, rng: np.random.Generator, config: AppearanceConfig
) -> tuple[trimesh.Trimesh, str | None]:
    """A copy of ``mesh`` with a random colour per part (faces sharing a colour), maybe textured."""
    groups = _colour_groups(mesh)
    palette = np.array([_random_rgb(rng) for _ in range(groups.max() + 1)])
    textured = bool(rng.random() < config.texture_probability)
    if not textured:
        out = mesh.copy()
        out.visual = trimesh.visual.ColorVisuals(out, face_colors=_rgba8(palette[groups]))
        return out, None
    kind = TEXTURE_KINDS[int(rng.integers(len(TEXTURE_KINDS)))]
    frequency = float(rng.uniform(*config.texture_frequency))
    # Subdivide so the pattern can vary inside large faces (a box side is two triangles), then give every
    # face its own three vertices so part colours do not bleed across shared vertices.
    max_edge = 0.25 / frequency
    vertices, faces, index = trimesh.remesh.subdivide_to_size(
        mesh.vertices, mesh.faces, max_edge=max_edge, max_iter=8, return_index=True
    )
    corners = vertices[faces].reshape(-1, 3)
    shade = 1.0 - config.texture_contrast * _pattern(kind, corners, frequency, rng)
    colours = np.repeat(palette[groups[index]], 3, axis=0) * shade[:, None]
    out = trimesh.Trimesh(corners, np.arange(len(corners)).reshape(-1, 3), process=False)
    out.visual = trimesh.visual.ColorVisuals(out, vertex_colors=_rgba8(colours))
    return out, kind


def _colour_groups(mesh: trimesh.Trimesh) -> np.ndarray:
    """[F] int part index per face: faces with equal face colours form a part; an uncoloured mesh is one."""
    if mesh.visual.kind != "face":
        return np.zeros(len(mesh.faces), dtype=np.int64)
    _, groups = np.unique(np.asarray(mesh.visual.face_colors), axis=0, return_inverse=True)
    return groups.reshape(-1)


def _random_rgb(rng: np.random.Generator) -> np.ndarray:
    """A saturated-enough colour, neither black nor white (either would vanish in shading or background)."""
    hue, sat, val = rng.random(), rng.uniform(0.3, 0.9), rng.uniform(0.35, 0.95)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val))


def _pattern(kind: str, points: np.ndarray, frequency: float, rng: np.random.Generator) -> np.ndarray:
    """[P] values in [0, 1] of a smooth procedural pattern at ``points`` [P, 3] (random orientation)."""
    axes = np.linalg.qr(rng.normal(size=(3, 3)))[0]  # a random orthonormal frame
    uvw = points @ axes * (2.0 * np.pi * frequency)
    phase = rng.uniform(0.0, 2.0 * np.pi, 3)
    if kind == "stripes":
        return 0.5 + 0.5 * np.sin(uvw[:, 0] + phase[0])
    if kind == "checker":
        return 0.5 + 0.5 * np.sin(uvw[:, 0] + phase[0]) * np.sin(uvw[:, 1] + phase[1])
    radius = np.linalg.norm(uvw[:, :2], axis=1)  # "rings": concentric about a random axis
    return 0.5 + 0.5 * np.sin(radius + phase[2])


def _rgba8(rgb: np.ndarray) -> np.ndarray:
    """[P, 4] opaque uint8 RGBA from [P, 3] floats in [0, 1]."""
    rgba = np.concatenate([np.clip(rgb, 0.0, 1.0), np.ones((len(rgb), 1))], axis=1)
    return np.round(rgba * 255).astype(np.uint8)
