"""Procedural objects built from trimesh primitives, so datasets, fits and demos run offline.

Every shape stands on the ground plane (z = 0, z up as in REP-103), is centred on the z axis, measures about
1 m, and gives each part its own face colour (a fitter needs colour structure to learn from). Proportions and
colours are drawn from a generator seeded by ``(name, seed)``: the same pair always gives the same mesh.

To add a class, write one function that takes a :class:`numpy.random.Generator` and returns its parts, and
register it with ``@_register("name")``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import trimesh

_Builder = Callable[[np.random.Generator], list[trimesh.Trimesh]]
_BUILDERS: dict[str, _Builder] = {}


def _register(name: str) -> Callable[[_Builder], _Builder]:
    """Decorator adding a shape builder under ``name``."""

    def wrap(builder: _Builder) -> _Builder:
        _BUILDERS[name] = builder
        return builder

    return wrap


def _colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float = 0.08) -> np.ndarray:
    """RGBA uint8 colour near ``base`` (RGB in [0, 1]): seeds vary the tint but parts stay distinguishable."""
    rgb = np.clip(np.asarray(base) + rng.uniform(-jitter, jitter, 3), 0.0, 1.0)
    return np.append(np.round(rgb * 255), 255).astype(np.uint8)


def _paint(mesh: trimesh.Trimesh, rgba: np.ndarray) -> trimesh.Trimesh:
    """Give every face of ``mesh`` the colour ``rgba`` [4] uint8; returns ``mesh``."""
    mesh.visual.face_colors = np.tile(rgba, (len(mesh.faces), 1))
    return mesh


def _box(extents: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    return trimesh.creation.box(extents=extents, transform=trimesh.transformations.translation_matrix(centre))


def _cylinder(radius: float, height: float, centre: tuple[float, float, float]) -> trimesh.Trimesh:
    """Vertical (z-axis) cylinder."""
    transform = trimesh.transformations.translation_matrix(centre)
    return trimesh.creation.cylinder(radius=radius, height=height, sections=24, transform=transform)


def _four_legs(
    rng: np.random.Generator, half_x: float, half_y: float, height: float, thickness: float
) -> list[trimesh.Trimesh]:
    """Four legs from the floor to ``height`` at (±half_x, ±half_y), all round or all square."""
    round_legs = bool(rng.random() < 0.5)
    legs = []
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            centre = (sx * half_x, sy * half_y, 0.5 * height)
            if round_legs:
                legs.append(_cylinder(0.5 * thickness, height, centre))
            else:
                legs.append(_box((thickness, thickness, height), centre))
    return legs


@_register("chair")
def _chair(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Seat on four legs with a backrest rising from the seat's rear (-x) edge."""
    width, depth = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6)
    seat_z, seat_t = rng.uniform(0.38, 0.55), rng.uniform(0.04, 0.09)
    leg_t, back_h, back_t = rng.uniform(0.03, 0.07), rng.uniform(0.35, 0.65), rng.uniform(0.03, 0.06)
    legs = _four_legs(rng, 0.5 * depth - leg_t, 0.5 * width - leg_t, seat_z - seat_t, leg_t)
    seat = _box((depth, width, seat_t), (0.0, 0.0, seat_z - 0.5 * seat_t))
    back = _box((back_t, width, back_h), (-0.5 * depth + 0.5 * back_t, 0.0, seat_z + 0.5 * back_h))
    return [
        _paint(seat, _colour(rng, (0.75, 0.2, 0.15))),
        _paint(back, _colour(rng, (0.2, 0.35, 0.75))),
        *(_paint(leg, _colour(rng, (0.35, 0.22, 0.1), 0.03)) for leg in legs),
    ]


@_register("table")
def _table(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Rectangular top on four legs, or (one seed in three) a round top on a pedestal."""
    height, top_t = rng.uniform(0.6, 0.8), rng.uniform(0.03, 0.07)
    top_colour, leg_colour = _colour(rng, (0.8, 0.6, 0.3)), _colour(rng, (0.25, 0.25, 0.3))
    if rng.random() < 1.0 / 3.0:
        radius = rng.uniform(0.4, 0.65)
        top = _cylinder(radius, top_t, (0.0, 0.0, height - 0.5 * top_t))
        stem = _cylinder(rng.uniform(0.03, 0.06), height - top_t, (0.0, 0.0, 0.5 * (height - top_t)))
        foot = _cylinder(rng.uniform(0.2, 0.35), 0.03, (0.0, 0.0, 0.015))
        return [
            _paint(top, top_colour),
            _paint(stem, leg_colour),
            _paint(foot, _colour(rng, (0.1, 0.1, 0.1))),
        ]
    length, width, leg_t = rng.uniform(0.8, 1.4), rng.uniform(0.5, 0.9), rng.uniform(0.04, 0.08)
    top = _box((length, width, top_t), (0.0, 0.0, height - 0.5 * top_t))
    legs = _four_legs(rng, 0.5 * length - leg_t, 0.5 * width - leg_t, height - top_t, leg_t)
    return [_paint(top, top_colour), *(_paint(leg, leg_colour) for leg in legs)]


@_register("monitor")
def _monitor(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Screen facing +x on a neck and a flat foot; the display is a dark panel in a lighter bezel."""
    width = rng.uniform(0.5, 0.8)
    height, thick = width * rng.uniform(0.5, 0.65), rng.uniform(0.03, 0.06)
    foot_t, neck_h = 0.02, rng.uniform(0.08, 0.25)
    bottom = foot_t + neck_h
    bezel = _box((thick, width, height), (0.0, 0.0, bottom + 0.5 * height))
    display = _box((0.004, 0.92 * width, 0.88 * height), (0.5 * thick + 0.002, 0.0, bottom + 0.5 * height))
    neck = _box(
        (0.03, rng.uniform(0.04, 0.1), neck_h + 0.1),
        (-0.5 * thick - 0.015, 0.0, foot_t + 0.5 * (neck_h + 0.1)),
    )
    if rng.random() < 0.5:
        foot = _box((rng.uniform(0.15, 0.25), rng.uniform(0.2, 0.4), foot_t), (-0.02, 0.0, 0.5 * foot_t))
    else:
        foot = _cylinder(rng.uniform(0.1, 0.18), foot_t, (-0.02, 0.0, 0.5 * foot_t))
    return [
        _paint(bezel, _colour(rng, (0.7, 0.7, 0.72))),
        _paint(display, _colour(rng, (0.05, 0.15, 0.4), 0.04)),
        _paint(neck, _colour(rng, (0.3, 0.3, 0.3))),
        _paint(foot, _colour(rng, (0.15, 0.15, 0.15))),
    ]


@_register("mug")
def _mug(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Open hollow cylinder with a floor and a ring handle on its +x side."""
    height, radius = rng.uniform(0.7, 1.0), rng.uniform(0.28, 0.45)
    wall = rng.uniform(0.03, 0.06)
    annulus = trimesh.creation.annulus(r_min=radius - wall, r_max=radius, height=height, sections=32)
    body = annulus.apply_translation((0.0, 0.0, 0.5 * height))
    floor = _cylinder(radius - wall, wall, (0.0, 0.0, 0.5 * wall))
    ring_r, tube_r = height * rng.uniform(0.22, 0.32), rng.uniform(0.035, 0.06)
    # Torus axis along y so the ring stands in the x-z plane; its inner half hides inside the wall.
    pose = trimesh.transformations.rotation_matrix(np.pi / 2, (1.0, 0.0, 0.0))
    pose[:3, 3] = (radius, 0.0, 0.5 * height)
    handle = trimesh.creation.torus(ring_r, tube_r, major_sections=24, minor_sections=12, transform=pose)
    return [
        _paint(body, _colour(rng, (0.9, 0.85, 0.2))),
        _paint(floor, _colour(rng, (0.2, 0.6, 0.3))),
        _paint(handle, _colour(rng, (0.8, 0.3, 0.6))),
    ]


# After every @_register builder above: new classes must be defined before this line.
SHAPE_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def make_shape(name: str, seed: int = 0) -> trimesh.Trimesh:
    """Build the procedural object ``name`` with proportions and colours drawn from ``seed``.

    Args:
        name: One of :data:`SHAPE_NAMES`.
        seed: Non-negative seed; each (name, seed) pair gives one fixed mesh.

    Returns:
        A mesh in metres, z up, standing on z = 0, with per-face colours (one colour per part).

    Raises:
        ValueError: Unknown ``name``.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown shape {name!r}; valid names: {', '.join(sorted(_BUILDERS))}")
    # Mix the name into the seed so that, e.g., chair 0 and table 0 draw independent numbers.
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode())])
    parts = _BUILDERS[name](rng)
    return trimesh.util.concatenate(parts)
