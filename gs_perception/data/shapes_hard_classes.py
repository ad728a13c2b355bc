"""The ten shapes10hard class builders and their variant axes (the API is :mod:`.shapes_hard`).

A builder takes the object's seeded generator and its variant combination (axis → option) and returns the
object's painted parts in its canonical pose: metres, z up, standing on z = 0, front towards +x; the caller
turns it by its yaw and centres it. Register a class with ``@_register(name, axis=(options...), ...)``;
keyword order is the axis order of a combination. Size ranges shared between confusable classes are the
module constants below; :mod:`.shapes_hard`'s docstring lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trimesh

from .shapes import colour, drawers, oval, slab
from .shapes_hard_parts import (
    balls,
    cabinet,
    curved_panel,
    four_legs,
    open_box,
    pedestal,
    post,
    rod,
    slats,
    sled,
    star_base,
    taper,
    top,
    trestle,
)

# Size ranges (metres) that confusable classes share; the module docstring lists them.
_WORK_HEIGHT, _WORK_LENGTH, _WORK_DEPTH = (0.68, 0.80), (0.9, 1.6), (0.6, 0.95)  # desk, table
_ROUND_TOP = (0.8, 1.25)  # round table tops, across
_CABINET_DEPTH = (0.35, 0.55)  # night_stand, dresser
_LONG, _WIDE = (1.5, 2.1), (0.8, 1.2)  # sofa, bed, bathtub footprints

_Parts = list[trimesh.Trimesh]
_Builder = Callable[[np.random.Generator, dict[str, str]], _Parts]


@dataclass(frozen=True)
class HardClass:
    """One class: its builder, variant axes (name → options, in combination order) and impossible combinations
    (each dict lists options that may not occur together)."""

    builder: _Builder
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    exclude: tuple[dict[str, str], ...]


CLASSES: dict[str, HardClass] = {}
"""Every registered class by name, in registration order."""


def _register(name: str, exclude: tuple[dict[str, str], ...] = (), **axes: tuple[str, ...]):
    """Decorator adding a builder under ``name`` with its variant axes (keyword order = axis order);
    combinations matching every item of an ``exclude`` dict do not exist."""

    def wrap(builder: _Builder) -> _Builder:
        CLASSES[name] = HardClass(builder, tuple(axes.items()), exclude)
        return builder

    return wrap


@_register(
    "chair",
    legs=("four", "star", "sled"),
    back=("solid", "slatted", "none"),
    arms=("no", "yes"),
    exclude=({"back": "none", "arms": "no"},),  # that would be a stool
)
def _chair(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Seat with its back at -x on four legs, an office star base or a sled frame; arms optional."""
    hw, hd = 0.5 * rng.uniform(0.42, 0.62), 0.5 * rng.uniform(0.42, 0.6)
    seat_z, seat_t, t = rng.uniform(0.4, 0.52), rng.uniform(0.04, 0.08), rng.uniform(0.03, 0.06)
    back_h, under = rng.uniform(0.3, 0.6), seat_z - rng.uniform(0.04, 0.08)
    seat, back = colour(rng, (0.75, 0.2, 0.15)), colour(rng, (0.2, 0.35, 0.75))
    frame, arm = colour(rng, (0.3, 0.3, 0.32), 0.05), colour(rng, (0.45, 0.3, 0.2))
    parts = [slab((-hd, -hw, under), (hd, hw, seat_z), seat)]
    if v["legs"] == "four":
        parts += four_legs(hd - t, hw - t, under, t, frame, round_=bool(rng.random() < 0.5))
    elif v["legs"] == "star":
        parts += star_base(under, rng.uniform(0.26, 0.34), frame, spokes=int(rng.integers(4, 6)))
    else:
        parts += sled(hd - 0.03, hw - 0.03, under, 0.025, frame)
    if v["back"] == "solid":
        parts.append(slab((-hd, -hw, seat_z), (seat_t - hd, hw, seat_z + back_h), back))
    elif v["back"] == "slatted":
        n = int(rng.integers(3, 7))
        parts += slats(0.5 * t - hd, hw - 0.5 * t, seat_z, seat_z + back_h, n, t, frame, back)
    if v["arms"] == "yes":
        arm_z = seat_z + rng.uniform(0.17, 0.26)
        for y in (0.025 - hw, hw - 0.025):
            parts.append(slab((-hd, y - 0.03, arm_z - 0.03), (hd - 0.02, y + 0.03, arm_z), arm))
            parts += [post(x, y, seat_z, arm_z - 0.03, 0.035, frame, True) for x in (0.03 - hd, hd - 0.06)]
    return parts


@_register(
    "table",
    base=("legs", "pedestal", "trestle"),
    top=("rectangular", "round", "oval"),
    shelf=("none", "shelf"),
    exclude=({"base": "pedestal", "shelf": "shelf"},),  # nothing to rest a shelf on
)
def _table(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """A top, long along x, on four legs, one or two pedestals or a trestle, maybe a shelf; desk sizes."""
    height, top_t = rng.uniform(*_WORK_HEIGHT), rng.uniform(0.03, 0.06)
    length, width = rng.uniform(*_WORK_LENGTH), rng.uniform(*_WORK_DEPTH)
    if v["top"] == "round":
        length = width = rng.uniform(*_ROUND_TOP)
    under, t = height - top_t, rng.uniform(0.04, 0.08)
    wood, base = colour(rng, (0.8, 0.6, 0.3)), colour(rng, (0.25, 0.25, 0.3))
    if v["top"] == "rectangular":
        overhang = rng.uniform(0.0, 0.1)
        hx, hy = 0.5 * length - t - overhang, 0.5 * width - t - overhang
    else:  # inside the ellipse: (0.35 / 0.5)² · 2 < 1
        hx, hy = 0.35 * length, 0.35 * width
    parts = [top(v["top"], length, width, top_t, height, wood)]
    if v["base"] == "legs":
        parts += four_legs(hx, hy, under, t, base, round_=bool(rng.random() < 0.5))
    elif v["base"] == "pedestal":
        # Long tops stand on two pedestals, like dining tables; short ones on one.
        stem_r, foot_r, foot = rng.uniform(0.04, 0.08), rng.uniform(0.2, 0.3), colour(rng, (0.1, 0.1, 0.1))
        for x in (-0.3 * length, 0.3 * length) if length > 1.25 else (0.0,):
            parts += pedestal(x, under, stem_r, foot_r, base, foot)
    else:
        parts += trestle(hx, 0.5 * width - 0.05, under, t, base)
    if v["shelf"] == "shelf":  # a low shelf between the legs, or on the trestle's stretcher
        z = rng.uniform(0.12, 0.3) if v["base"] == "legs" else 0.35 * under + 1.5 * t
        sy = hy if v["base"] == "legs" else 0.6 * hy
        parts.append(slab((-hx, -sy, z), (hx, sy, z + 0.025), wood))
    return parts


@_register(
    "desk",
    drawers=("left", "right", "both", "centre"),
    modesty=("panel", "open"),
    ends=("legs", "panels"),
    exclude=({"drawers": "both", "ends": "panels"},),  # with two pedestals no end is free
)
def _desk(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Rectangular top, long along y (user at +x), on drawer pedestals and legs or end panels; table sizes."""
    height, top_t = rng.uniform(*_WORK_HEIGHT), rng.uniform(0.025, 0.05)
    hw, hd = 0.5 * rng.uniform(*_WORK_LENGTH), 0.5 * rng.uniform(*_WORK_DEPTH)
    under, ped_w, t = height - top_t, rng.uniform(0.35, 0.45), rng.uniform(0.04, 0.07)
    body, metal, tint = (
        colour(rng, (0.5, 0.36, 0.25)),
        colour(rng, (0.25, 0.25, 0.28), 0.03),
        (0.78, 0.62, 0.42),
    )
    parts = [slab((-hd, -hw, under), (hd, hw, height), colour(rng, (0.82, 0.7, 0.5)))]
    pedestals = {"left": (-1,), "right": (1,), "both": (-1, 1), "centre": ()}[v["drawers"]]
    for s in (-1, 1):
        if s in pedestals:
            y0, y1 = sorted((s * hw, s * (hw - ped_w)))
            parts.append(slab((-hd, y0, 0.0), (hd - 0.06, y1, under), body))
            grid = (int(rng.integers(2, 5)), 1)
            parts += drawers(rng, hd - 0.06, (y0, y1), (0.04, under - 0.01), grid, tint)
        elif v["ends"] == "legs":
            parts += [post(x, s * (hw - t), 0.0, under, t, metal, False) for x in (t - hd, hd - t)]
        else:
            parts.append(slab((0.02 - hd, s * hw, 0.0), (hd - 0.02, s * (hw - 0.03), under), body))
    if v["drawers"] == "centre":  # one shallow drawer under the middle of the top
        ys, zs = (-0.25 * hw, 0.25 * hw), (under - 0.1, under)
        parts.append(slab((0.06 - hd, ys[0], zs[0]), (hd - 0.09, ys[1], zs[1]), body))
        parts += drawers(rng, hd - 0.09, ys, zs, (1, 1), tint)
    if v["modesty"] == "panel":
        z = under * rng.uniform(0.3, 0.6)
        parts.append(slab((0.05 - hd, 0.03 - hw, z), (0.07 - hd, hw - 0.03, under), body))
    return parts


@_register("sofa", arms=("none", "one", "two"), back=("low", "high"), cushions=("one", "two", "three"))
def _sofa(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Upholstered seat long along y, back at -x (seats face +x); bed and bathtub share its footprint."""
    hw, hd = 0.5 * rng.uniform(*_LONG), 0.5 * rng.uniform(*_WIDE)
    leg_h = rng.uniform(0.05, 0.12) if rng.random() < 0.6 else 0.0
    seat_z, cushion_t, arm_w = rng.uniform(0.38, 0.48), rng.uniform(0.1, 0.16), rng.uniform(0.1, 0.22)
    back_h = rng.uniform(0.18, 0.3) if v["back"] == "low" else rng.uniform(0.4, 0.55)
    back_x, arm_top = rng.uniform(0.15, 0.25) - hd, seat_z + rng.uniform(0.1, 0.25)
    fabric, cushion = colour(rng, (0.3, 0.35, 0.55), 0.15), colour(rng, (0.6, 0.62, 0.75), 0.1)
    parts = [
        slab((-hd, -hw, leg_h), (hd, hw, seat_z - cushion_t), fabric),
        slab((-hd, -hw, leg_h), (back_x, hw, seat_z + back_h), fabric),
    ]
    sides = {"none": (), "one": (float(rng.choice((-1.0, 1.0))),), "two": (-1.0, 1.0)}[v["arms"]]
    parts += [slab((-hd, s * hw, leg_h), (hd, s * (hw - arm_w), arm_top), fabric) for s in sides]
    y0, y1 = -hw + arm_w * (-1.0 in sides), hw - arm_w * (1.0 in sides)
    n = ("one", "two", "three").index(v["cushions"]) + 1
    for i in range(n):
        a, b = y0 + i * (y1 - y0) / n + 0.008, y0 + (i + 1) * (y1 - y0) / n - 0.008
        parts.append(slab((back_x, a, seat_z - cushion_t), (hd, b, seat_z), cushion))
        parts.append(slab((back_x, a, seat_z), (back_x + 0.12, b, seat_z + 0.8 * back_h), cushion))
    if leg_h:
        parts += four_legs(hd - 0.05, hw - 0.05, leg_h, 0.05, colour(rng, (0.2, 0.15, 0.1), 0.03))
    return parts


@_register("bed", head=("none", "panel", "slatted"), foot=("none", "board"), base=("legs", "platform"))
def _bed(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Mattress long along x, head at -x, on a frame with legs or a platform; sofa and bathtub footprints."""
    hx, hw = 0.5 * rng.uniform(*_LONG), 0.5 * rng.uniform(*_WIDE)
    board_t, matt_t = rng.uniform(0.04, 0.08), rng.uniform(0.15, 0.28)
    wood, mattress = colour(rng, (0.5, 0.33, 0.18)), colour(rng, (0.92, 0.9, 0.85))
    blanket, pillow = colour(rng, (0.35, 0.5, 0.7), 0.15), colour(rng, (0.97, 0.97, 0.97), 0.03)
    if v["base"] == "legs":
        leg_h = rng.uniform(0.12, 0.3)
        frame_z = leg_h + rng.uniform(0.1, 0.18)
        parts = four_legs(hx - 0.06, hw - 0.06, leg_h, 0.06, wood, round_=bool(rng.random() < 0.5))
        parts.append(slab((-hx, -hw, leg_h), (hx, hw, frame_z), wood))
    else:
        frame_z = rng.uniform(0.2, 0.35)
        parts = [slab((-hx, -hw, 0.0), (hx, hw, frame_z), wood)]
    top_z, blanket_x = frame_z + matt_t, (1.0 - 2.0 * rng.uniform(0.55, 0.75)) * hx
    parts.append(slab((-hx, 0.015 - hw, frame_z), (hx, hw - 0.015, top_z), mattress))
    parts.append(
        slab((blanket_x, -hw - 0.01, top_z - 0.6 * matt_t), (hx + 0.01, hw + 0.01, top_z + 0.02), blanket)
    )
    n, step = (2, hw - 0.05) if hw > 0.525 else (1, 2.0 * hw - 0.1)
    for y in 0.05 - hw + step * np.arange(n):
        parts.append(slab((0.05 - hx, y + 0.02, top_z), (0.4 - hx, y + step - 0.02, top_z + 0.1), pillow))
    head_z = top_z + rng.uniform(0.25, 0.6)
    if v["head"] == "panel":
        parts.append(slab((-hx - board_t, -hw - 0.02, 0.0), (-hx, hw + 0.02, head_z), wood))
    elif v["head"] == "slatted":
        n = int(rng.integers(4, 9))
        parts += slats(-hx - 0.5 * board_t, hw, 0.0, head_z, n, board_t, wood, colour(rng, (0.7, 0.55, 0.35)))
    if v["foot"] == "board":
        foot_z = top_z + rng.uniform(-0.05, 0.2)
        parts.append(slab((hx, -hw - 0.02, 0.0), (hx + board_t, hw + 0.02, foot_z), wood))
    return parts


@_register(
    "bathtub",
    mount=("feet", "plinth", "built_in"),
    basin=("rectangular", "oval", "tapered"),
    tap=("end", "side"),
)
def _bathtub(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Open basin long along x on ball feet, a plinth or built into a box; sofa and bed footprints."""
    hl, hw = 0.5 * rng.uniform(*_LONG), 0.5 * rng.uniform(*_WIDE)
    height, wall = rng.uniform(0.45, 0.62), rng.uniform(0.05, 0.09)
    shell, inner = colour(rng, (0.92, 0.92, 0.9), 0.05), colour(rng, (0.5, 0.72, 0.9))
    metal, base = colour(rng, (0.6, 0.62, 0.65), 0.04), colour(rng, (0.75, 0.6, 0.2))
    lift = 0.0 if v["mount"] == "built_in" else rng.uniform(0.08, 0.16)
    if v["basin"] == "rectangular":
        parts = open_box(hl, hw, lift, height, wall, shell, inner)
    else:
        sx = hl / hw  # a ring stretched along x: thicker walls at the ends, as on cast-iron tubs
        parts = [oval(hw, hw - wall, height, lift, shell, sx), oval(hw, 0.0, wall, lift, inner, sx)]
        if v["basin"] == "tapered":
            amount = rng.uniform(0.2, 0.35)
            parts = [taper(part, hl, amount) for part in parts]
    if v["mount"] == "feet":
        centres = [(fx * 0.7 * hl, fy * 0.55 * hw, 0.5 * lift) for fx in (-1, 1) for fy in (-1, 1)]
        parts += balls(centres, 0.5 * lift, base)
    elif v["mount"] == "plinth":
        parts.append(slab((-0.6 * hl, -0.6 * hw, 0.0), (0.6 * hl, 0.6 * hw, lift), base))
    else:  # an apron box around the basin, its top a deck at rim height
        m = rng.uniform(0.04, 0.1)
        for s in (-1.0, 1.0):
            parts.append(slab((s * hl, -hw - m, 0.0), (s * (hl + m), hw + m, height), base))
            parts.append(slab((-hl, s * hw, 0.0), (hl, s * (hw + m), height), base))
    z = lift + height
    x, y, spout = (0.06 - hl, 0.0, (0.14, 0.0)) if v["tap"] == "end" else (0.0, hw - 0.5 * wall, (0.0, -0.14))
    parts.append(rod((x, y, z), (x, y, z + 0.16), 0.02, metal))
    parts.append(rod((x, y, z + 0.15), (x + spout[0], y + spout[1], z + 0.15), 0.015, metal))
    return parts


_COUNTS = {"one": 1, "two": 2, "three": 3, "four": 4}


@_register("dresser", rows=("two", "three", "four"), columns=("one", "two", "three"), base=("legs", "plinth"))
def _dresser(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Chest of drawers, front at +x: 0.60-1.50 wide, 0.60-1.20 tall (overlaps the night_stand)."""
    size = (rng.uniform(0.6, 1.5), rng.uniform(*_CABINET_DEPTH), rng.uniform(0.6, 1.2))
    return cabinet(rng, size, (_COUNTS[v["rows"]], _COUNTS[v["columns"]]), "none", v["base"])


@_register(
    "night_stand", drawers=("one", "two", "three"), lower=("none", "shelf", "door"), base=("legs", "plinth")
)
def _night_stand(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Bedside cabinet, front at +x: 0.40-0.85 wide, 0.45-0.90 tall (overlaps the dresser)."""
    size = (rng.uniform(0.4, 0.85), rng.uniform(*_CABINET_DEPTH), rng.uniform(0.45, 0.9))
    return cabinet(rng, size, (_COUNTS[v["drawers"]], 1), v["lower"], v["base"])


@_register(
    "monitor",
    foot=("plate", "disc", "v_legs"),
    screen=("flat", "curved"),
    aspect=("wide", "ultrawide", "square"),
)
def _monitor(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Screen facing +x (flat, or curved with its edges towards the viewer) on a neck and a foot."""
    width = rng.uniform(*{"wide": (0.5, 0.8), "ultrawide": (0.75, 1.0), "square": (0.38, 0.55)}[v["aspect"]])
    height = width / {"wide": 16 / 9, "ultrawide": 21 / 9, "square": 4 / 3}[v["aspect"]]
    thick, foot_t, neck_h = rng.uniform(0.025, 0.05), 0.02, rng.uniform(0.08, 0.25)
    curved, z0 = v["screen"] == "curved", foot_t + neck_h
    sag, segments = (rng.uniform(0.04, 0.1) * width, 10) if curved else (0.0, 1)
    bezel, display = colour(rng, (0.7, 0.7, 0.72)), colour(rng, (0.05, 0.15, 0.4), 0.04)
    stand, foot = colour(rng, (0.3, 0.3, 0.3)), colour(rng, (0.15, 0.15, 0.15))
    parts = curved_panel(width, height, thick, sag, z0, bezel, segments)
    # The same parabola over 94 % of the width lies on the bezel's front face, 2 mm proud.
    face = curved_panel(
        0.94 * width, 0.88 * height, 0.004, sag * 0.94**2, z0 + 0.06 * height, display, segments
    )
    parts += [part.apply_translation((0.5 * thick + 0.002, 0.0, 0.0)) for part in face]
    x, half = -0.5 * thick - 0.015, 0.5 * rng.uniform(0.04, 0.1)  # the neck, behind the screen
    parts.append(slab((x - 0.015, -half, foot_t), (x + 0.015, half, z0 + 0.4 * height), stand))
    if v["foot"] == "plate":
        half = rng.uniform(0.1, 0.2)
        parts.append(slab((x - 0.1, -half, 0.0), (x + rng.uniform(0.1, 0.18), half, foot_t), foot))
    elif v["foot"] == "disc":
        parts.append(oval(rng.uniform(0.1, 0.16), 0.0, foot_t, 0.0, foot).apply_translation((x + 0.02, 0, 0)))
    else:  # two legs splaying forward from the neck
        reach, spread = rng.uniform(0.08, 0.16), rng.uniform(0.15, 0.3)
        parts += [rod((x, 0.0, foot_t), (x + reach, s * spread, 0.012), 0.012, foot) for s in (-1, 1)]
    return parts


@_register(
    "toilet", tank=("cistern", "tankless"), bowl=("round", "elongated", "square"), mount=("floor", "wall")
)
def _toilet(rng: np.random.Generator, v: dict[str, str]) -> _Parts:
    """Bowl with a seat facing +x, on a pedestal or hung on a wall carrier, with a cistern or a flush pipe."""
    r = rng.uniform(0.17, 0.21)
    sx = rng.uniform(*{"round": (1.05, 1.2), "elongated": (1.3, 1.5), "square": (1.1, 1.35)}[v["bowl"]])
    foot_h, bowl_top, hl = rng.uniform(0.18, 0.25), rng.uniform(0.38, 0.45), sx * r
    china, seat = colour(rng, (0.93, 0.93, 0.93), 0.04), colour(rng, (0.75, 0.72, 0.65), 0.15)
    water, metal = colour(rng, (0.45, 0.7, 0.9)), colour(rng, (0.6, 0.62, 0.65), 0.04)
    if v["bowl"] == "square":
        parts = open_box(hl, r, foot_h, bowl_top - foot_h, 0.03, china, water)
        parts.append(slab((-hl - 0.01, -r - 0.01, bowl_top), (hl + 0.01, r + 0.01, bowl_top + 0.03), seat))
    else:
        parts = [
            oval(r, r - 0.025, bowl_top - foot_h, foot_h, china, sx),
            oval(r - 0.02, 0.0, 0.03, bowl_top - 0.12, water, sx),
            oval(r + 0.01, 0.6 * r, 0.03, bowl_top, seat, sx),
        ]
    back, top_z = 0.05 - hl, bowl_top + rng.uniform(0.1, 0.35)  # back parts overlap the rear of the bowl
    if v["mount"] == "wall":  # the carrier frame a wall-hung bowl is bolted to, boxed in from the floor
        parts.append(slab((back - 0.18, -0.25, 0.0), (back, 0.25, top_z), colour(rng, (0.8, 0.78, 0.72))))
    elif v["bowl"] == "square":
        parts.append(slab((0.3 - hl, -0.6 * r, 0.0), (hl - 0.3, 0.6 * r, foot_h), china))
    else:
        parts.append(oval(0.6 * r, 0.0, foot_h, 0.0, china, sx))
    if v["tank"] == "cistern":
        depth, hw, top_z = rng.uniform(0.15, 0.22), rng.uniform(0.18, 0.25), bowl_top + rng.uniform(0.3, 0.42)
        parts.append(slab((back - depth, -hw, bowl_top - 0.15), (back, hw, top_z), china))
        parts.append(
            slab((back - depth - 0.01, -hw - 0.01, top_z), (back + 0.01, hw + 0.01, top_z + 0.03), seat)
        )
    else:  # a flush valve: a pipe up from the bowl's back to a valve body
        valve_z = bowl_top + rng.uniform(0.25, 0.45)
        parts.append(rod((back - 0.02, 0.0, bowl_top - 0.05), (back - 0.02, 0.0, valve_z), 0.02, metal))
        parts += balls([(back - 0.02, 0.0, valve_z)], 0.04, metal)
    return parts
