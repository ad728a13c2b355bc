"""Independent fits per object: built with the dataset, added to a finished dataset, recorded, resumable."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from gs_perception.data.feature_cache import read_feature_cache
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.manifest import ManifestEntry, read_manifest
from gs_perception.data.object_fits import fit_name

from .test_generate import TINY

ONE = dataclasses.replace(TINY, classes=("chair",), train_per_class=1, test_per_class=1)


def test_two_fits_per_object_are_recorded_and_differ_only_as_two_fits_of_one_object(tmp_path):
    summary = generate_dataset(tmp_path, dataclasses.replace(ONE, fits_per_object=2), show_progress=False)
    assert summary.complete and summary.failed == 0
    for entry in summary.entries:
        (fit2,) = entry.extra_fits
        assert fit2.ply == f"{entry.folder}/gaussians_fit2.ply" and fit2.seed == ONE.fit.seed + 1
        assert entry.fit_features() == (entry.features, fit2.features)
        first, second = (read_feature_cache(tmp_path / f) for f in entry.fit_features())
        # Another seed: other Gaussians …
        assert not torch.equal(first.xyz[: len(second)], second.xyz[: len(first)])
        # … of the same object: same extent within a few per cent, both good fits.
        assert abs(first.radius - second.radius) < 0.1 * first.radius
        assert fit2.psnr_test is not None and abs(fit2.psnr_test - entry.psnr_test) < 3.0
        assert json.loads((tmp_path / entry.folder / "object.json").read_text())["extra_fits"][0]["seed"] == 1


def test_raising_fits_per_object_extends_finished_objects_without_touching_fit_one(tmp_path):
    generate_dataset(tmp_path, ONE, show_progress=False)
    before = read_manifest(tmp_path / "manifest.jsonl")
    ply_bytes = {i: (tmp_path / e.ply).read_bytes() for i, e in before.items()}
    assert all(e.extra_fits == () for e in before.values())

    summary = generate_dataset(tmp_path, dataclasses.replace(ONE, fits_per_object=3), show_progress=False)
    assert summary.built == len(before) and summary.skipped == 0
    after = read_manifest(tmp_path / "manifest.jsonl")
    for object_id, entry in after.items():
        assert [f.seed for f in entry.extra_fits] == [1, 2]
        assert (tmp_path / entry.ply).read_bytes() == ply_bytes[object_id]
        assert entry.psnr_test == before[object_id].psnr_test
        for fit in entry.extra_fits:
            assert (tmp_path / fit.ply).is_file() and (tmp_path / fit.features).is_file()
    assert json.loads((tmp_path / "dataset.json").read_text())["config"]["fits_per_object"] == 3

    again = generate_dataset(tmp_path, dataclasses.replace(ONE, fits_per_object=3), show_progress=False)
    assert again.built == 0 and again.skipped == len(after)
    # Other settings still may not change.
    with pytest.raises(ValueError, match="fit"):
        changed = dataclasses.replace(ONE, fits_per_object=3, fit=dataclasses.replace(ONE.fit, steps=31))
        generate_dataset(tmp_path, changed, show_progress=False)


def test_a_dataset_recorded_before_fits_per_object_existed_resumes(tmp_path):
    config = dataclasses.replace(ONE, test_per_class=0)
    generate_dataset(tmp_path, config, show_progress=False)
    record = json.loads((tmp_path / "dataset.json").read_text())
    del record["config"]["fits_per_object"]
    (tmp_path / "dataset.json").write_text(json.dumps(record))
    assert generate_dataset(tmp_path, config, show_progress=False).skipped == 1


def test_old_manifest_lines_read_with_no_extra_fits_and_bad_ones_are_rejected():
    entry = ManifestEntry.from_dict({"object_id": "a", "label": "c", "split": "train", "status": "ok"})
    assert entry.extra_fits == () and entry.fit_features() == ()
    with pytest.raises(TypeError):
        ManifestEntry.from_dict({**dataclasses.asdict(entry), "extra_fits": [{"ply": "x"}]})


def test_fit_names_and_the_config_check():
    assert fit_name(1) == ("gaussians.ply", "features.npz")
    assert fit_name(3) == ("gaussians_fit3.ply", "features_fit3.npz")
    with pytest.raises(ValueError):
        fit_name(0)
    with pytest.raises(ValueError, match="fits_per_object"):
        DatasetConfig(fits_per_object=0)
