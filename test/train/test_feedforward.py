"""Feed-forward training and evaluation on a tiny generated dataset: the loss falls, resume is exact, the
loss's surface points match the depth back-projection, and eval-ff writes its tables."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gs_perception.cli import main
from gs_perception.core.cameras import backproject_depth
from gs_perception.core.features import FeatureConfig
from gs_perception.core.fit import FitConfig, fit_gaussians, render_at_views
from gs_perception.core.metrics import psnr
from gs_perception.core.runtime import seeded_generator
from gs_perception.data.generate import DatasetConfig, generate_dataset
from gs_perception.data.views import ViewRenderConfig
from gs_perception.models.splatter import SplatterConfig, SplatterImage
from gs_perception.models.splatter_file import load_predictor
from gs_perception.train.checkpoint import load_checkpoint
from gs_perception.train.feedforward import PREDICTOR_FILE, FFConfig, FFTrainer, load_ff_run, train_ff
from gs_perception.train.ff_data import draw_views, load_objects
from gs_perception.train.ff_eval import FFEvalConfig, evaluate_ff
from gs_perception.train.ff_loss import predict_object, surface_points

DATA = DatasetConfig(
    source="shapes10",
    classes=("chair", "table"),
    train_per_class=3,
    test_per_class=1,
    val_fraction=0.34,
    view=ViewRenderConfig(width=16, height=16, n_train=6, n_test=2),
    fit=FitConfig(steps=15, refine_start=1000, init_points=150, max_gaussians=150),
    features=FeatureConfig(max_points=32),
    workers=1,
)
MODEL = SplatterConfig(channels=(8, 16))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ff_data")
    assert generate_dataset(out, DATA, show_progress=False).complete
    return out


def _config(dataset, out, **changes) -> FFConfig:
    base = FFConfig(
        dataset=str(dataset),
        out=str(out),
        model=MODEL,
        input_views=(1, 2),
        target_views=2,
        batch_size=2,
        steps=6,
        warmup_steps=0,
        lr=5e-3,
        val_every=2,
        val_objects=2,
        checkpoint_every=1,
        device="cpu",
    )
    return dataclasses.replace(base, **changes)


def test_objects_load_with_their_views_masks_and_depth(dataset):
    objects = load_objects(dataset, "train")
    assert len(objects) == 4 and objects.labels.count("chair") == 2 and objects.size == (16, 16)
    views = objects.views(1, [0, 3])
    assert views.rgb.shape == (2, 16, 16, 3) and views.depth.shape == (2, 16, 16)
    covered, surface = views.alpha > 0.5, views.depth > 0
    assert (covered & surface).sum() > 0.75 * covered.sum() > 10  # mask and depth differ at edges only
    assert ((views.depth[surface] - 3.0).abs() < 1.0).all()  # objects fill the unit ball, cameras 3 m away
    assert torch.allclose(views.rgb[~(views.alpha > 0)], torch.ones(1, 3))  # white around the object
    held_out = objects.views(1, range(2), held_out=True)
    assert held_out.depth is None and held_out.rgb.shape == (2, 16, 16, 3)
    assert load_objects(dataset, "train", max_objects=2).labels == ["chair", "table"]  # spread over classes
    inputs, targets = draw_views(6, 2, 3, torch.Generator().manual_seed(0))
    assert len(set(inputs.tolist()) | set(targets.tolist())) == 5


def test_surface_points_are_the_depth_maps_back_projection(dataset):
    """The batched surface points of the loss against core/cameras.py's per-view back-projection."""
    views = load_objects(dataset, "train").views(0, [0, 4])
    fast = surface_points(views)
    for i in range(2):
        slow = backproject_depth(views.depth[i], views.K[i], views.T_world_cam[i]).reshape(-1, 3)
        assert torch.allclose(fast[i], slow, atol=1e-5)


def test_two_training_steps_lower_the_loss(dataset, tmp_path):
    trainer = FFTrainer(_config(dataset, tmp_path / "fixed", input_views=(1,)))
    n_in, pairs = trainer.batch([0, 1], step=0)

    def loss() -> float:
        with torch.no_grad():
            return float(trainer.losses(pairs).loss)

    before = loss()
    rows = [trainer.optimise(pairs, n_in) for _ in range(2)]
    assert rows[0].loss == pytest.approx(before, rel=1e-5)  # the first step's loss is the starting loss
    assert loss() < 0.97 * before and rows[1].loss < rows[0].loss
    assert trainer.position.step == 2 and 5.0 < rows[1].psnr < 40.0 and 0.0 < rows[1].ssim < 1.0


def _parameters(path) -> dict[str, torch.Tensor]:
    model = SplatterImage(MODEL)
    load_checkpoint(path, {"model": model})
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_takes_exactly_the_step_an_uninterrupted_run_takes(dataset, tmp_path):
    straight = train_ff(_config(dataset, tmp_path / "a", max_steps=3), show_progress=False)
    first = train_ff(_config(dataset, tmp_path / "b", max_steps=2), show_progress=False)
    assert first.position.step == 2 and straight.position.step == 3
    resumed = train_ff(_config(dataset, tmp_path / "b", max_steps=3), resume=True, show_progress=False)
    assert resumed.resumed_from == 2 and resumed.position.step == 3
    a, b = _parameters(straight.checkpoint), _parameters(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert straight.last_train.loss == resumed.last_train.loss
    with open(tmp_path / "b" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["split"] == "train"]
    assert steps == [1, 2, 3]  # no duplicated rows after the resume


def test_resume_with_another_architecture_is_refused_and_an_old_run_loads_as_built(dataset, tmp_path):
    old = dataclasses.replace(MODEL, attention_heads=0)
    train_ff(_config(dataset, tmp_path / "run", model=old, max_steps=1), show_progress=False)
    with pytest.raises(ValueError, match="attention_heads.*--model-attention-heads 0"):
        train_ff(_config(dataset, tmp_path / "run", max_steps=2), resume=True, show_progress=False)
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    del record["config"]["model"]["attention_heads"]  # a run recorded before the field existed
    (tmp_path / "run" / "config.json").write_text(json.dumps(record))
    model, config = load_ff_run(tmp_path / "run")
    assert config.model == old and len(model.unet.middle.body) == 6  # one residual block, no attention


def test_a_run_logs_steps_validations_and_provenance(dataset, tmp_path):
    result = train_ff(_config(dataset, tmp_path / "run", steps=5), show_progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5]
    assert [int(r["step"]) for r in rows if r["split"] == "val"] == [0, 2, 4, 5]
    assert {int(r["input_views"]) for r in rows if r["split"] == "train"} <= {1, 2}
    assert all(float(r["surface"]) > 0 and float(r["alpha"]) > 0 for r in rows)
    assert result.last_val is not None and result.last_val.psnr > 5.0
    sidecar = json.loads((tmp_path / "run" / "checkpoints" / "last.pt.json").read_text())
    assert sidecar["position"]["step"] == 5 and sidecar["provenance"]["git_sha"] is not None
    model, config = load_ff_run(tmp_path / "run")
    assert config.model == MODEL and not model.training
    _, info = load_predictor(tmp_path / "run" / PREDICTOR_FILE)
    assert info.image_size == (16, 16) and info.object_radius == 1.0
    # the unit ball 3 m away, seen with the dataset's 40° field of view: 1/3 / tan 20° of half the image
    assert abs(info.ball_fraction - 1 / 3 / math.tan(math.radians(20))) < 1e-3


def test_refining_a_prediction_from_one_view_moves_its_gaussians(dataset, tmp_path):
    """fit_gaussians(start=…) with a single camera: the scene scale comes from the cloud, so means move."""
    model = SplatterImage(MODEL).eval()
    views = load_objects(dataset, "test").views(0, [2])
    with torch.no_grad():
        cloud = predict_object(model, views, 1.0, torch.device("cpu")).cloud()
    fit = fit_gaussians(views.fit_views(), FitConfig(steps=20, sh_degree=0), start=cloud)
    assert fit.init == "given" and fit.num_gaussians == cloud.num
    assert (fit.cloud.means - cloud.means).abs().max() > 1e-3
    before = psnr(render_at_views(cloud, views.fit_views()), views.rgb)
    assert psnr(render_at_views(fit.cloud, views.fit_views()), views.rgb) > before + 1.0


def test_train_ff_and_eval_ff_from_the_command_line(dataset, tmp_path, capsys):
    preset = tmp_path / "ff.yaml"
    preset.write_text("model: {channels: [8, 16]}\ntarget_views: 2\nbatch_size: 2\nval_objects: 2\n")
    run = tmp_path / "run"
    argv = ["train-ff", "--config", str(preset), "--dataset", str(dataset), "--out", str(run), "--quiet"]
    assert main(argv + ["--steps", "2", "--device", "cpu"]) == 0
    assert "2 steps" in capsys.readouterr().out
    out = tmp_path / "eval"
    argv = ["eval-ff", "--run", str(run), "--out", str(out), "--input-views", "1", "2", "--device", "cpu"]
    argv += ["--curve-objects", "1", "--curve-views", "1", "--curve-steps", "3", "--fit-init-points", "200"]
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    views = metrics["views"]
    assert [v["input_views"] for v in views] == [1, 2] and all(v["objects"] == 2 for v in views)
    assert all(8.0 < v["psnr"] < 40.0 and 8.0 < v["fit_psnr"] < 40.0 for v in views)
    assert all(v["fit_steps"] >= 1 and v["ms_per_view"] > 0 for v in views)
    starts = {(p["start"], p["steps"]) for p in metrics["curve"]}
    assert starts == {("prediction", 0), ("prediction", 3), ("random", 3)}
    probes = metrics["probes"]
    one, two = "predicted, 1 view(s)", "predicted, 2 view(s)"
    assert [(p["trained_on"], p["scored_on"]) for p in probes] == [
        ("fitted", "fitted"), ("fitted", one), (one, one), ("fitted", two), (two, two)
    ]  # fmt: skip
    assert all(0.0 <= p["accuracy"] <= 1.0 and p["objects"] == 2 for p in probes)
    results = (out / "results.md").read_text()
    assert "| 1 |" in results and "Quality vs compute (1 objects)" in results
    assert (out / "curve.png").stat().st_size > 0


def test_eval_ff_scores_the_prediction_it_renders(dataset, tmp_path, capsys):
    """The table's PSNR is the mean over objects of the predicted cloud's PSNR at the held-out poses (and
    each phase shows its progress on stderr)."""
    run = train_ff(_config(dataset, tmp_path / "run", steps=1, val_objects=0), show_progress=False)
    config = FFEvalConfig(
        run=str(run.out), out=str(tmp_path / "eval"), input_views=(1,), curve_objects=0, probe=False
    )
    result = evaluate_ff(config, show_progress=True)
    err = capsys.readouterr().err
    assert "eval-ff: predict from 1 view(s)" in err and "eval-ff: fitter from 1 view(s)" in err
    model, _ = load_ff_run(run.out)
    objects = load_objects(dataset, "test")
    scores, renders = [], []
    for obj in range(len(objects)):
        order = torch.randperm(6, generator=seeded_generator(0, obj))
        with torch.no_grad():
            cloud = predict_object(model, objects.views(obj, order[:1]), 1.0, torch.device("cpu")).cloud()
        held_out = objects.views(obj, range(2), held_out=True)
        images = render_at_views(cloud, held_out.fit_views())
        scores.append(sum(float(psnr(p, t)) for p, t in zip(images, held_out.rgb)) / 2)
        renders.append(images)
    assert result.views[0].psnr == pytest.approx(sum(scores) / len(scores), abs=1e-4)
    # gallery.png: per object a row of input | 2 held-out targets | the 2 renders (16² tiles shown at 32²)
    gallery = np.asarray(Image.open(result.gallery).convert("RGB"))
    assert gallery.shape == (18 + 2 * (18 + 32 + 2), 5 * (32 + 2), 3)
    for obj, images in enumerate(renders):
        y, x = 18 + obj * 52 + 18, 3 * 34
        tile = gallery[y : y + 32 : 2, x : x + 32 : 2]
        expected = (images[0].numpy() * 255.0 + 0.5).astype(np.uint8)
        assert np.abs(tile.astype(int) - expected).max() <= 1
