"""A hand-made, learning-free shape descriptor: the control every learned embedding has to beat.

19 numbers per object from its points (Gaussian means or mesh-surface samples; z up, metres):

- **Axis-aligned** (default): the bounding box's x, y and z extents, then a 16-bin height histogram (the share
  of points in each of 16 equal slices of the object's own z-range, summing to 1). On upright, canonically
  oriented objects (ModelNet's alignment) this alone separates most classes, which is how it showed the old
  benchmark left learned features no headroom.
- **Rotation-invariant** (``rotation_invariant=True``): for objects under random yaw, the x/y extents are
  replaced by the long and short sides of the minimum-area rectangle around the horizontal footprint (a
  rotation about z moves the footprint's convex hull rigidly, so that rectangle's sides do not change); the
  z extent and the height histogram depend on z only and stay as they are. Same size and layout, so the two
  variants are interchangeable in a table.

Neither sees colour or opacity: it is a geometry control, not a competitor for appearance cues.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .arrays import as_numpy

HEIGHT_BINS = 16
DESCRIPTOR_SIZE = 3 + HEIGHT_BINS


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _inside_octagon(xy: np.ndarray) -> np.ndarray:
    """[P] True for points strictly inside the polygon of the extreme points in 8 directions.

    Those points cannot be hull vertices, so dropping them first makes the Python hull loop cheap on dense
    clouds without changing its result (Akl–Toussaint).
    """
    angles = np.arange(8) * (np.pi / 4)
    dirs = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # counter-clockwise, so the vertices are too
    idx = np.argmax(xy @ dirs.T, axis=0)
    idx = idx[np.r_[True, idx[1:] != idx[:-1]]]
    if len(idx) > 1 and idx[0] == idx[-1]:
        idx = idx[:-1]
    if len(np.unique(idx)) < 3:
        return np.zeros(len(xy), dtype=bool)
    v = xy[idx]
    e = np.roll(v, -1, axis=0) - v  # [E, 2] edges
    rel = xy[:, None, :] - v[None]  # [P, E, 2]
    cross = e[None, :, 0] * rel[..., 1] - e[None, :, 1] * rel[..., 0]
    return (cross > 0).all(axis=1)


def convex_hull_2d(xy) -> np.ndarray:
    """Vertices of the convex hull of 2-D points, counter-clockwise, without collinear points.

    Args:
        xy: [P, 2] points (P ≥ 1).

    Returns:
        [H, 2] float64 hull vertices; H = 1 for coincident points and 2 for collinear ones.
    """
    xy = as_numpy(xy, np.float64)
    xy = xy[~_inside_octagon(xy)]
    pts = [tuple(p) for p in np.unique(xy, axis=0)]  # sorted by x, then y (monotone chain needs that)
    if len(pts) <= 2:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)
    lower: list = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def footprint_sides(xy) -> tuple[float, float]:
    """Long and short side of the minimum-area rectangle enclosing 2-D points (any orientation).

    One side of that rectangle lies along a hull edge (Freeman & Shapira), so every edge direction is tried.
    Among rectangles of equal area (within 1e-9) the one with the shorter long side is kept, so the result
    depends only on the shape, not on how it is turned.

    Args:
        xy: [P, 2] points.

    Returns:
        (long, short); (length, 0) for collinear points, (0, 0) for coincident ones.
    """
    hull = convex_hull_2d(xy)
    if len(hull) == 1:
        return 0.0, 0.0
    if len(hull) == 2:
        return float(np.linalg.norm(hull[1] - hull[0])), 0.0
    e = np.roll(hull, -1, axis=0) - hull
    u = e / np.linalg.norm(e, axis=1, keepdims=True)  # [H, 2] edge directions
    w = np.stack([-u[:, 1], u[:, 0]], axis=1)  # their normals
    along, across = hull @ u.T, hull @ w.T  # [H vertices, H directions]
    a = along.max(axis=0) - along.min(axis=0)
    b = across.max(axis=0) - across.min(axis=0)
    long, short = np.maximum(a, b), np.minimum(a, b)
    area = a * b
    near_best = area <= area.min() * (1.0 + 1e-9) + 1e-300
    best = np.flatnonzero(near_best)[np.argmin(long[near_best])]
    return float(long[best]), float(short[best])


def height_histogram(z, bins: int = HEIGHT_BINS) -> np.ndarray:
    """Share of points in each of ``bins`` equal slices of [min z, max z] (top point in the last slice).

    Args:
        z: [P] heights (P ≥ 1).
        bins: Number of slices.

    Returns:
        [bins] float64 summing to 1; a flat object puts everything in the first slice.
    """
    z = as_numpy(z, np.float64).reshape(-1)
    span = z.max() - z.min()
    if span <= 0.0:
        slot = np.zeros(len(z), dtype=np.int64)
    else:
        slot = np.minimum(((z - z.min()) / span * bins).astype(np.int64), bins - 1)
    return np.bincount(slot, minlength=bins) / len(z)


def shape_descriptor(points, rotation_invariant: bool = False) -> np.ndarray:
    """The 19-number geometry control of one object (see the module docstring for both variants).

    Args:
        points: [P, 3] points, z up, metres (numpy or torch; P ≥ 1, finite).
        rotation_invariant: Yaw-invariant horizontal extents (minimum-area footprint rectangle, long side
            first) instead of the axis-aligned x and y extents.

    Returns:
        [19] float32: 3 extents (x, y, z; or long, short, z), then the 16-bin height histogram.
    """
    p = as_numpy(points, np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"points must be [P, 3], got shape {p.shape}")
    if len(p) == 0:
        raise ValueError("points is empty")
    if not np.isfinite(p).all():
        raise ValueError("points hold NaN or infinite values")
    if rotation_invariant:
        long, short = footprint_sides(p[:, :2])
        extents = np.array([long, short, np.ptp(p[:, 2])])
    else:
        extents = np.ptp(p, axis=0)
    return np.concatenate([extents, height_histogram(p[:, 2])]).astype(np.float32)


def shape_descriptors(clouds: Sequence | np.ndarray, rotation_invariant: bool = False) -> np.ndarray:
    """:func:`shape_descriptor` of a batch of objects.

    Args:
        clouds: [B, P, 3] array/tensor, or a sequence of B clouds [P_b, 3] with their own point counts.
        rotation_invariant: As in :func:`shape_descriptor`.

    Returns:
        [B, 19] float32.
    """
    if hasattr(clouds, "ndim") and clouds.ndim != 3:
        raise ValueError(f"a batch of clouds must be [B, P, 3], got shape {tuple(clouds.shape)}")
    out = [shape_descriptor(c, rotation_invariant) for c in clouds]
    return np.stack(out) if out else np.zeros((0, DESCRIPTOR_SIZE), np.float32)
