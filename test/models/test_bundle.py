"""Model bundles: a save/load round trip reproduces the model, refusals name the file and every difference."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from gs_perception.core.features import FEATURE_CACHE_VERSION
from gs_perception.models.bundle import (
    BUNDLE_VERSION,
    Bundle,
    BundleError,
    FeatureSpec,
    LinearClassifier,
    dequantise_int8,
    load_bundle,
    quantise_int8,
    save_bundle,
)
from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig
from gs_perception.train.datasets import SampleConfig

CONFIG = DualEncoderConfig(
    image=ImageEncoderConfig(embed_dim=16),
    gaussian=GaussianEncoderConfig(embed_dim=16, pointnet2_centres=(32, 8)),
    fusion_hidden=8,
)
SAMPLE = SampleConfig(num_points=64, feature_groups=("xyz", "scale"), image_size=32)
SPEC = FeatureSpec.from_configs(SAMPLE, (32, 32), (1.0, 1.0, 1.0))
CLASSES = ("chair", "monitor", "table")


def _model() -> DualEncoder:
    torch.manual_seed(0)
    model = DualEncoder(CONFIG, in_channels=6)
    # A few train-mode passes give the BatchNorm layers non-default running statistics, which eval uses.
    with torch.no_grad():
        model.train()
        for _ in range(2):
            model.embed_views(torch.rand(2, 2, 3, 32, 32))
            model.embed_gaussians(torch.randn(3, 64, 6))
    return model.eval()


def _classifier(source: str = "image", k: int = 3) -> LinearClassifier:
    g = torch.Generator().manual_seed(1)
    return LinearClassifier(
        source,
        mean=torch.randn(16, generator=g),
        scale=torch.rand(16, generator=g) + 0.5,
        weight=torch.randn(k, 16, generator=g),
        bias=torch.randn(k, generator=g),
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model, classifier = _model(), _classifier()
    path = save_bundle(
        tmp_path_factory.mktemp("bundle") / "out" / "bundle.pt",
        model,
        SPEC,
        CLASSES,
        classifier,
        train_config={"sample": dataclasses.asdict(SAMPLE), "beta": 3.0},
        provenance={"git_sha": "abc"},
    )
    return path, model, classifier


def test_round_trip_reproduces_embeddings_predictions_and_metadata(saved):
    path, model, classifier = saved
    bundle = load_bundle(path, expected=SPEC)

    assert not bundle.model.training
    assert bundle.version == BUNDLE_VERSION
    assert bundle.model_config == CONFIG and bundle.feature_spec == SPEC and bundle.class_names == CLASSES
    assert bundle.train_config["sample"]["feature_groups"] == ["xyz", "scale"]  # JSON types
    assert bundle.provenance == {"git_sha": "abc"}
    views, gaussians = torch.rand(2, 3, 3, 32, 32), torch.randn(2, 64, 6)
    with torch.no_grad():
        assert torch.equal(bundle.embed_views(views), model.embed_views(views))
        assert torch.equal(bundle.embed_gaussians(gaussians), model.embed_gaussians(gaussians))
    for name in ("mean", "scale", "weight", "bias"):
        assert torch.equal(getattr(bundle.classifier, name), getattr(classifier, name))
    x = torch.randn(5, 16)
    assert torch.equal(bundle.classifier.predict(x), classifier.predict(x))


def test_bundle_predict_names_classes_from_either_source(saved):
    path, model, _ = saved
    bundle = load_bundle(path)
    views = torch.rand(2, 3, 3, 32, 32)
    pred = bundle.predict(views)
    with torch.no_grad():
        expected = bundle.classifier.logits(model.embed_views(views).amax(dim=1)).argmax(dim=1)
    assert torch.equal(pred.class_index, expected)
    assert pred.class_name == [CLASSES[i] for i in expected.tolist()]
    assert pred.scores.shape == (2, 3) and torch.allclose(pred.scores.sum(dim=1), torch.ones(2))

    # A Gaussian probe that always says 'table'.
    probe = LinearClassifier(
        "gaussian", torch.zeros(16), torch.ones(16), torch.zeros(3, 16), torch.tensor([0, 0, 5.0])
    )
    gaussian_bundle = dataclasses.replace(bundle, classifier=probe)
    assert gaussian_bundle.predict(torch.randn(4, 64, 6)).class_name == ["table"] * 4

    with pytest.raises(ValueError, match="resize"):
        bundle.embed_views(torch.rand(1, 1, 3, 24, 24))
    with pytest.raises(ValueError, match="no classifier"):
        dataclasses.replace(bundle, classifier=None).predict(views)


def test_binary_sklearn_probe_agrees_with_the_decision_value():
    g = torch.Generator().manual_seed(2)
    coef, intercept = torch.randn(1, 16, generator=g), torch.randn(1, generator=g)
    mean, scale = torch.randn(16, generator=g), torch.rand(16, generator=g) + 0.5
    probe = LinearClassifier.from_sklearn(
        "gaussian", mean.numpy(), scale.numpy(), coef.numpy(), intercept.numpy()
    )
    x = torch.randn(50, 16, generator=g)
    decision = ((x - mean) / scale) @ coef[0] + intercept[0]

    assert probe.weight.shape == (2, 16)
    assert torch.equal(probe.predict(x), (decision > 0).long())
    assert torch.allclose(probe.logits(x).softmax(dim=1)[:, 1], torch.sigmoid(decision), atol=1e-5)


def test_sklearn_probes_predict_like_sklearn():
    svm = pytest.importorskip("sklearn.svm")
    g = torch.Generator().manual_seed(3)
    for k in (2, 3):
        x = torch.randn(60, 4, generator=g) + torch.arange(60).remainder(k)[:, None] * 1.5
        y = torch.arange(60).remainder(k)
        fitted = svm.LinearSVC().fit(x.numpy(), y.numpy())
        probe = LinearClassifier.from_sklearn("image", None, None, fitted.coef_, fitted.intercept_)
        assert probe.num_classes == k
        assert probe.predict(x).tolist() == fitted.predict(x.numpy()).tolist()


def test_mismatched_features_are_refused_naming_every_field(saved):
    path = saved[0]
    caller = dataclasses.replace(SPEC, feature_groups=("xyz",), num_points=1024)
    with pytest.raises(BundleError) as info:
        load_bundle(path, expected=caller)
    message = str(info.value)
    assert str(path) in message
    assert "this bundle was trained on" in message and "the caller provides" in message
    assert "feature_groups=('xyz', 'scale')" in message and "feature_groups=('xyz',)" in message
    assert "num_points=64" in message and "num_points=1024" in message
    assert "sampling" not in message
    assert SPEC.differences(caller) == [
        "feature_groups: ('xyz', 'scale') vs ('xyz',)",
        "num_points: 64 vs 1024",
    ]


def test_wrong_version_corrupt_and_missing_files_are_refused(saved, tmp_path):
    path = saved[0]
    payload = torch.load(path, weights_only=True)
    payload["version"] = BUNDLE_VERSION + 1
    future = tmp_path / "future.pt"
    torch.save(payload, future)
    with pytest.raises(BundleError, match="version"):
        load_bundle(future)

    payload["version"] = BUNDLE_VERSION
    del payload["classifier"]
    torch.save(payload, future)
    with pytest.raises(BundleError, match=r"lacks \['classifier'\]"):
        load_bundle(future)

    del payload["version"]
    torch.save(payload, future)
    with pytest.raises(BundleError, match="version None"):
        load_bundle(future)

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(BundleError, match=str(truncated)):
        load_bundle(truncated)

    other = tmp_path / "state.pt"
    torch.save({"weight": torch.zeros(2)}, other)
    with pytest.raises(BundleError, match="not a gs_perception model bundle"):
        load_bundle(other)

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_bundle(tmp_path / "missing.pt")


def test_parts_that_do_not_fit_are_refused(tmp_path):
    model = DualEncoder(CONFIG, in_channels=6)
    with pytest.raises(ValueError, match="channels"):
        save_bundle(tmp_path / "b.pt", model, dataclasses.replace(SPEC, feature_groups=("xyz",)))
    with pytest.raises(ValueError, match="class names"):
        save_bundle(tmp_path / "b.pt", model, SPEC, CLASSES[:2], _classifier())
    wide = LinearClassifier("gaussian", torch.zeros(8), torch.ones(8), torch.zeros(3, 8), torch.zeros(3))
    with pytest.raises(ValueError, match="D=8"):
        Bundle(model, CONFIG, SPEC, CLASSES, wide, {}, {})
    assert not (tmp_path / "b.pt").exists()


def test_feature_spec_normalises_and_checks_its_sources():
    spec = FeatureSpec(["xyz", "rgb"], 3, 128, "uniform", [24, 32], [0, 0, 0])
    assert spec.sh_degree == 0  # no 'sh' group: the degree changes nothing
    assert spec.image_size == (24, 32) and spec.background == (0.0, 0.0, 0.0)
    assert spec.features_version == FEATURE_CACHE_VERSION
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    with_sh = FeatureSpec.from_configs(
        dataclasses.replace(SAMPLE, feature_groups=("xyz", "sh"), image_size=0),
        (24, 32),
        (1, 1, 1),
        sh_degree=1,
    )
    assert with_sh.sh_degree == 1 and with_sh.in_channels == 3 + 9
    with pytest.raises(ValueError, match="contradicts"):
        FeatureSpec.from_configs(SAMPLE, (24, 24), (1, 1, 1))
    with pytest.raises(ValueError, match="unknown feature group"):
        dataclasses.replace(SPEC, feature_groups=("xyz", "normals"))


def test_int8_quantisation_by_hand_and_its_error_bound():
    w = torch.tensor([[1.0, -0.3, 0.25], [0.1, 0.4, -0.4]])
    q, scales = quantise_int8({"w": w, "b": torch.tensor([0.3, 0.7])})
    torch.testing.assert_close(scales["w"], torch.tensor([1.0, 0.4]) / 127)
    # Row 0: -0.3·127 = -38.1, 0.25·127 = 31.75; row 1 in steps of 0.4/127: 0.1 → 31.75.
    assert q["w"].dtype == torch.int8 and q["w"].tolist() == [[127, -38, 32], [32, 127, -127]]
    assert "b" not in scales and torch.equal(q["b"], torch.tensor([0.3, 0.7]))  # 1-D tensors stay as they are
    back = dequantise_int8(q, scales)
    assert bool(((back["w"] - w).abs() <= scales["w"][:, None] / 2 + 1e-9).all())


def test_int8_bundle_is_a_quarter_of_the_size_and_embeds_like_the_float_one(saved, tmp_path):
    path, model, classifier = saved
    small = save_bundle(tmp_path / "int8.pt", model, SPEC, CLASSES, classifier, weights="int8")
    weights = sum(v.numel() * v.element_size() for v in model.state_dict().values())
    assert path.stat().st_size - small.stat().st_size > 0.7 * weights  # conv/linear weights: 4 bytes → 1
    exact, quantised = load_bundle(path), load_bundle(small, expected=SPEC)
    assert all(p.dtype == torch.float32 for p in quantised.model.parameters())
    g = torch.Generator().manual_seed(0)
    views, gaussians = torch.rand(4, 3, 3, 32, 32, generator=g), torch.randn(4, 64, 6, generator=g)
    for a, b in (
        (exact.embed_views(views), quantised.embed_views(views)),
        (exact.embed_gaussians(gaussians), quantised.embed_gaussians(gaussians)),
    ):
        # A random ResNet (16-wide head) is the hard case: 3–4 % relative change, cosine ≥ 0.998 here; the
        # shipped demo bundle's figures are in docs/benchmarks.md.
        assert float((a - b).norm() / a.norm()) < 0.06
        assert float(torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1)).min()) > 0.997
    torch.testing.assert_close(
        quantised.predict(views).scores, exact.predict(views).scores, atol=0.02, rtol=0
    )
    with pytest.raises(ValueError, match="weights must be"):
        save_bundle(tmp_path / "bad.pt", model, SPEC, weights="fp8")


def test_a_bundle_from_before_view_specs_loads_with_the_views_it_was_used_with(saved, tmp_path):
    path, _, _ = saved
    payload = torch.load(path, weights_only=True)
    del payload["feature_spec"]["views"]  # as bundles wrote it before the field existed
    torch.save(payload, tmp_path / "old.pt")
    views = load_bundle(tmp_path / "old.pt").feature_spec.views
    assert (views.spiral, views.pool, views.radius, views.fov_deg) == (8, 8, 3.0, 40.0)  # recognition's old
    assert views.elevation_deg == (-15.0, 60.0) and views.turns == 2.0
