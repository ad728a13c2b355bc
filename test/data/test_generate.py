"""Dataset generation end to end on tiny settings: folders, manifest, failures, resuming, parallel workers."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import trimesh

from gs_perception.core.features import FeatureConfig
from gs_perception.core.fit import FitConfig
from gs_perception.core.ply import read_ply
from gs_perception.core.render import RenderConfig
from gs_perception.data.feature_cache import read_feature_cache
from gs_perception.data.generate import DatasetConfig, generate_dataset, plan_objects
from gs_perception.data.manifest import MANIFEST_NAME, read_manifest
from gs_perception.data.shapes_hard import is_held_out, variant_combination
from gs_perception.data.views import ViewRenderConfig
from gs_perception.eval.dataset_report import summarise, write_report
from gs_perception.train.baselines import mesh_points

TINY = DatasetConfig(
    source="shapes10",
    classes=("chair", "table"),
    train_per_class=2,
    test_per_class=1,
    view=ViewRenderConfig(width=24, height=24, n_train=4, n_test=2),
    fit=FitConfig(
        steps=30,
        refine_start=10,
        refine_stop=20,
        refine_every=10,
        reset_every=1000,
        init_points=300,
        max_gaussians=600,
        sh_degree=1,
        sh_degree_interval=10,
    ),
    features=FeatureConfig(max_points=128),
    workers=1,
)


def _mtimes(root, entries):
    return {e.object_id: os.stat(root / e.folder / "object.json").st_mtime_ns for e in entries if e.ok}


def test_every_object_gets_views_gaussians_features_and_a_manifest_line(tmp_path):
    summary = generate_dataset(tmp_path, TINY, show_progress=False)
    assert summary.complete and summary.built == 6 and summary.failed == 0
    assert [e.object_id for e in summary.entries] == [s.object_id for s in plan_objects(TINY)]
    splits = sorted(e.split for e in summary.entries)
    assert splits == ["test", "test", "train", "train", "val", "val"]  # 1 of 2 train per class → val
    for e in summary.entries:
        folder = tmp_path / e.folder
        assert len(list((folder / "views" / "train").glob("*.png"))) == 4
        assert len(list((folder / "views" / "test").glob("*.png"))) == 2
        cloud = read_ply(tmp_path / e.ply)
        assert len(cloud) == e.num_gaussians > 0
        features = read_feature_cache(tmp_path / e.features)
        assert 0 < len(features) <= 128 and 0.8 < float(features.xyz.norm(dim=1).max()) <= 1.0 + 1e-5
        assert e.psnr_test is not None and e.psnr_test > 12.0 and e.backend == RenderConfig().resolve("cpu")
        assert e.appearance["mode"] == "random"
        assert json.loads((folder / "object.json").read_text())["object_id"] == e.object_id
    saved = json.loads((tmp_path / "dataset.json").read_text())
    assert saved["config"]["fit"]["steps"] == 30 and "workers" not in saved["config"]
    report = write_report(tmp_path, summary.entries, "tiny", summary.seconds)
    assert "| chair | 1 | 1 | 1 | 0 |" in report.read_text() and (tmp_path / "psnr.png").stat().st_size > 0


def test_a_corrupt_mesh_is_recorded_and_the_rest_completes(tmp_path):
    meshes = tmp_path / "meshes"
    for name in ("a", "b"):
        (meshes / "box").mkdir(parents=True, exist_ok=True)
        trimesh.creation.box(extents=(1, 0.5, 0.3)).export(meshes / "box" / f"{name}.obj")
    (meshes / "box" / "broken.off").write_text("OFF\n8 6 0\n0 0 0\n1 0 0\n")  # truncated
    config = dataclasses.replace(
        TINY, source="folder", root=str(meshes), classes=(), val_fraction=0.0, test_fraction=0.0
    )
    summary = generate_dataset(tmp_path / "out", config, show_progress=False)
    assert summary.complete and summary.built == 2 and summary.failed == 1
    broken = next(e for e in summary.entries if not e.ok)
    assert broken.object_id == "box/broken" and "broken.off" in broken.error and broken.folder is None
    assert not (tmp_path / "out" / "objects" / "box" / "broken.partial").exists()
    again = generate_dataset(tmp_path / "out", config, show_progress=False)  # failures stay recorded
    assert again.built == again.failed == 0 and again.skipped == 3
    rows = summarise(summary.entries)
    assert rows[-1].label == "all" and rows[-1].ok == 2 and rows[-1].failed == 1


class _Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_without_redoing_finished_objects(tmp_path):
    seen = []

    def stop_after_two(entry):
        seen.append(entry.object_id)
        if len(seen) == 2:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        generate_dataset(tmp_path, TINY, show_progress=False, on_entry=stop_after_two)
    first = read_manifest(tmp_path / MANIFEST_NAME)
    assert list(first) == seen
    before = _mtimes(tmp_path, first.values())
    # A third object was being written when the process died: its half-built folder is left behind.
    third = next(s for s in plan_objects(TINY) if s.object_id not in first)
    partial = tmp_path / "objects" / f"{third.object_id}.partial"
    (partial / "views").mkdir(parents=True)
    (partial / "gaussians.ply").write_bytes(b"ply\nformat binary_little_endian 1.0\n")

    summary = generate_dataset(tmp_path, TINY, show_progress=False)
    assert summary.complete and summary.skipped == 2 and summary.built == 4
    assert _mtimes(tmp_path, first.values()) == before  # finished objects were not touched
    assert not partial.exists() and (tmp_path / "objects" / third.object_id / "object.json").exists()
    lines = (tmp_path / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == 6 and len({json.loads(line)["object_id"] for line in lines}) == 6


def test_a_finished_folder_missing_from_the_manifest_is_recovered_not_refitted(tmp_path):
    config = dataclasses.replace(TINY, classes=("chair",), train_per_class=1, test_per_class=1)
    generate_dataset(tmp_path, config, show_progress=False)
    manifest = tmp_path / MANIFEST_NAME
    lines = manifest.read_text().splitlines()
    manifest.write_text(lines[0] + "\n")  # the crash came after the rename, before the append
    summary = generate_dataset(tmp_path, config, show_progress=False)
    assert summary.recovered == 1 and summary.built == 0 and summary.complete
    assert (
        read_manifest(manifest)[json.loads(lines[1])["object_id"]].psnr_test
        == json.loads(lines[1])["psnr_test"]
    )


def test_resuming_with_different_settings_is_refused(tmp_path):
    config = dataclasses.replace(TINY, classes=("chair",), train_per_class=1, test_per_class=0, max_objects=1)
    generate_dataset(tmp_path, config, show_progress=False)
    changed = dataclasses.replace(config, fit=dataclasses.replace(config.fit, steps=31))
    with pytest.raises(ValueError, match="fit"):
        generate_dataset(tmp_path, changed, show_progress=False)
    # Run settings may change between runs.
    generate_dataset(tmp_path, dataclasses.replace(config, workers=2, max_objects=0), show_progress=False)


def test_max_objects_stops_early_and_a_rerun_continues(tmp_path):
    config = dataclasses.replace(TINY, classes=("table",), max_objects=2)
    first = generate_dataset(tmp_path, config, show_progress=False)
    assert first.built == 2 and not first.complete
    second = generate_dataset(tmp_path, dataclasses.replace(config, max_objects=0), show_progress=False)
    assert second.built == 1 and second.complete


def test_parallel_workers_give_the_same_objects_as_one_worker(tmp_path):
    config = dataclasses.replace(TINY, classes=("chair",), train_per_class=1, test_per_class=1)
    serial = generate_dataset(tmp_path / "serial", config, show_progress=False)
    parallel = generate_dataset(
        tmp_path / "parallel", dataclasses.replace(config, workers=2, threads=1), show_progress=False
    )
    assert parallel.complete and [e.object_id for e in parallel.entries] == [
        e.object_id for e in serial.entries
    ]
    for a, b in zip(serial.entries, parallel.entries):
        ca, cb = read_ply(tmp_path / "serial" / a.ply), read_ply(tmp_path / "parallel" / b.ply)
        assert len(ca) == len(cb) and np.allclose(ca.means.numpy(), cb.means.numpy(), atol=1e-4)


def test_a_modelnet_tree_with_quirky_headers_becomes_a_dataset_with_official_splits(tmp_path):
    corners = [(x, y, z) for x in (0, 2) for y in (0, 1) for z in (0, 0.5)]
    quads = "4 0 1 3 2\n4 4 6 7 5\n4 0 4 5 1\n4 2 3 7 6\n4 0 2 6 4\n4 1 5 7 3\n"
    body = "\n".join(" ".join(map(str, c)) for c in corners) + "\n" + quads
    for label, name, split in [("desk", "desk_0001", "train"), ("desk", "desk_0201", "test")]:
        folder = tmp_path / "ModelNet10" / label / split
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.off").write_text("OFF8 6 0\n" + body)  # counts on the header line, as in ModelNet
    config = dataclasses.replace(TINY, source="modelnet", root=str(tmp_path / "ModelNet10"), classes=())
    summary = generate_dataset(tmp_path / "out", config, show_progress=False)
    assert summary.complete and summary.failed == 0
    assert {(e.object_id, e.split) for e in summary.entries} == {
        ("desk/desk_0001", "train"),
        ("desk/desk_0201", "test"),
    }
    assert all(e.source.endswith(".off") and e.num_gaussians > 0 for e in summary.entries)


def test_the_default_source_and_sizes_stay_shapes10s():
    config = DatasetConfig()
    assert (config.source, config.train_per_class, config.test_per_class) == ("shapes10", 40, 10)
    assert all(s.shape_set == "shapes10" for s in plan_objects(dataclasses.replace(TINY, classes=())))


def test_shapes10hard_plan_keeps_held_out_combinations_out_of_train_and_val():
    config = dataclasses.replace(
        TINY, source="shapes10hard", classes=(), train_per_class=10, test_per_class=3
    )
    specs = plan_objects(config)
    assert {s.split for s in specs} == {"train", "val", "test"} and len(specs) == 130
    for s in specs:
        assert is_held_out(s.label, s.shape_seed) == (s.split == "test"), s.object_id
    seen = {(s.label, variant_combination(s.label, s.shape_seed)) for s in specs if s.split != "test"}
    assert not seen & {
        (s.label, variant_combination(s.label, s.shape_seed)) for s in specs if s.split == "test"
    }


def test_a_shapes10hard_dataset_records_its_sources_and_the_baselines_read_them(tmp_path):
    config = dataclasses.replace(
        TINY, source="shapes10hard", classes=("desk",), train_per_class=1, test_per_class=1
    )
    summary = generate_dataset(tmp_path, config, show_progress=False)
    assert summary.complete and summary.failed == 0 and summary.built == 2
    for entry in summary.entries:
        seed = int(entry.object_id.rsplit("_", 1)[1])
        assert entry.source == f"shapes10hard:desk:{seed}" and is_held_out("desk", seed) == (
            entry.split == "test"
        )
        assert entry.num_gaussians > 0 and entry.appearance["mode"] == "random"
        points = mesh_points(tmp_path, entry, 64, seed=0)
        assert points.shape == (64, 3) and 0.5 < float(points.norm(dim=-1).max()) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="shapes10hard:<class>:<seed>"):
        mesh_points(tmp_path, dataclasses.replace(summary.entries[0], source="shapes10hard:desk"), 64, seed=0)
