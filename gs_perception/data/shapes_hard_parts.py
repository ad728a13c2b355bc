"""Furniture parts for the hard procedural classes (:mod:`.shapes_hard`): legs, bases, tops, slats, panels.

Every function returns painted :class:`trimesh.Trimesh` parts in metres, z up (REP-103), placed by explicit
coordinates, so the class builders (:mod:`.shapes_hard_classes`) make the choices. Only ``drawers`` (its
colours) and :func:`cabinet` (a whole chest, shared by dresser and night_stand) draw from the object's
generator. The smallest pieces (colours, slabs, ovals, drawer fronts) are :mod:`.shapes`'s own, so both
procedural sets paint parts the same way: one colour per part, which is what the dataset's random-appearance
mode (:func:`~.appearance.apply_appearance`) groups faces by.
"""

from __future__ import annotations

import numpy as np
import trimesh

from .shapes import colour, drawers, oval, paint, slab

__all__ = [
    "rod",
    "post",
    "four_legs",
    "star_base",
    "pedestal",
    "sled",
    "trestle",
    "top",
    "slats",
    "curved_panel",
    "balls",
    "taper",
    "open_box",
    "cabinet",
]

_Vec3 = tuple[float, float, float]


def rod(a: _Vec3, b: _Vec3, radius: float, rgba: np.ndarray, sections: int = 10) -> trimesh.Trimesh:
    """Closed cylinder of ``radius`` from point ``a`` to point ``b`` (metres), painted ``rgba``."""
    segment = np.array([a, b], dtype=float)
    return paint(trimesh.creation.cylinder(radius=radius, segment=segment, sections=sections), rgba)


def post(
    x: float, y: float, z0: float, z1: float, t: float, rgba: np.ndarray, round_: bool
) -> trimesh.Trimesh:
    """A vertical leg of width ``t`` at (x, y) from ``z0`` to ``z1``: a round rod or a square bar."""
    if round_:
        return rod((x, y, z0), (x, y, z1), 0.5 * t, rgba)
    return slab((x - 0.5 * t, y - 0.5 * t, z0), (x + 0.5 * t, y + 0.5 * t, z1), rgba)


def four_legs(
    hx: float, hy: float, height: float, t: float, rgba: np.ndarray, round_: bool = False
) -> list[trimesh.Trimesh]:
    """Four legs from the floor to ``height`` centred at (±hx, ±hy)."""
    return [post(sx * hx, sy * hy, 0.0, height, t, rgba, round_) for sx in (-1, 1) for sy in (-1, 1)]


def star_base(height: float, reach: float, rgba: np.ndarray, spokes: int = 5) -> list[trimesh.Trimesh]:
    """Office-chair base: a gas column up to ``height`` on ``spokes`` arms of length ``reach`` with casters.

    The first arm points along +x (the front); casters are spheres touching the floor.
    """
    caster = 0.025
    parts = [rod((0.0, 0.0, 2 * caster), (0.0, 0.0, height), 0.03, rgba)]
    for angle in np.arange(spokes) * (2.0 * np.pi / spokes):
        tip = (reach * np.cos(angle), reach * np.sin(angle), 2.0 * caster)
        parts.append(rod((0.0, 0.0, 2.5 * caster), tip, 0.018, rgba, sections=8))
        ball = trimesh.creation.icosphere(1, radius=caster).apply_translation((tip[0], tip[1], caster))
        parts.append(paint(ball, rgba))
    return parts


def pedestal(
    x: float, height: float, stem_r: float, foot_r: float, stem: np.ndarray, foot: np.ndarray
) -> list[trimesh.Trimesh]:
    """A round stem from a flat disc foot (3 cm thick) up to ``height``, centred at (x, 0)."""
    parts = [oval(foot_r, 0.0, 0.03, 0.0, foot), oval(stem_r, 0.0, height - 0.03, 0.03, stem)]
    return [part.apply_translation((x, 0.0, 0.0)) for part in parts]


def sled(hx: float, hy: float, height: float, t: float, rgba: np.ndarray) -> list[trimesh.Trimesh]:
    """Sled frame: at y = ±hy a floor runner along x and two uprights up to ``height``."""
    r = 0.5 * t
    parts = []
    for y in (-hy, hy):
        parts.append(rod((-hx - r, y, r), (hx + r, y, r), r, rgba))
        parts += [rod((x, y, r), (x, y, height), r, rgba) for x in (-hx, hx)]
    return parts


def trestle(hx: float, hy: float, height: float, t: float, rgba: np.ndarray) -> list[trimesh.Trimesh]:
    """Trestle base: at x = ±hx a foot beam along y and a plank upright; a stretcher along x between them."""
    parts = []
    for x in (-hx, hx):
        parts.append(slab((x - 1.5 * t, -hy, 0.0), (x + 1.5 * t, hy, t), rgba))
        parts.append(slab((x - 0.5 * t, -0.4 * hy, t), (x + 0.5 * t, 0.4 * hy, height), rgba))
    z = 0.35 * height
    parts.append(slab((-hx, -0.5 * t, z), (hx, 0.5 * t, z + 1.5 * t), rgba))
    return parts


def top(
    shape: str, length: float, width: float, thick: float, z1: float, rgba: np.ndarray
) -> trimesh.Trimesh:
    """A table top ending at height ``z1``: 'rectangular' (length along x), 'round' (diameter ``width``) or
    'oval' (``length`` × ``width``).

    Raises:
        ValueError: Unknown ``shape``.
    """
    z0 = z1 - thick
    if shape == "rectangular":
        return slab((-0.5 * length, -0.5 * width, z0), (0.5 * length, 0.5 * width, z1), rgba)
    if shape == "round":
        return oval(0.5 * width, 0.0, thick, z0, rgba)
    if shape == "oval":
        return oval(0.5 * width, 0.0, thick, z0, rgba, sx=length / width)
    raise ValueError(f"unknown top shape {shape!r}; expected 'rectangular', 'round' or 'oval'")


def slats(
    x: float, hy: float, z0: float, z1: float, n: int, t: float, frame: np.ndarray, slat: np.ndarray
) -> list[trimesh.Trimesh]:
    """A slatted back in the y-z plane at ``x``: two side posts, a top rail and ``n`` vertical slats.

    The posts (width ``t``) stand at y = ±hy from ``z0`` to ``z1``; the slats are thinner and lighter.
    """
    parts = [slab((x - 0.5 * t, y - 0.5 * t, z0), (x + 0.5 * t, y + 0.5 * t, z1), frame) for y in (-hy, hy)]
    parts.append(slab((x - 0.5 * t, -hy, z1 - 1.5 * t), (x + 0.5 * t, hy, z1), frame))
    for y in np.linspace(-hy, hy, n + 2)[1:-1]:
        parts.append(slab((x - 0.3 * t, y - 0.4 * t, z0), (x + 0.3 * t, y + 0.4 * t, z1 - 1.5 * t), slat))
    return parts


def curved_panel(
    width: float, height: float, thick: float, sag: float, z0: float, rgba: np.ndarray, segments: int = 8
) -> list[trimesh.Trimesh]:
    """A panel in the y-z plane (centred on y = 0, from ``z0`` up) bent so its side edges come ``sag`` metres
    towards +x: a curved screen seen from +x. ``sag`` = 0 gives a flat panel of ``segments`` boxes.

    Built from flat boxes along a parabola (trimesh has no bent primitive without extra dependencies).
    """
    ys = np.linspace(-0.5 * width, 0.5 * width, segments + 1)
    xs = sag * (2.0 * ys / width) ** 2
    parts = []
    for i in range(segments):
        dx, dy = xs[i + 1] - xs[i], ys[i + 1] - ys[i]
        length = float(np.hypot(dx, dy)) + 0.2 * thick  # a little overlap so no seam opens at the joints
        pose = trimesh.transformations.rotation_matrix(float(np.arctan2(-dx, dy)), (0.0, 0.0, 1.0))
        pose[:3, 3] = (0.5 * (xs[i] + xs[i + 1]), 0.5 * (ys[i] + ys[i + 1]), z0 + 0.5 * height)
        parts.append(paint(trimesh.creation.box(extents=(thick, length, height), transform=pose), rgba))
    return parts


def open_box(
    hx: float, hy: float, z0: float, height: float, wall: float, sides: np.ndarray, floor: np.ndarray
) -> list[trimesh.Trimesh]:
    """An open-topped box over [-hx, hx] × [-hy, hy] from ``z0`` up ``height``: a floor and four walls, all
    ``wall`` thick, inside that outline (a rectangular tub or toilet bowl)."""
    parts = [slab((-hx, -hy, z0), (hx, hy, z0 + wall), floor)]
    for s in (-1.0, 1.0):
        parts.append(slab((s * hx, -hy, z0), (s * (hx - wall), hy, z0 + height), sides))
        parts.append(slab((-hx, s * hy, z0), (hx, s * (hy - wall), z0 + height), sides))
    return parts


def balls(centres: list[_Vec3], radius: float, rgba: np.ndarray) -> list[trimesh.Trimesh]:
    """Spheres of ``radius`` at ``centres`` (feet, knobs)."""
    return [paint(trimesh.creation.icosphere(1, radius=radius).apply_translation(c), rgba) for c in centres]


def taper(mesh: trimesh.Trimesh, half_length: float, amount: float) -> trimesh.Trimesh:
    """Narrow ``mesh`` in y towards -x (in place): y is scaled from 1 at x = +``half_length`` down to
    1 - ``amount`` at x = -``half_length``, so the widest section keeps its width. A tub basin whose wide end
    (the bather's back) is at +x.
    """
    vertices = np.array(mesh.vertices)
    along = np.clip(vertices[:, 0] / half_length, -1.0, 1.0)
    vertices[:, 1] *= 1.0 - 0.5 * amount * (1.0 - along)
    mesh.vertices = vertices
    return mesh


def cabinet(
    rng: np.random.Generator, size: tuple[float, float, float], grid: tuple[int, int], lower: str, base: str
) -> list[trimesh.Trimesh]:
    """A chest (width along y, depth along x, height) with a ``grid`` (rows, columns) of drawers on its +x
    front, above nothing ('none') / an open 'shelf' / a 'door' (``lower``), on four 'legs' or a 'plinth'.

    The drawer and door tint is light or dark wood (one draw); the rest of the proportions are drawn here.
    """
    (width, depth, height), tint = size, (0.9, 0.85, 0.75) if rng.random() < 0.5 else (0.7, 0.5, 0.3)
    hw, hd, top_z = 0.5 * width, 0.5 * depth, height - rng.uniform(0.02, 0.04)
    body, dark = colour(rng, (0.55, 0.4, 0.27), 0.1), colour(rng, (0.25, 0.17, 0.1), 0.04)
    parts = [slab((-hd, -hw - 0.01, top_z), (hd + 0.02, hw + 0.01, height), colour(rng, (0.4, 0.28, 0.18)))]
    if base == "legs":
        base_z = rng.uniform(0.08, 0.2)
        parts += four_legs(hd - 0.03, hw - 0.03, base_z, 0.04, dark, round_=bool(rng.random() < 0.5))
    else:
        base_z = rng.uniform(0.04, 0.1)
        parts.append(slab((0.02 - hd, 0.02 - hw, 0.0), (hd - 0.03, hw - 0.02, base_z), dark))
    split = base_z if lower == "none" else top_z - (top_z - base_z) * rng.uniform(0.35, 0.55)
    parts.append(slab((-hd, -hw, split), (hd, hw, top_z), body))
    if lower == "shelf":  # sides, bottom and back around an open space
        parts += [slab((-hd, s * hw, base_z), (hd, s * (hw - 0.02), split), body) for s in (-1.0, 1.0)]
        parts.append(slab((-hd, -hw, base_z), (hd, hw, base_z + 0.02), body))
        parts.append(slab((-hd, 0.02 - hw, base_z), (0.03 - hd, hw - 0.02, split), dark))
    elif lower == "door":
        parts.append(slab((-hd, -hw, base_z), (hd, hw, split), body))
        parts.append(
            slab((hd, 0.01 - hw, base_z + 0.01), (hd + 0.02, hw - 0.01, split - 0.01), colour(rng, tint))
        )
        parts += balls([(hd + 0.03, 0.7 * hw, 0.5 * (base_z + split))], 0.015, dark)
    parts += drawers(rng, hd, (0.02 - hw, hw - 0.02), (split + 0.01, top_z - 0.01), grid, tint)
    return parts
