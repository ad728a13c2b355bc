"""Tests for gs_perception.data.shapes: the procedural object generator."""

from __future__ import annotations

import numpy as np
import pytest

from gs_perception.data.shapes import SHAPE_NAMES, make_shape


def test_required_shape_names_are_available():
    assert {"chair", "table", "monitor", "mug"} <= set(SHAPE_NAMES)


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_is_a_coloured_roughly_unit_object_standing_on_the_ground(name: str):
    mesh = make_shape(name, seed=0)
    assert len(mesh.faces) > 0 and mesh.area > 0
    assert mesh.visual.kind == "face"
    assert len(np.unique(mesh.visual.face_colors, axis=0)) >= 2  # parts have distinct colours
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # z up, on the floor
    assert 0.3 < mesh.extents.max() < 2.0
    assert np.isfinite(mesh.vertices).all()


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_is_deterministic_per_seed_and_varies_across_seeds(name: str):
    a, b = make_shape(name, seed=5), make_shape(name, seed=5)
    assert np.array_equal(a.vertices, b.vertices)
    assert np.array_equal(a.faces, b.faces)
    assert np.array_equal(a.visual.face_colors, b.visual.face_colors)
    extents = np.array([make_shape(name, seed=s).extents for s in range(4)])
    # Proportions (not just colours) change: some bounding-box side moves by more than 2 cm.
    assert (np.ptp(extents, axis=0) > 0.02).any()


def test_unknown_shape_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="chair.*monitor.*mug.*table"):
        make_shape("sofa")
