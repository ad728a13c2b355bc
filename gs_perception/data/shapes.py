"""Procedural objects built from trimesh primitives, so datasets, fits and demos run offline.

Every shape stands on the ground plane (z = 0, z up as in REP-103), is centred on the z axis, measures about
1 m, and gives each part its own face colour (a fitter needs colour structure to learn from). Proportions and
colours are drawn from a generator seeded by ``(name, seed)``: the same pair always gives the same mesh.

The classes cover ModelNet10's ten names (:data:`SHAPES10`: bathtub, bed, chair, desk, dresser, monitor,
night_stand, sofa, table, toilet) plus ``mug``; :data:`SHAPE_NAMES` lists them all. Objects with a front
face it towards +x.

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


def colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float = 0.08) -> np.ndarray:
    """RGBA uint8 colour near ``base`` (RGB in [0, 1]): seeds vary the tint but parts stay distinguishable."""
    rgb = np.clip(np.asarray(base) + rng.uniform(-jitter, jitter, 3), 0.0, 1.0)
    return np.append(np.round(rgb * 255), 255).astype(np.uint8)


def paint(mesh: trimesh.Trimesh, rgba: np.ndarray) -> trimesh.Trimesh:
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


_Pair = tuple[float, float]
_Vec3 = tuple[float, float, float]


def slab(a: _Vec3, b: _Vec3, rgba: np.ndarray) -> trimesh.Trimesh:
    """Box between the opposite corners ``a`` and ``b`` (in any order), painted ``rgba``."""
    return paint(trimesh.creation.box(bounds=np.sort(np.array([a, b], dtype=float), axis=0)), rgba)


def oval(r: float, r_in: float, h: float, z0: float, rgba: np.ndarray, sx: float = 1.0) -> trimesh.Trimesh:
    """Vertical cylinder (``r_in`` = 0) or tube from ``z0`` to ``z0 + h``, stretched by ``sx`` along x."""
    if r_in > 0.0:
        mesh = trimesh.creation.annulus(r_min=r_in, r_max=r, height=h, sections=32)
    else:
        mesh = trimesh.creation.cylinder(radius=r, height=h, sections=32)
    mesh.apply_transform(np.diag([sx, 1.0, 1.0, 1.0]))
    return paint(mesh.apply_translation((0.0, 0.0, z0 + 0.5 * h)), rgba)


def drawers(
    rng: np.random.Generator, x: float, ys: _Pair, zs: _Pair, grid: tuple[int, int], tint: _Vec3
) -> list[trimesh.Trimesh]:
    """A (rows, cols) grid of drawer fronts over ``ys`` × ``zs``, proud of the plane ``x``, with dark bars."""
    (rows, cols), w, h = grid, (ys[1] - ys[0]) / grid[1], (zs[1] - zs[0]) / grid[0]
    front, handle, bar = colour(rng, tint), colour(rng, (0.15, 0.15, 0.15), 0.04), min(0.15 * w, 0.09)
    parts = []
    for i, j in np.ndindex(rows, cols):
        y, z = ys[0] + j * w, zs[0] + i * h  # this drawer's lower -y corner
        parts.append(slab((x, y + 0.01, z + 0.01), (x + 0.02, y + w - 0.01, z + h - 0.01), front))
        y, z = y + 0.5 * w, z + 0.7 * h
        parts.append(slab((x + 0.02, y - bar, z - 0.01), (x + 0.04, y + bar, z + 0.01), handle))
    return parts


def _centred(parts: list[trimesh.Trimesh]) -> list[trimesh.Trimesh]:
    """Shift ``parts`` together so their joint bounding box is centred on the z axis; returns ``parts``."""
    corners = np.vstack([part.bounds for part in parts])
    centre = 0.5 * (corners.min(axis=0) + corners.max(axis=0))
    for part in parts:
        part.apply_translation((-centre[0], -centre[1], 0.0))
    return parts


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
        paint(seat, colour(rng, (0.75, 0.2, 0.15))),
        paint(back, colour(rng, (0.2, 0.35, 0.75))),
        *(paint(leg, colour(rng, (0.35, 0.22, 0.1), 0.03)) for leg in legs),
    ]


@_register("table")
def _table(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Rectangular top on four legs, or (one seed in three) a round top on a pedestal."""
    height, top_t = rng.uniform(0.6, 0.8), rng.uniform(0.03, 0.07)
    top_colour, leg_colour = colour(rng, (0.8, 0.6, 0.3)), colour(rng, (0.25, 0.25, 0.3))
    if rng.random() < 1.0 / 3.0:
        radius = rng.uniform(0.4, 0.65)
        top = _cylinder(radius, top_t, (0.0, 0.0, height - 0.5 * top_t))
        stem = _cylinder(rng.uniform(0.03, 0.06), height - top_t, (0.0, 0.0, 0.5 * (height - top_t)))
        foot = _cylinder(rng.uniform(0.2, 0.35), 0.03, (0.0, 0.0, 0.015))
        return [
            paint(top, top_colour),
            paint(stem, leg_colour),
            paint(foot, colour(rng, (0.1, 0.1, 0.1))),
        ]
    length, width, leg_t = rng.uniform(0.8, 1.4), rng.uniform(0.5, 0.9), rng.uniform(0.04, 0.08)
    top = _box((length, width, top_t), (0.0, 0.0, height - 0.5 * top_t))
    legs = _four_legs(rng, 0.5 * length - leg_t, 0.5 * width - leg_t, height - top_t, leg_t)
    return [paint(top, top_colour), *(paint(leg, leg_colour) for leg in legs)]


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
        paint(bezel, colour(rng, (0.7, 0.7, 0.72))),
        paint(display, colour(rng, (0.05, 0.15, 0.4), 0.04)),
        paint(neck, colour(rng, (0.3, 0.3, 0.3))),
        paint(foot, colour(rng, (0.15, 0.15, 0.15))),
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
        paint(body, colour(rng, (0.9, 0.85, 0.2))),
        paint(floor, colour(rng, (0.2, 0.6, 0.3))),
        paint(handle, colour(rng, (0.8, 0.3, 0.6))),
    ]


@_register("bathtub")
def _bathtub(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Open basin, long along x with the tap at its -x end: boxy, or (half the seeds) oval on ball feet."""
    length, width, height = rng.uniform(1.4, 1.8), rng.uniform(0.65, 0.85), rng.uniform(0.45, 0.6)
    hl, hw, wall, lift = 0.5 * length, 0.5 * width, rng.uniform(0.05, 0.09), 0.0
    shell, inner = colour(rng, (0.92, 0.92, 0.9), 0.05), colour(rng, (0.5, 0.72, 0.9))
    parts = []
    if rng.random() < 0.5:
        for s in (-1.0, 1.0):
            parts.append(slab((s * hl, -hw, 0.0), (s * (hl - wall), hw, height), shell))
            parts.append(slab((-hl, s * hw, 0.0), (hl, s * (hw - wall), height), shell))
        parts.append(slab((-hl, -hw, 0.0), (hl, hw, wall), inner))
    else:
        lift, feet, sx = rng.uniform(0.08, 0.15), colour(rng, (0.75, 0.6, 0.2)), hl / hw
        # A ring stretched along x: its wall thickens towards the ends, as on real cast-iron tubs.
        parts += [oval(hw, hw - wall, height, lift, shell, sx), oval(hw, 0.0, wall, lift, inner, sx)]
        for fx, fy in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            foot = trimesh.creation.icosphere(1, radius=0.5 * lift)
            parts.append(paint(foot.apply_translation((fx * 0.7 * hl, fy * 0.6 * hw, 0.5 * lift)), feet))
    top, metal = lift + height, colour(rng, (0.6, 0.62, 0.65), 0.04)
    parts.append(paint(_cylinder(0.02, 0.16, (0.06 - hl, 0.0, top + 0.08)), metal))
    parts.append(slab((0.06 - hl, -0.02, top + 0.13), (0.2 - hl, 0.02, top + 0.16), metal))
    return _centred(parts)


@_register("bed")
def _bed(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Mattress on a frame, long along x: headboard and pillows at -x; blanket, some footboards at +x."""
    length, width = rng.uniform(1.75, 1.95), rng.uniform(0.9, 1.6)
    leg_h, frame_t, matt_t = rng.uniform(0.05, 0.2), rng.uniform(0.12, 0.22), rng.uniform(0.15, 0.25)
    board_t, hw = rng.uniform(0.04, 0.08), 0.5 * width
    hx, frame_z, top = 0.5 * length - board_t, leg_h + frame_t, leg_h + frame_t + matt_t
    wood, blanket_x = colour(rng, (0.5, 0.33, 0.18)), (1.0 - 2.0 * rng.uniform(0.55, 0.75)) * hx
    mattress, blanket = colour(rng, (0.92, 0.9, 0.85)), colour(rng, (0.35, 0.5, 0.7), 0.15)
    parts = [
        slab((-hx, -hw, leg_h), (hx, hw, frame_z), wood),
        slab((-hx, 0.015 - hw, frame_z), (hx, hw - 0.015, top), mattress),
        slab((blanket_x, -hw - 0.01, top - 0.6 * matt_t), (hx + 0.01, hw + 0.01, top + 0.02), blanket),
        slab((-hx - board_t, -hw - 0.02, 0.0), (-hx, hw + 0.02, top + rng.uniform(0.35, 0.6)), wood),
    ]
    if rng.random() < 0.5:
        foot_z = top + rng.uniform(0.0, 0.2)
        parts.append(slab((hx, -hw - 0.02, 0.0), (hx + board_t, hw + 0.02, foot_z), wood))
    n = 2 if width > 1.2 else 1
    pillow, step = colour(rng, (0.97, 0.97, 0.97), 0.03), (width - 0.1) / n
    for i in range(n):
        y0 = 0.05 - hw + i * step
        parts.append(slab((0.05 - hx, y0 + 0.02, top), (0.4 - hx, y0 + step - 0.02, top + 0.1), pillow))
    parts += [paint(leg, wood) for leg in _four_legs(rng, hx - 0.05, hw - 0.05, leg_h, 0.06)]
    return _centred(parts)


@_register("desk")
def _desk(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Top on a drawer pedestal and an end panel, or on legs with a drawer; back panel at -x (user at +x)."""
    width, depth = rng.uniform(1.0, 1.5), rng.uniform(0.55, 0.75)
    height, top_t = rng.uniform(0.72, 0.78), rng.uniform(0.025, 0.05)
    hw, hd, under = 0.5 * width, 0.5 * depth, height - top_t
    body, tint = colour(rng, (0.5, 0.36, 0.25)), (0.78, 0.62, 0.42)
    parts = [slab((-hd, -hw, under), (hd, hw, height), colour(rng, (0.82, 0.7, 0.5)))]
    if rng.random() < 0.6:
        ped_w = rng.uniform(0.35, 0.45)
        y0 = float(rng.choice((-hw, hw - ped_w)))
        end_y = hw - 0.03 if y0 < 0.0 else -hw
        parts.append(slab((-hd, y0, 0.0), (hd - 0.06, y0 + ped_w, under), body))
        parts.append(slab((-hd, end_y, 0.0), (hd - 0.06, end_y + 0.03, under), body))
        grid = (int(rng.integers(2, 4)), 1)
        parts += drawers(rng, hd - 0.06, (y0, y0 + ped_w), (0.04, under - 0.01), grid, tint)
    else:
        leg_t = rng.uniform(0.04, 0.07)
        legs = _four_legs(rng, hd - leg_t, hw - leg_t, under, leg_t)
        parts += [paint(leg, colour(rng, (0.25, 0.25, 0.28), 0.03)) for leg in legs]
        parts.append(slab((0.06 - hd, -0.2 * width, under - 0.1), (hd - 0.09, 0.2 * width, under), body))
        parts += drawers(rng, hd - 0.09, (-0.2 * width, 0.2 * width), (under - 0.1, under), (1, 1), tint)
    panel_z = under * rng.uniform(0.3, 0.6)
    parts.append(slab((0.05 - hd, 0.05 - hw, panel_z), (0.07 - hd, hw - 0.05, under), body))
    return _centred(parts)


@_register("dresser")
def _dresser(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Wide, low chest with 2-4 rows of drawers in one or two columns on its +x front, on a plinth or feet."""
    height = rng.uniform(0.6, 0.9)
    width, depth, base_h = height * rng.uniform(1.4, 2.0), rng.uniform(0.4, 0.55), rng.uniform(0.05, 0.12)
    hw, hd, top_z = 0.5 * width, 0.5 * depth, height - rng.uniform(0.02, 0.04)
    body, dark = colour(rng, (0.45, 0.3, 0.2)), colour(rng, (0.25, 0.17, 0.1), 0.04)
    parts = [
        slab((-hd, -hw, base_h), (hd, hw, top_z), body),
        slab((-hd, -hw - 0.02, top_z), (hd + 0.03, hw + 0.02, height), dark),
    ]
    if rng.random() < 0.5:
        parts += [paint(leg, dark) for leg in _four_legs(rng, hd - 0.04, hw - 0.04, base_h, 0.05)]
    else:
        parts.append(slab((-hd, 0.02 - hw, 0.0), (hd - 0.04, hw - 0.02, base_h), dark))
    grid = (int(rng.integers(2, 5)), 1 + int(rng.random() < 0.5))
    parts += drawers(rng, hd, (0.03 - hw, hw - 0.03), (base_h + 0.03, top_z - 0.03), grid, (0.7, 0.5, 0.3))
    return _centred(parts)


@_register("night_stand")
def _night_stand(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Small, near-cubic cabinet: 1-2 drawers at its +x front, often over an open shelf, mostly on legs."""
    width = rng.uniform(0.4, 0.55)
    depth, height = width * rng.uniform(0.8, 1.0), width * rng.uniform(1.0, 1.3)
    hw, hd, top_z = 0.5 * width, 0.5 * depth, height - 0.03
    leg_h = rng.uniform(0.08, 0.18) if rng.random() < 0.7 else 0.0
    rows = int(rng.integers(1, 3))
    # Two seeds in five fill the front with drawers; the rest leave an open shelf below them.
    shelf_z = leg_h if rng.random() < 0.4 else top_z - (top_z - leg_h) * rng.uniform(0.3, 0.4) * rows
    body, dark = colour(rng, (0.7, 0.55, 0.38)), colour(rng, (0.25, 0.17, 0.1), 0.04)
    parts = [
        slab((-hd, -hw, shelf_z), (hd, hw, top_z), body),
        slab((-hd, -hw - 0.01, top_z), (hd + 0.02, hw + 0.01, height), colour(rng, (0.5, 0.38, 0.25))),
    ]
    if shelf_z > leg_h:
        parts += [slab((-hd, s * hw, leg_h), (hd, s * (hw - 0.02), shelf_z), body) for s in (-1.0, 1.0)]
        parts.append(slab((-hd, -hw, leg_h), (hd, hw, leg_h + 0.02), body))
        parts.append(slab((-hd, 0.02 - hw, leg_h), (-0.1 * depth, hw - 0.02, shelf_z), dark))
    if leg_h:
        parts += [paint(leg, dark) for leg in _four_legs(rng, hd - 0.03, hw - 0.03, leg_h, 0.04)]
    zs = (shelf_z + 0.01, top_z - 0.01)
    parts += drawers(rng, hd, (0.02 - hw, hw - 0.02), zs, (rows, 1), (0.9, 0.85, 0.75))
    return _centred(parts)


@_register("sofa")
def _sofa(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Upholstered base with 1-3 seat and back cushions, backrest at -x (seats face +x), mostly with arms."""
    hw, hd = 0.5 * rng.uniform(1.3, 1.9), 0.5 * rng.uniform(0.75, 0.95)
    leg_h = rng.uniform(0.05, 0.12) if rng.random() < 0.6 else 0.0
    seat_z, back_h, back_x = rng.uniform(0.38, 0.46), rng.uniform(0.3, 0.45), rng.uniform(0.15, 0.25) - hd
    arm_w = rng.uniform(0.1, 0.2) if rng.random() < 0.75 else 0.0
    cushion_t, n = rng.uniform(0.1, 0.16), int(rng.integers(1, 4))
    fabric, cushion = colour(rng, (0.3, 0.35, 0.55), 0.15), colour(rng, (0.6, 0.62, 0.75), 0.1)
    parts = [
        slab((-hd, -hw, leg_h), (hd, hw, seat_z - cushion_t), fabric),
        slab((-hd, -hw, leg_h), (back_x, hw, seat_z + back_h), fabric),
    ]
    if arm_w:
        arm_top = seat_z + rng.uniform(0.12, 0.22)
        parts += [slab((-hd, s * hw, leg_h), (hd, s * (hw - arm_w), arm_top), fabric) for s in (-1.0, 1.0)]
    step = 2.0 * (hw - arm_w) / n
    for i in range(n):
        y0, y1 = arm_w - hw + i * step + 0.008, arm_w - hw + (i + 1) * step - 0.008
        parts.append(slab((back_x, y0, seat_z - cushion_t), (hd, y1, seat_z), cushion))
        parts.append(slab((back_x, y0, seat_z), (back_x + 0.12, y1, seat_z + 0.8 * back_h), cushion))
    if leg_h:
        legs = _four_legs(rng, hd - 0.05, hw - 0.05, leg_h, 0.05)
        parts += [paint(leg, colour(rng, (0.2, 0.15, 0.1), 0.03)) for leg in legs]
    return _centred(parts)


@_register("toilet")
def _toilet(rng: np.random.Generator) -> list[trimesh.Trimesh]:
    """Oval bowl on a pedestal with a seat (some seeds: lid down) facing +x, cistern behind it at -x."""
    r, sx = rng.uniform(0.17, 0.21), rng.uniform(1.2, 1.45)
    foot_h, bowl_top = rng.uniform(0.18, 0.25), rng.uniform(0.38, 0.44)
    tank_d, tank_hw, tank_h = rng.uniform(0.15, 0.22), rng.uniform(0.18, 0.25), rng.uniform(0.3, 0.42)
    china, seat = colour(rng, (0.93, 0.93, 0.93), 0.04), colour(rng, (0.75, 0.72, 0.65), 0.15)
    water, lid = colour(rng, (0.45, 0.7, 0.9)), colour(rng, (0.8, 0.8, 0.82))
    metal = colour(rng, (0.6, 0.62, 0.65), 0.04)
    back, top = 0.05 - sx * r - tank_d, bowl_top + tank_h  # the cistern overlaps the rear of the bowl
    parts = [
        oval(0.6 * r, 0.0, foot_h, 0.0, china, sx),
        oval(r, r - 0.025, bowl_top - foot_h, foot_h, china, sx),
        oval(r - 0.02, 0.0, 0.03, bowl_top - 0.12, water, sx),
        oval(r + 0.01, 0.6 * r, 0.03, bowl_top, seat, sx),
        slab((back, -tank_hw, foot_h), (back + tank_d, tank_hw, top), china),
        slab((back - 0.01, -tank_hw - 0.01, top), (back + tank_d + 0.01, tank_hw + 0.01, top + 0.03), lid),
        paint(_cylinder(0.025, 0.02, (back + 0.5 * tank_d, 0.0, top + 0.04)), metal),
    ]
    if rng.random() < 0.5:
        parts.append(oval(r + 0.01, 0.0, 0.02, bowl_top + 0.03, seat, sx))
    return _centred(parts)


# After every @_register builder above: new classes must be defined before this line.
SHAPE_NAMES: tuple[str, ...] = tuple(_BUILDERS)
#: ModelNet10's classes (alphabetical), so a procedural set can stand in for the real one offline.
SHAPES10: tuple[str, ...] = (
    "bathtub", "bed", "chair", "desk", "dresser", "monitor", "night_stand", "sofa", "table", "toilet"
)  # fmt: skip


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
