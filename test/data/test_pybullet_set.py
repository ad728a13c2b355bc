"""The instance-level set from the pybullet wheel's data folder: the plan, other folders, a tiny dataset."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from gs_perception.data.generate import DatasetConfig, generate_dataset, plan_objects
from gs_perception.data.meshes import check_mesh, normalise_to_unit_sphere
from gs_perception.data.pybullet_set import REAL_OBJECTS, pybullet_data_root, pybullet_objects

from .test_generate import TINY


def test_the_installed_data_folder_gives_random_then_real_objects_in_fixed_splits():
    specs = pybullet_objects(None, 5, 3)
    random = [s for s in specs if s.label == "random"]
    real = [s for s in specs if s.label == "object"]
    assert [s.object_id for s in random] == [f"random/random_{i:03d}" for i in range(8)]
    assert [s.split for s in random] == ["train"] * 5 + ["test"] * 3
    assert len(real) == len(REAL_OBJECTS) and {s.split for s in real} == {"test"}  # all present in 3.2.7
    assert pybullet_objects(None, 5, 3) == specs
    with pytest.raises(FileNotFoundError, match="fewer than"):
        pybullet_objects(None, 900, 200)


def test_every_real_object_loads_as_a_usable_mesh():
    for spec in pybullet_objects(None, 0, 0):
        mesh = spec.load()
        check_mesh(mesh, spec.object_id)
        assert normalise_to_unit_sphere(mesh).extents.max() > 0.5, spec.object_id


def test_another_data_folder_keeps_what_it_has_and_a_wrong_one_is_named(tmp_path):
    installed = pybullet_data_root()
    for rel in ("random_urdfs/000/000.obj", "random_urdfs/001/001.obj", REAL_OBJECTS["duck"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(installed / rel, tmp_path / rel)
    specs = pybullet_objects(tmp_path, 1, 1)
    assert [s.object_id for s in specs] == ["random/random_000", "random/random_001", "object/duck"]
    with pytest.raises(FileNotFoundError, match="random_urdfs"):
        pybullet_objects(tmp_path / "duck", 1, 1)


def test_a_tiny_pybullet_dataset_with_two_fits(tmp_path):
    config = dataclasses.replace(
        TINY, source="pybullet", classes=("random",), train_per_class=0, test_per_class=2, fits_per_object=2
    )
    assert [s.split for s in plan_objects(config)] == ["test", "test"]
    summary = generate_dataset(tmp_path, config, show_progress=False)
    assert summary.complete and summary.failed == 0
    assert all(e.source.endswith(".obj") and len(e.extra_fits) == 1 for e in summary.entries)
    with pytest.raises(ValueError, match="pybullet"):
        DatasetConfig(source="pybulet")
