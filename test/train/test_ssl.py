"""SSL training on a tiny dataset: the loss falls, resume continues exactly, logs and checkpoints."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch

from gs_perception.core.features import FeatureConfig
from gs_perception.core.fit import FitConfig
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.views import ViewRenderConfig
from gs_perception.models.dual_encoder import DualEncoder, DualEncoderConfig
from gs_perception.models.image_encoder import ImageEncoderConfig
from gs_perception.models.pointnet import GaussianEncoderConfig
from gs_perception.train.checkpoint import load_checkpoint
from gs_perception.train.datasets import SampleConfig, collate
from gs_perception.train.ssl import SSLConfig, SSLTrainer, train_ssl

DATA = DatasetConfig(
    source="shapes10",
    classes=("chair", "monitor"),
    train_per_class=3,
    test_per_class=0,
    val_fraction=0.34,
    view=ViewRenderConfig(width=24, height=24, n_train=4, n_test=1),
    fit=FitConfig(steps=15, refine_start=1000, init_points=150, max_gaussians=150),
    features=FeatureConfig(max_points=64),
    workers=1,
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ssl_data")
    assert generate_dataset(out, DATA, show_progress=False).complete
    return out


def _config(dataset, out, **changes) -> SSLConfig:
    base = SSLConfig(
        dataset=str(dataset),
        out=str(out),
        sample=SampleConfig(num_points=32, views_per_sample=2, feature_groups=("xyz", "rgb")),
        model=DualEncoderConfig(
            image=ImageEncoderConfig(embed_dim=32), gaussian=GaussianEncoderConfig(embed_dim=32, dropout=0.1)
        ),
        optimiser="adam",
        lr=1e-3,
        epochs=2,
        batch_size=2,
        device="cpu",
    )
    return dataclasses.replace(base, **changes)


def _parameters(path) -> dict[str, torch.Tensor]:
    model = DualEncoder(_config("", "").model, in_channels=6)
    load_checkpoint(path, {"model": model})
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_takes_exactly_the_step_an_uninterrupted_run_takes(dataset, tmp_path):
    straight = train_ssl(_config(dataset, tmp_path / "a", max_steps=3), show_progress=False)
    first = train_ssl(_config(dataset, tmp_path / "b", max_steps=2), show_progress=False)
    assert first.position.step == 2 and straight.position.step == 3
    resumed = train_ssl(_config(dataset, tmp_path / "b", max_steps=3), resume=True, show_progress=False)
    assert resumed.resumed_from == 2 and resumed.position.step == 3
    a, b = _parameters(straight.checkpoint), _parameters(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert straight.last_train.loss == resumed.last_train.loss
    with open(tmp_path / "b" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["split"] == "train"]
    assert steps == [1, 2, 3]  # no duplicated rows after the resume


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(dataset, tmp_path):
    trainer = SSLTrainer(_config(dataset, tmp_path / "fixed", batch_size=4), show_progress=False)
    batch = collate([trainer.train_set[i] for i in range(4)])

    def loss() -> float:
        torch.manual_seed(0)  # the same dropout masks and the same pairs every time
        with torch.no_grad():
            return float(trainer.losses(batch, (9,)).total)

    before = loss()
    steps = [trainer.train_step(batch).loss for _ in range(8)]
    assert loss() < 0.9 * before and steps[-1] < steps[0]


def test_a_run_writes_metrics_validation_and_checkpoints(dataset, tmp_path):
    result = train_ssl(_config(dataset, tmp_path / "run", epochs=3), show_progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]  # 4 objects / 2
    assert [int(r["epoch"]) for r in rows if r["split"] == "val"] == [1, 2, 3] and result.last_val is not None
    sidecar = json.loads((tmp_path / "run" / "checkpoints" / "last.pt.json").read_text())
    assert sidecar["position"]["step"] == 6 and sidecar["provenance"]["git_sha"] is not None
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["pair_mode"] == "balanced"


def test_bad_settings_are_refused(dataset, tmp_path):
    with pytest.raises(ValueError, match="pair_mode"):
        train_ssl(_config(dataset, tmp_path / "x", pair_mode="3:1"), show_progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train_ssl(_config(dataset, tmp_path / "x", batch_size=8), show_progress=False)


def test_infonce_and_gaussian_augmentation_train_and_log(dataset, tmp_path):
    model = dataclasses.replace(_config(dataset, "").model, projection_dim=16)
    sample = dataclasses.replace(_config(dataset, "").sample, gaussian_yaw=True, gaussian_jitter=0.01)
    config = _config(dataset, tmp_path / "nce", model=model, sample=sample, infonce_weight=1.0, batch_size=4)
    trainer = SSLTrainer(config, show_progress=False)
    batch = collate([trainer.train_set[i] for i in range(4)])
    rows = [trainer.train_step(batch) for _ in range(8)]
    assert rows[0].infonce > 0 and rows[-1].infonce < rows[0].infonce
    assert rows[-1].loss < rows[0].loss
    with pytest.raises(ValueError, match="projection_dim"):
        SSLTrainer(_config(dataset, tmp_path / "x", infonce_weight=1.0), show_progress=False)
