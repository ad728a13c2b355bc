"""Dataset catalogues: sources, official splits, and the seeded stratified validation/test splits."""

from __future__ import annotations

from collections import Counter

import pytest
import trimesh

from gs_perception.data.catalog import (
    ObjectSpec,
    assign_validation,
    folder_objects,
    limit_per_class,
    make_procedural,
    modelnet_objects,
    shapes10_objects,
    shapes10hard_objects,
)
from gs_perception.data.shapes import SHAPES10, make_shape
from gs_perception.data.shapes_hard import is_held_out, make_hard_shape


def _specs(counts: dict[str, int]) -> list[ObjectSpec]:
    return [ObjectSpec(f"{c}/{c}_{i:03d}", c, "train") for c, n in counts.items() for i in range(n)]


def test_shapes10_has_ten_classes_with_the_requested_split_sizes():
    specs = shapes10_objects(train_per_class=3, test_per_class=2)
    assert sorted({s.label for s in specs}) == sorted(SHAPES10)
    counts = Counter((s.label, s.split) for s in specs)
    assert all(counts[(c, "train")] == 3 and counts[(c, "test")] == 2 for c in SHAPES10)
    assert len({s.object_id for s in specs}) == len(specs) == 50
    chair = next(s for s in specs if s.object_id == "chair/chair_0004")
    assert chair.split == "test" and chair.shape_seed == 4 and len(chair.load().faces) > 0


def test_shapes10hard_has_the_requested_split_sizes_with_held_out_combinations_only_in_test():
    specs = shapes10hard_objects(train_per_class=6, test_per_class=2)
    counts = Counter((s.label, s.split) for s in specs)
    assert all(counts[(c, "train")] == 6 and counts[(c, "test")] == 2 for c in SHAPES10)
    assert len({s.object_id for s in specs}) == len(specs) == 80
    assert all(s.object_id == f"{s.label}/{s.label}_{s.shape_seed:04d}" for s in specs)
    assert all(is_held_out(s.label, s.shape_seed) == (s.split == "test") for s in specs)
    # More train objects add seeds but never move a test object.
    more = shapes10hard_objects(train_per_class=9, test_per_class=2)
    assert {s.object_id for s in specs if s.split == "test"} == {
        s.object_id for s in more if s.split == "test"
    }
    chair = next(s for s in specs if s.label == "chair")
    assert chair.shape_set == "shapes10hard"
    assert (chair.load().vertices == make_hard_shape("chair", chair.shape_seed).vertices).all()
    with pytest.raises(ValueError, match="train -1"):
        shapes10hard_objects(train_per_class=-1, test_per_class=2)


def test_procedural_specs_load_from_their_own_set():
    old = ObjectSpec("chair/chair_0004", "chair", "test", shape_seed=4)  # shape_set defaults to shapes10
    assert old.shape_set == "shapes10" and (old.load().vertices == make_shape("chair", 4).vertices).all()
    assert (make_procedural("shapes10hard", "sofa", 3).vertices == make_hard_shape("sofa", 3).vertices).all()
    with pytest.raises(ValueError, match="shapes20"):
        make_procedural("shapes20", "sofa", 3)


def test_validation_split_is_stratified_and_deterministic():
    specs = _specs({"a": 10, "b": 20, "c": 1})
    once = assign_validation(specs, 0.2, seed=3)
    again = assign_validation(list(reversed(specs)), 0.2, seed=3)  # input order must not matter
    val = Counter(s.label for s in once if s.split == "val")
    assert val == {"a": 2, "b": 4}  # c has a single object: it stays in train
    assert {s.object_id for s in once if s.split == "val"} == {s.object_id for s in again if s.split == "val"}
    other = assign_validation(specs, 0.2, seed=4)
    assert {s.object_id for s in other if s.split == "val"} != {s.object_id for s in once if s.split == "val"}


def test_validation_split_of_a_class_does_not_depend_on_other_classes():
    alone = assign_validation(_specs({"a": 10}), 0.3, seed=0)
    together = assign_validation(_specs({"a": 10, "b": 7}), 0.3, seed=0)
    pick = lambda specs: {s.object_id for s in specs if s.split == "val" and s.label == "a"}  # noqa: E731
    assert pick(alone) == pick(together) and len(pick(alone)) == 3


def test_validation_never_empties_train_and_test_objects_stay_put():
    specs = _specs({"a": 2}) + [ObjectSpec("a/t", "a", "test")]
    out = assign_validation(specs, 0.9, seed=0)
    assert Counter(s.split for s in out) == {"train": 1, "val": 1, "test": 1}
    assert all(s.split == "train" for s in assign_validation(specs, 0.0, seed=0) if s.object_id != "a/t")


def _mesh_file(path, fmt):
    path.parent.mkdir(parents=True, exist_ok=True)
    trimesh.creation.box().export(path, file_type=fmt)
    return path


def test_folder_source_reads_any_format_and_draws_a_test_split(tmp_path):
    for i, fmt in enumerate(["obj", "ply", "stl", "off", "glb"]):
        _mesh_file(tmp_path / "box" / f"b{i}.{fmt}", fmt)
        _mesh_file(tmp_path / "crate" / f"c{i}.{fmt}", fmt)
    (tmp_path / "box" / "notes.txt").write_text("not a mesh")
    specs = folder_objects(tmp_path, test_fraction=0.2, seed=0)
    assert len(specs) == 10 and Counter(s.split for s in specs) == {"train": 8, "test": 2}
    assert Counter(s.label for s in specs if s.split == "test") == {"box": 1, "crate": 1}
    assert all(len(s.load().faces) == 12 for s in specs)
    assert specs == folder_objects(tmp_path, test_fraction=0.2, seed=0)


def test_folder_source_keeps_train_test_subfolders_and_rejects_name_clashes(tmp_path):
    _mesh_file(tmp_path / "box" / "train" / "a.obj", "obj")
    _mesh_file(tmp_path / "box" / "test" / "b.obj", "obj")
    assert {(s.object_id, s.split) for s in folder_objects(tmp_path)} == {
        ("box/a", "train"),
        ("box/b", "test"),
    }
    _mesh_file(tmp_path / "box" / "test" / "a.ply", "ply")
    with pytest.raises(ValueError, match="box/a"):
        folder_objects(tmp_path)


def test_empty_folders_are_reported_with_the_expected_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match="<class>"):
        folder_objects(tmp_path)
    with pytest.raises(FileNotFoundError, match="ModelNet"):
        modelnet_objects(tmp_path)


def test_modelnet_source_keeps_official_splits(tmp_path):
    cube = "OFF8 6 0\n" + "\n".join(f"{x} {y} {z}" for x in (0, 1) for y in (0, 1) for z in (0, 1))
    cube += "\n4 0 1 3 2\n4 4 6 7 5\n4 0 4 5 1\n4 2 3 7 6\n4 0 2 6 4\n4 1 5 7 3\n"
    for name, split in [("desk_0001", "train"), ("desk_0201", "test")]:
        (tmp_path / "desk" / split).mkdir(parents=True, exist_ok=True)
        (tmp_path / "desk" / split / f"{name}.off").write_text(cube)
    specs = modelnet_objects(tmp_path)
    assert {(s.object_id, s.split) for s in specs} == {
        ("desk/desk_0001", "train"),
        ("desk/desk_0201", "test"),
    }
    assert all(len(s.load().faces) == 12 for s in specs)


def test_limit_per_class_keeps_the_first_ids_per_split():
    specs = _specs({"a": 5, "b": 1}) + [ObjectSpec(f"a/t{i}", "a", "test") for i in range(4)]
    kept = limit_per_class(specs, 2)
    assert sorted(s.object_id for s in kept) == ["a/a_000", "a/a_001", "a/t0", "a/t1", "b/b_000"]
    assert limit_per_class(specs, None) == specs
