"""``shapes10hard``: the ten procedural classes again, with part variants, shared sizes and random yaw.

:mod:`.shapes` (``shapes10``) builds each class from one template with ±20-30 % proportions, always facing +x:
a 19-number hand-made descriptor (bounding-box extents + height histogram) classifies it at ~97 %, so it
cannot show what learning adds. This set keeps the class names (:data:`~.shapes.SHAPES10`) and makes the
parts, not the size or the pose, the evidence:

- **Part variants.** Every class has two or three variant axes (:func:`variant_axes`): chair legs four /
  star base / sled, back solid / slatted / none (then with arms), arms or not; table base legs / pedestal /
  trestle, top rectangular / round / oval, a low shelf or not; desk drawers left / right / both / centre,
  modesty panel or open, free ends on legs or panels; sofa arms none / one / two, back low / high, one to
  three cushions; bed headboard none / panel / slatted, footboard or not, legs or platform; bathtub on feet
  / a plinth / built in, basin rectangular / oval / tapered, tap at the end or the side; dresser two to four
  drawer rows in one to three columns, legs or plinth; night_stand one to three drawers over nothing / an
  open shelf / a door, legs or plinth; monitor foot plate / disc / V legs, screen flat / curved, aspect
  16:9 / 21:9 / 4:3; toilet with or without a cistern, bowl round / elongated / square, on the floor or
  wall-hung. An object is one combination (:func:`variant_combination`) plus continuous proportions and
  part colours.
- **Overlapping sizes** between confusable classes, in metres (footprint length × width, overall height):
  desk and table share height 0.68-0.80 and rectangular / oval tops 0.9-1.6 × 0.6-0.95 (round table tops
  are 0.8-1.25 across); night_stand and dresser are 0.40-0.85 vs 0.60-1.50 wide and 0.45-0.90 vs 0.60-1.20
  tall (both 0.35-0.55 deep), so 0.60-0.85 × 0.60-0.90 holds both; sofa, bed and bathtub share the footprint
  1.5-2.1 × 0.8-1.2 (before boards and a built-in tub's apron), with heights bathtub ~0.6-0.95 (tap
  included), bed ~0.5-1.2 (by headboard), sofa ~0.6-1.0.
- **Random yaw.** The object turns about z by a seeded uniform angle (:func:`shape_yaw`) and is then
  re-centred on the z axis; it still stands on z = 0.
- **Held-out combinations.** About a quarter of each class's combinations (:func:`held_out_combinations`:
  fixed per class, chosen so that the others still show every variant) are for testing only;
  :func:`~.catalog.shapes10hard_objects` puts exactly the seeds drawing them in 'test'. Test objects are
  new assemblies of parts seen in training.

Conventions as in :mod:`.shapes`: metres, z up (REP-103), about 1 m, one colour per part, fronts face +x
before the yaw, and a (name, seed) pair always gives the same mesh.
"""

from __future__ import annotations

import functools
import itertools
import zlib

import numpy as np
import trimesh

from .shapes import SHAPES10
from .shapes_hard_classes import CLASSES, HardClass

HELD_OUT_FRACTION = 0.25
"""Share of each class's variant combinations that only test objects use (rounded, at least one)."""

HARD_SHAPE_NAMES: tuple[str, ...] = SHAPES10
"""The classes of shapes10hard: :data:`~.shapes.SHAPES10`'s ten names (a test checks each is built here)."""


def _spec(name: str) -> HardClass:
    if name not in CLASSES:
        raise ValueError(f"unknown shapes10hard class {name!r}; valid names: {', '.join(sorted(CLASSES))}")
    return CLASSES[name]


def variant_axes(name: str) -> dict[str, tuple[str, ...]]:
    """The variant axes of class ``name``: axis → its options, in the order of a combination's entries."""
    return dict(_spec(name).axes)


@functools.cache
def variant_combinations(name: str) -> tuple[tuple[str, ...], ...]:
    """Every combination (one option per axis, axis order) that class ``name`` builds, in product order."""
    spec = _spec(name)
    axis_names = [axis for axis, _ in spec.axes]
    combos = []
    for combo in itertools.product(*(options for _, options in spec.axes)):
        chosen = dict(zip(axis_names, combo))
        if not any(all(chosen[k] == o for k, o in rule.items()) for rule in spec.exclude):
            combos.append(combo)
    return tuple(combos)


@functools.cache
def held_out_combinations(name: str) -> frozenset[tuple[str, ...]]:
    """The test-only combinations of class ``name``: :data:`HELD_OUT_FRACTION` of its n (rounded, ≥ 1).

    Drawn once per class (a generator seeded by the class name walks the combinations in random order) and
    taken greedily, skipping any whose removal would leave an option of some axis without a training
    combination: test objects recombine parts seen in training, they never show an unseen part.
    """
    combos, axes = variant_combinations(name), _spec(name).axes
    target = max(1, int(HELD_OUT_FRACTION * len(combos) + 0.5))
    rng = np.random.default_rng(zlib.crc32(f"shapes10hard held-out:{name}".encode()))
    held: set[tuple[str, ...]] = set()
    for i in rng.permutation(len(combos)):
        rest = [c for c in combos if c not in held and c != combos[i]]
        if all({c[a] for c in rest} == set(options) for a, (_, options) in enumerate(axes)):
            held.add(combos[i])
        if len(held) == target:
            break
    return frozenset(held)


def _draw(name: str, seed: int) -> tuple[np.random.Generator, tuple[str, ...], float]:
    """The seeded generator of (name, seed) after its first two draws: the combination and the yaw."""
    if int(seed) < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    combos = variant_combinations(name)
    # Mix the name (and the set) into the seed: chair 0 and table 0, or shapes10's chair 0, are unrelated.
    rng = np.random.default_rng([int(seed), zlib.crc32(f"shapes10hard:{name}".encode())])
    combo = combos[int(rng.integers(len(combos)))]
    return rng, combo, float(rng.uniform(0.0, 2.0 * np.pi))


def variant_combination(name: str, seed: int) -> tuple[str, ...]:
    """The variant combination object (name, seed) is built from (entries in :func:`variant_axes` order)."""
    return _draw(name, seed)[1]


def is_held_out(name: str, seed: int) -> bool:
    """Whether object (name, seed) uses a test-only combination (:func:`held_out_combinations`)."""
    return variant_combination(name, seed) in held_out_combinations(name)


def shape_yaw(name: str, seed: int) -> float:
    """The yaw (radians, about +z, counter-clockwise seen from above) applied to object (name, seed)."""
    return _draw(name, seed)[2]


def make_hard_shape(name: str, seed: int = 0, yaw: bool = True) -> trimesh.Trimesh:
    """Build shapes10hard object ``name`` number ``seed``: its variant combination, proportions, colours, yaw.

    Args:
        name: One of :data:`HARD_SHAPE_NAMES` (= :data:`~.shapes.SHAPES10`).
        seed: Non-negative seed; each (name, seed) pair gives one fixed mesh.
        yaw: Apply the object's yaw (:func:`shape_yaw`); False gives its canonical pose (front along +x).

    Returns:
        A mesh in metres, z up, standing on z = 0 with its bounding box centred on the z axis, with per-face
        colours (one colour per part).

    Raises:
        ValueError: Unknown ``name`` or a negative ``seed``.
    """
    rng, combo, angle = _draw(name, seed)
    axes = [axis for axis, _ in _spec(name).axes]
    mesh = trimesh.util.concatenate(_spec(name).builder(rng, dict(zip(axes, combo))))
    if yaw:
        mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, (0.0, 0.0, 1.0)))
    low, high = mesh.bounds
    mesh.apply_translation((-0.5 * (low[0] + high[0]), -0.5 * (low[1] + high[1]), -low[2]))
    return mesh
