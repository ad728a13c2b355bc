"""The hand-made geometry descriptor: exact values on built boxes, yaw invariance of its rotation-invariant
variant, and that a linear probe separates two toy classes with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gs_perception.eval.descriptor import (
    DESCRIPTOR_SIZE,
    convex_hull_2d,
    footprint_sides,
    height_histogram,
    shape_descriptor,
    shape_descriptors,
)
from gs_perception.eval.probes import fit_linear_probe


def _yaw(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def _box_column(size=(2.0, 1.0, 0.5), levels: int = 16, offset=(3.0, -1.0, 0.25)) -> np.ndarray:
    """A 5 × 5 grid of points on each of ``levels`` evenly spaced heights, filling a box of ``size``."""
    x, y, z = (np.linspace(0.0, s, n) for s, n in zip(size, (5, 5, levels)))
    grid = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1).reshape(-1, 3)
    return grid + np.array(offset)


def test_a_box_gives_its_exact_extents_and_a_flat_height_histogram():
    d = shape_descriptor(_box_column())
    assert d.shape == (DESCRIPTOR_SIZE,) == (19,) and d.dtype == np.float32
    np.testing.assert_array_equal(d[:3], [2.0, 1.0, 0.5])
    np.testing.assert_array_equal(d[3:], np.full(16, 1 / 16, np.float32))  # one level per slice
    # a denser column is flat up to the top point, which shares the last slice
    fine = shape_descriptor(_box_column(levels=161))
    np.testing.assert_allclose(fine[3:], 1 / 16, atol=1 / 161)
    assert fine[3:].sum() == pytest.approx(1.0)


def test_height_histogram_by_hand():
    np.testing.assert_allclose(height_histogram([0.0, 0.1, 0.9, 1.0], bins=2), [0.5, 0.5])
    np.testing.assert_allclose(height_histogram([0.0, 0.0, 0.0, 4.0], bins=4), [0.75, 0, 0, 0.25])
    np.testing.assert_allclose(height_histogram([2.0, 2.0], bins=3), [1.0, 0.0, 0.0])  # flat object


def test_hull_and_minimum_rectangle_by_hand():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2], [1, 1], [1, 0], [0.5, 1.5]], dtype=float)
    hull = convex_hull_2d(square)  # the interior point and the edge midpoint are dropped
    assert sorted(map(tuple, hull)) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert footprint_sides(square) == pytest.approx((2.0, 2.0))
    assert footprint_sides(np.array([[0, 0], [3, 4], [1.5, 2.0]])) == pytest.approx((5.0, 0.0))  # collinear
    assert footprint_sides(np.ones((4, 2))) == (0.0, 0.0)
    # a 4 × 1 rectangle turned by 30°: the rectangle is found again, not the larger axis-aligned box
    rect = _yaw(np.array([[0, 0, 0], [4, 0, 0], [4, 1, 0], [0, 1, 0.0]]), np.pi / 6)[:, :2]
    assert footprint_sides(rect) == pytest.approx((4.0, 1.0))


@pytest.mark.parametrize("angle", [0.3, 1.0, np.pi / 4, 2.5, -1.9])
def test_the_rotation_invariant_variant_ignores_yaw_and_the_axis_aligned_one_does_not(angle):
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(500, 3)) * np.array([1.5, 0.4, 0.7])
    turned = _yaw(cloud, angle) + np.array([5.0, -2.0, 0.0])
    a, b = shape_descriptor(cloud, rotation_invariant=True), shape_descriptor(turned, rotation_invariant=True)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert a[0] >= a[1]  # long side first
    assert not np.allclose(shape_descriptor(cloud)[:2], shape_descriptor(turned)[:2], rtol=1e-3)
    np.testing.assert_array_equal(shape_descriptor(cloud)[2:], shape_descriptor(turned)[2:])  # z untouched
    box = _yaw(_box_column(), angle)
    np.testing.assert_allclose(shape_descriptor(box, rotation_invariant=True)[:3], [2.0, 1.0, 0.5], rtol=1e-6)


def _toy_object(kind: int, rng: np.random.Generator, n: int = 400) -> np.ndarray:
    """kind 0: a box; kind 1: a pyramid (mass near the floor). Same size distribution, random yaw."""
    w, d, h = rng.uniform(0.4, 1.0, size=3)
    u = rng.random((n, 3))
    if kind == 0:
        p = (u - [0.5, 0.5, 0.0]) * [w, d, h]
    else:
        z = 1.0 - u[:, 2] ** (1 / 3)  # density ∝ (1 - z)²: the area of the cross-section at z
        p = np.stack([(u[:, 0] - 0.5) * w * (1 - z), (u[:, 1] - 0.5) * d * (1 - z), z * h], axis=1)
    return _yaw(p, rng.uniform(0, 2 * np.pi))


def test_a_linear_probe_separates_boxes_from_pyramids_with_it():
    rng = np.random.default_rng(1)

    def split(per_class: int):
        y = np.repeat([0, 1], per_class)
        x = shape_descriptors([_toy_object(k, rng) for k in y], rotation_invariant=True)
        return x, y

    (tx, ty), (vx, vy), (ex, ey) = split(30), split(10), split(25)
    assert tx.shape == (60, 19) and tx.dtype == np.float32
    probe = fit_linear_probe(tx, ty, vx, vy)
    assert probe.accuracy(ex, ey) >= 0.96
    # the sizes alone carry no class signal here: it is the height histogram that separates them
    sizes_only = fit_linear_probe(tx[:, :3], ty, vx[:, :3], vy)
    assert sizes_only.accuracy(ex[:, :3], ey) <= 0.75


def test_batches_and_bad_input():
    clouds = [_box_column(), _box_column(size=(1.0, 1.0, 1.0))[:40]]
    batch = shape_descriptors(clouds)
    np.testing.assert_array_equal(batch[0], shape_descriptor(clouds[0]))
    assert batch.shape == (2, 19)
    same = torch.from_numpy(np.stack([_box_column()] * 3))
    np.testing.assert_array_equal(shape_descriptors(same), np.stack([shape_descriptor(_box_column())] * 3))
    assert shape_descriptors([]).shape == (0, 19)
    with pytest.raises(ValueError, match=r"\[P, 3\]"):
        shape_descriptor(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="empty"):
        shape_descriptor(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        shape_descriptor(np.array([[0.0, 0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"\[B, P, 3\]"):
        shape_descriptors(np.zeros((5, 3)))
