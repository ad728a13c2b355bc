"""Object appearance: the study's fixed material, the mesh's own colours, seeded random looks."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from gs_perception.data.appearance import AppearanceConfig, apply_appearance
from gs_perception.data.meshes import normalise_to_unit_sphere
from gs_perception.data.shapes import make_shape
from gs_perception.data.views import ViewRenderConfig

VIEWS = ViewRenderConfig()


def _chair() -> trimesh.Trimesh:
    return normalise_to_unit_sphere(make_shape("chair", 0))


def _corner_rgb(mesh: trimesh.Trimesh) -> np.ndarray:
    """[3F, 3] colours at face corners, whatever the visual kind."""
    if mesh.visual.kind == "face":
        return np.repeat(mesh.visual.face_colors[:, :3], 3, axis=0)
    return mesh.visual.vertex_colors[mesh.faces.reshape(-1), :3]


def test_fixed_mode_paints_one_material_and_keeps_the_default_light():
    mesh = _chair()
    out, views, look = apply_appearance(mesh, VIEWS, AppearanceConfig(mode="fixed"), "chair/0")
    assert out is mesh and views.base_color == AppearanceConfig().fixed_color
    assert (views.light_intensity, views.ambient) == (VIEWS.light_intensity, VIEWS.ambient)
    assert look.mode == "fixed" and look.texture is None


def test_random_mode_is_seeded_by_object_id_and_config_seed():
    mesh, config = _chair(), AppearanceConfig(mode="random", texture_probability=0.0)
    a = apply_appearance(mesh, VIEWS, config, "chair/0")
    b = apply_appearance(mesh, VIEWS, config, "chair/0")
    c = apply_appearance(mesh, VIEWS, config, "chair/1")
    d = apply_appearance(
        mesh, VIEWS, AppearanceConfig(mode="random", texture_probability=0.0, seed=1), "chair/0"
    )
    assert np.array_equal(_corner_rgb(a[0]), _corner_rgb(b[0])) and a[1:] == b[1:]
    assert not np.array_equal(_corner_rgb(a[0]), _corner_rgb(c[0]))
    assert not np.array_equal(_corner_rgb(a[0]), _corner_rgb(d[0]))
    lo, hi = config.light_intensity
    assert lo <= a[1].light_intensity <= hi and a[1].base_color is None


def test_random_colours_follow_the_parts():
    mesh = _chair()
    out, _, _ = apply_appearance(mesh, VIEWS, AppearanceConfig(texture_probability=0.0), "chair/0")
    # Faces that shared a colour share the new one, and parts stay distinguishable.
    _, old = np.unique(mesh.visual.face_colors, axis=0, return_inverse=True)
    _, new = np.unique(out.visual.face_colors, axis=0, return_inverse=True)
    pairs = {(int(o), int(n)) for o, n in zip(old.ravel(), new.ravel())}
    assert len(pairs) == len(set(old.ravel())) == len(set(new.ravel())) > 1  # same partition of the faces
    assert np.array_equal(out.vertices, mesh.vertices)


@pytest.mark.parametrize("object_id", ["chair/0", "chair/1", "chair/2"])
def test_textures_vary_colour_within_a_part_and_keep_the_shape(object_id):
    mesh = _chair()
    out, _, look = apply_appearance(mesh, VIEWS, AppearanceConfig(texture_probability=1.0), object_id)
    assert look.texture in ("stripes", "checker", "rings")
    assert np.isclose(out.area, mesh.area, rtol=1e-6) and np.allclose(out.bounds, mesh.bounds)
    rgb = _corner_rgb(out).astype(float)
    assert len(np.unique(rgb, axis=0)) > 50  # a pattern, not flat parts
    # Textures darken by at most the contrast: every colour stays at least (1 - contrast) of its brightest.
    assert rgb.max() <= 255 and rgb.sum(axis=1).min() > 0


def test_uncoloured_meshes_get_one_random_colour_and_unknown_modes_fail():
    box = trimesh.creation.box()
    out, _, _ = apply_appearance(box, VIEWS, AppearanceConfig(texture_probability=0.0), "box/0")
    assert len(np.unique(out.visual.face_colors, axis=0)) == 1
    with pytest.raises(ValueError, match="sparkly"):
        apply_appearance(box, VIEWS, AppearanceConfig(mode="sparkly"), "box/0")
