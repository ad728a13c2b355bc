"""What a dataset contains: objects from a mesh source, each with a class label and a split.

Sources:

- ``modelnet``: ``<root>/<class>/{train,test}/*.off`` (ModelNet10/40; official splits).
- ``folder``: ``<root>/<class>/*.<ext>`` for any mesh format trimesh reads, or with ``train/`` and ``test/``
  subfolders per class for fixed splits; without them a seeded, stratified test split is drawn.
- ``shapes10``: the built-in procedural classes named like ModelNet10 (:data:`~.shapes.SHAPES10`).
- ``shapes10hard``: the same ten classes with part variants, shared sizes and random yaw
  (:mod:`.shapes_hard`); its test split holds exactly the objects built from held-out part combinations.
- ``pybullet``: the instance-level set of real and random meshes in the pybullet wheel
  (:mod:`.pybullet_set`).

Every source gets the same three splits: ``train``, ``val`` (carved from train, seeded and stratified by
class) and ``test``. Split assignment depends only on the object ids, the fractions and the seed — not on file
system order — so it is reproducible on every machine.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import trimesh

from .meshes import load_mesh
from .modelnet import index_modelnet
from .shapes import SHAPES10, make_shape
from .shapes_hard import is_held_out, make_hard_shape

SOURCES = ("shapes10", "shapes10hard", "modelnet", "folder", "pybullet")
#: The procedural sets: an object is ``(set, class, seed)``, written ``<set>:<class>:<seed>`` in manifests.
PROCEDURAL_SETS = ("shapes10", "shapes10hard")
SPLITS = ("train", "val", "test")
MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a dataset.

    Attributes:
        object_id: ``<label>/<name>``, unique within the dataset; also its folder below ``objects/``.
        label: Class name.
        split: 'train', 'val' or 'test'.
        path: Mesh file (None for procedural shapes).
        shape_seed: Seed of a procedural shape (None for files).
        shape_set: The procedural set ``shape_seed`` belongs to (:data:`PROCEDURAL_SETS`; unused for files).
    """

    object_id: str
    label: str
    split: str
    path: Path | None = None
    shape_seed: int | None = None
    shape_set: str = "shapes10"

    def load(self) -> trimesh.Trimesh:
        """The object's mesh (raises :class:`~.meshes.MeshError` naming the file when unreadable)."""
        if self.path is not None:
            return load_mesh(self.path)
        return make_procedural(self.shape_set, self.label, int(self.shape_seed or 0))


def make_procedural(shape_set: str, label: str, seed: int) -> trimesh.Trimesh:
    """Object ``seed`` of class ``label`` of the procedural set ``shape_set`` ('shapes10' or 'shapes10hard').

    Raises:
        ValueError: Unknown set or class.
    """
    if shape_set == "shapes10":
        return make_shape(label, seed)
    if shape_set == "shapes10hard":
        return make_hard_shape(label, seed)
    raise ValueError(f"unknown procedural set {shape_set!r}; expected one of {PROCEDURAL_SETS}")


def shapes10_objects(train_per_class: int, test_per_class: int, classes: tuple[str, ...] = SHAPES10):
    """Procedural objects: per class, seeds ``0 .. train-1`` are train and the next ``test`` seeds test.

    Returns:
        list of :class:`ObjectSpec` named ``<class>/<class>_<seed:04d>``.
    """
    specs = []
    for label in classes:
        for seed in range(train_per_class + test_per_class):
            split = "train" if seed < train_per_class else "test"
            specs.append(ObjectSpec(f"{label}/{label}_{seed:04d}", label, split, shape_seed=seed))
    return specs


def shapes10hard_objects(
    train_per_class: int, test_per_class: int, classes: tuple[str, ...] = SHAPES10
) -> list[ObjectSpec]:
    """Procedural objects of :mod:`.shapes_hard`: per class, walking seeds 0, 1, 2, ..., the first
    ``train_per_class`` seeds built from training combinations are train and the first ``test_per_class``
    built from held-out combinations (:func:`~.shapes_hard.is_held_out`) are test.

    So no train (or validation, carved from train) object shares a part combination with a test object,
    and the test objects do not change when ``train_per_class`` does.

    Returns:
        list of :class:`ObjectSpec` named ``<class>/<class>_<seed:04d>`` with ``shape_set='shapes10hard'``.
    """
    if train_per_class < 0 or test_per_class < 0:
        raise ValueError(f"objects per class must be ≥ 0, got train {train_per_class}, test {test_per_class}")
    specs = []
    for label in classes:
        wanted, seed = {"train": train_per_class, "test": test_per_class}, 0
        while wanted["train"] > 0 or wanted["test"] > 0:
            split = "test" if is_held_out(label, seed) else "train"
            if wanted[split] > 0:
                wanted[split] -= 1
                specs.append(
                    ObjectSpec(
                        f"{label}/{label}_{seed:04d}", label, split, shape_seed=seed, shape_set="shapes10hard"
                    )
                )
            seed += 1
    return specs


def modelnet_objects(root: str | Path) -> list[ObjectSpec]:
    """ModelNet's official train/test split (file names are unique within a class)."""
    return [
        ObjectSpec(f"{r.label}/{r.path.stem}", r.label, r.split, path=r.path) for r in index_modelnet(root)
    ]


def folder_objects(root: str | Path, test_fraction: float = 0.2, seed: int = 0) -> list[ObjectSpec]:
    """Class-per-subfolder meshes; ``<class>/{train,test}/`` subfolders fix the split, else it is drawn.

    Raises:
        FileNotFoundError: No mesh files (names the folder, the layout and the suffixes looked for).
        ValueError: Two files of a class share a name (their object ids would collide).
    """
    root = Path(root)
    specs = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for path in sorted(class_dir.rglob("*")):
            if path.suffix.lower() not in MESH_SUFFIXES or not path.is_file():
                continue
            parts = path.relative_to(class_dir).parts
            split = parts[0] if len(parts) > 1 and parts[0] in ("train", "test") else "unsplit"
            specs.append(ObjectSpec(f"{class_dir.name}/{path.stem}", class_dir.name, split, path=path))
    if not specs:
        raise FileNotFoundError(
            f"{root}: no meshes found (expected <class>/*{{{','.join(MESH_SUFFIXES)}}}, "
            "optionally in <class>/train and <class>/test)"
        )
    ids = [s.object_id for s in specs]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"{root}: mesh names repeat within a class: {duplicates[:5]}; rename them")
    unsplit = [s for s in specs if s.split == "unsplit"]
    test_ids = set(_stratified_pick(unsplit, test_fraction, seed, "test"))
    return [
        replace(s, split="test" if s.object_id in test_ids else "train") if s.split == "unsplit" else s
        for s in specs
    ]


def assign_validation(specs: list[ObjectSpec], fraction: float, seed: int) -> list[ObjectSpec]:
    """Move a seeded, class-stratified ``fraction`` of the train objects to 'val'.

    Each class with at least two train objects gives ``max(1, round(fraction * n))`` of them (none when
    ``fraction`` is 0); the rest stays train. Deterministic in (object ids, fraction, seed).
    """
    train = [s for s in specs if s.split == "train"]
    val_ids = set(_stratified_pick(train, fraction, seed, "val"))
    return [replace(s, split="val") if s.object_id in val_ids else s for s in specs]


def _stratified_pick(specs: list[ObjectSpec], fraction: float, seed: int, purpose: str) -> list[str]:
    """Ids of a seeded ``fraction`` of each class of ``specs`` (≥ 1 per class of ≥ 2 when fraction > 0)."""
    by_class: dict[str, list[str]] = defaultdict(list)
    for s in specs:
        by_class[s.label].append(s.object_id)
    picked = []
    for label, ids in sorted(by_class.items()):
        if fraction <= 0.0 or len(ids) < 2:
            continue
        count = min(len(ids) - 1, max(1, round(fraction * len(ids))))
        # Seeded per class (and purpose), so adding a class or a file elsewhere changes nothing here.
        rng = np.random.default_rng([seed, zlib.crc32(f"{purpose}:{label}".encode())])
        order = rng.permutation(len(ids))
        picked += [sorted(ids)[i] for i in order[:count]]
    return picked


def limit_per_class(specs: list[ObjectSpec], max_per_split: int | None) -> list[ObjectSpec]:
    """At most ``max_per_split`` objects per (class, split), the first by id (for quick subsets)."""
    if max_per_split is None:
        return specs
    counts: dict[tuple[str, str], int] = defaultdict(int)
    kept = []
    for s in sorted(specs, key=lambda s: s.object_id):
        counts[(s.label, s.split)] += 1
        if counts[(s.label, s.split)] <= max_per_split:
            kept.append(s)
    return kept
