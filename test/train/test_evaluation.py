"""The evaluation end to end on a tiny dataset and two tiny SSL runs: tables, figures, a loadable bundle."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from gs_perception.core.features import FeatureConfig
from gs_perception.core.fit import FitConfig
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.views import ViewRenderConfig
from gs_perception.models.bundle import BundleError, load_bundle
from gs_perception.models.dual_encoder import DualEncoderConfig
from gs_perception.models.feature_spec import FeatureSpec, ViewSpec
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig
from gs_perception.train.baselines import BaselineConfig
from gs_perception.train.datasets import ClassificationDataset, SampleConfig
from gs_perception.train.evaluation import EvalConfig, evaluate
from gs_perception.train.ssl import SSLConfig, train_ssl

DATA = DatasetConfig(
    source="shapes10",
    classes=("chair", "sofa", "table"),
    train_per_class=3,
    test_per_class=2,
    val_fraction=0.34,
    view=ViewRenderConfig(width=24, height=24, n_train=4, n_test=2),
    fit=FitConfig(steps=15, refine_start=1000, init_points=150, max_gaussians=150),
    features=FeatureConfig(max_points=64),
    fits_per_object=2,
    workers=1,
)
SAMPLE = SampleConfig(num_points=32, views_per_sample=2, feature_groups=("xyz", "scale", "rgb"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    assert generate_dataset(root / "data", DATA, show_progress=False).complete
    model = DualEncoderConfig(
        image=ImageEncoderConfig(embed_dim=16), gaussian=GaussianEncoderConfig(embed_dim=16)
    )
    base = SSLConfig(
        dataset=str(root / "data"), sample=SAMPLE, model=model, epochs=1, batch_size=3, device="cpu"
    )
    out = []
    for seed in (0, 1):
        config = dataclasses.replace(base, out=str(root / f"run{seed}"), seed=seed)
        train_ssl(config, show_progress=False)
        out.append(config.out)
    return root, out


def test_evaluate_writes_the_tables_per_seed_figures_and_a_bundle(runs):
    root, folders = runs
    baseline = BaselineConfig(epochs=1, batch_size=3, num_points=64, embed_dim=16)
    config = EvalConfig(
        runs=tuple(folders),
        out=str(root / "eval"),
        view_counts=(1, 4, 64),
        pair_draws=2,
        baselines=("pointnet", "mvcnn"),
        baseline=baseline,
        instance_data=(str(root / "data"),),  # scored again as if it were another instance set
    )
    result = evaluate(config)
    assert len(result.runs) == 2
    first = result.runs[0]
    assert first.study_pairs.always_yes_accuracy == pytest.approx(2 / 3)
    assert first.balanced_pairs.always_yes_accuracy == 0.5
    assert 0.0 <= first.probe("gaussians", 0, 1.0) <= 1.0
    assert first.probe("views", 64, 1.0) is None  # only 4 views exist
    assert first.distance_negative > 0 and first.distance_positive > 0
    assert 0.0 <= first.supervised["pointnet"] <= 1.0 and 0.0 <= first.supervised["mvcnn"] <= 1.0
    assert len(first.supervised_correct["pointnet"]) == 6
    text = result.results_md.read_text()
    assert (
        "Supervised baselines" in text
        and "multi-view CNN" in text
        and "pointnet on mesh-sampled points" in text
    )
    text = result.results_md.read_text()
    for heading in (
        "Pretext tasks",
        "Linear probes",
        "Memory-based vision",
        "study's 64*",
        "images, 4 views",
    ):
        assert heading in text
    assert " ± " in text  # two seeds → spread
    # Controls beside the run's features, with per-object correctness behind their intervals.
    for source in ("ssl", "untrained", "descriptor", "descriptor_yaw"):
        figure = first.probe_figure("gaussians", 0, 1.0, source)
        assert len(figure.correct) == 6 and figure.accuracy == np.mean(figure.correct), source
    assert first.probe("views", 1, 0.5, "untrained") is not None
    assert [c.source for c in first.cross_modal] == ["ssl", "untrained"]
    assert all(len(c.hits_at_5) == 6 and c.chance_at_1 == 0.5 for c in first.cross_modal)  # 2 per class
    for heading in (
        "Controls",
        "untrained encoders",
        "hand-made descriptor",
        "same-class negatives",
        "recall@1",
    ):
        assert heading in text
    assert " % [" in text  # bootstrap intervals
    # The instance test: fit 2 from fit 1 and from a view, for the run and its controls.
    kinds = [(f.source, f.query) for f in first.instance]
    assert (
        kinds
        == [
            ("ssl", "gaussians"),
            ("ssl", "images"),
            ("untrained", "gaussians"),
            ("untrained", "images"),
            ("descriptor", "gaussians"),
        ]
        * 2
    )
    assert first.instance[0].hits_at_1 == first.instance[5].hits_at_1  # same split, same galleries
    assert all(f.split == "test" and len(f.hits_at_1) == 6 and f.chance_at_1 == 0.5 for f in first.instance)
    assert "Instance test" in text and "fit 1 → fit 2" in text
    assert json.loads(result.metrics_json.read_text())["runs"] == folders
    for name in ("tsne_images_1view.png", "tsne_images_all_views.png", "tsne_gaussians.png"):
        assert (root / "eval" / name).stat().st_size > 0

    # The probe pooled all 4 views of the dataset's training spiral (view_counts above 4 are skipped).
    v = DATA.view
    views = ViewSpec(v.fov_deg, v.radius, v.elevation_range, v.turns, spiral=4, pool=4)
    spec = FeatureSpec.from_configs(SAMPLE, (24, 24), (1.0, 1.0, 1.0), views=views)
    bundle = load_bundle(result.bundle, expected=spec)
    assert bundle.class_names == ("chair", "sofa", "table") and bundle.classifier.source == "image"
    test = ClassificationDataset(root / "data", "test", SAMPLE)
    prediction = bundle.predict(torch.stack([test[i].views for i in range(len(test))]))
    assert set(prediction.class_name) <= set(bundle.class_names) and prediction.scores.shape == (6, 3)
    with pytest.raises(BundleError, match="num_points"):
        load_bundle(result.bundle, expected=dataclasses.replace(spec, num_points=2048))


def test_evaluate_needs_runs_and_known_baselines(runs):
    with pytest.raises(ValueError, match="runs"):
        evaluate(EvalConfig())
    root, folders = runs
    with pytest.raises(ValueError, match="resnet"):
        evaluate(
            EvalConfig(
                runs=tuple(folders[:1]), out=str(root / "x"), tsne=False, memory=False, baselines=("resnet",)
            )
        )


def test_recipes_are_chosen_on_val_without_reading_test(runs, monkeypatch):
    import gs_perception.train.evaluation as evaluation
    import gs_perception.train.instance as instance

    root, folders = runs
    real = evaluation.ClassificationDataset

    def no_test(dataset, split, *args, **kwargs):
        assert split != "test", "score_split='val' must not read the test split"
        return real(dataset, split, *args, **kwargs)

    monkeypatch.setattr(evaluation, "ClassificationDataset", no_test)
    monkeypatch.setattr(instance, "ClassificationDataset", no_test)
    config = EvalConfig(
        runs=tuple(folders), out=str(root / "eval_val"), view_counts=(1, 4), score_split="val"
    )
    result = evaluate(config)
    first = result.runs[0]
    assert result.bundle is None and first.supervised == {}
    assert len(first.probe_figure("gaussians", 0, 1.0, "untrained").correct) == 3  # one val object per class
    assert "Scored on the **val** split" in result.results_md.read_text()
    assert {f.split for f in first.instance} == {"val"} and len(first.instance[0].hits_at_1) == 3
    with pytest.raises(ValueError, match="score_split"):
        EvalConfig(score_split="train")
