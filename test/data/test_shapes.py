"""Tests for gs_perception.data.shapes: the procedural object generator."""

from __future__ import annotations

import numpy as np
import pytest

from gs_perception.data.shapes import SHAPE_NAMES, SHAPES10, make_shape


def test_required_shape_names_are_available():
    assert {"chair", "table", "monitor", "mug"} <= set(SHAPE_NAMES)


def test_shapes10_is_exactly_modelnet10s_classes_in_alphabetical_order_and_all_are_registered():
    modelnet10 = "bathtub bed chair desk dresser monitor night_stand sofa table toilet".split()
    assert list(SHAPES10) == modelnet10
    assert set(SHAPES10) <= set(SHAPE_NAMES)
    assert "mug" in SHAPE_NAMES  # kept beside the ModelNet10 classes


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_is_a_coloured_roughly_unit_object_standing_on_the_ground(name: str):
    mesh = make_shape(name, seed=0)
    assert len(mesh.faces) > 0 and mesh.area > 0
    assert mesh.visual.kind == "face"
    assert len(np.unique(mesh.visual.face_colors, axis=0)) >= 2  # parts have distinct colours
    assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # z up, on the floor
    assert 0.3 < mesh.extents.max() < 2.0
    assert np.isfinite(mesh.vertices).all()


@pytest.mark.parametrize("name", SHAPES10)
def test_modelnet10_shapes_stand_centred_on_the_z_axis_for_every_seed(name: str):
    for seed in range(3):
        mesh = make_shape(name, seed)
        assert len(mesh.faces) > 0 and np.isfinite(mesh.vertices).all()
        assert len(np.unique(mesh.visual.face_colors, axis=0)) >= 2
        assert mesh.bounds[0, 2] == pytest.approx(0.0, abs=1e-6)
        size = mesh.extents.max()
        assert 0.3 < size < 2.0
        # Bounding-box centre near the z axis; the monitor's stand sits a little behind its screen.
        assert np.abs(mesh.bounds.mean(axis=0)[:2]).max() < 0.15 * size


@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_shape_is_deterministic_per_seed_and_varies_across_seeds(name: str):
    a, b = make_shape(name, seed=5), make_shape(name, seed=5)
    assert np.array_equal(a.vertices, b.vertices)
    assert np.array_equal(a.faces, b.faces)
    assert np.array_equal(a.visual.face_colors, b.visual.face_colors)
    extents = np.array([make_shape(name, seed=s).extents for s in range(4)])
    # Proportions (not just colours) change: some bounding-box side moves by more than 2 cm.
    assert (np.ptp(extents, axis=0) > 0.02).any()


@pytest.mark.parametrize("name", SHAPES10)
def test_modelnet10_shapes_differ_between_any_two_seeds(name: str):
    extents = [make_shape(name, seed=s).extents for s in range(4)]
    for i in range(len(extents)):
        for j in range(i):
            assert not np.allclose(extents[i], extents[j], atol=1e-3), (i, j)


def test_dresser_is_wide_and_night_stand_is_near_cubic():
    for seed in range(5):
        dresser, stand = make_shape("dresser", seed).extents, make_shape("night_stand", seed).extents
        assert dresser[1] > 1.3 * dresser[2]  # width (y) well over height
        assert stand[1] < 1.2 * stand[2] and stand.max() < 0.7


def test_unknown_shape_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="bathtub.*chair.*monitor.*mug.*table"):
        make_shape("wardrobe")
