"""Evaluation of a trained feed-forward predictor (``gs-perception eval-ff``): results.md, metrics.json and a
quality-vs-compute figure.

On the objects of a split never trained on (test by default), each object's training-pose views are shuffled
by a generator seeded with (seed, object) and the first 1, 2, 4 … go in (so the 2 views include the 1), and
the predictions are scored on the object's held-out poses:

- **Novel views**: PSNR / SSIM of the prediction rendered at the held-out poses, and the predictor's time per
  input view (U-Net + lifting, no rendering).
- **The fitter at equal wall time**: core/fit.py from Gaussians spread at random in the object's ball and
  coloured from the inputs (the fitter's 'random' start, given the ball the predictor is given too), with
  as many steps as fit into the predictor's time (a cost model ``a + b·steps`` measured on the first object).
- **Quality vs compute** (on ``curve_objects`` objects): the fitter from that random start and from the
  prediction, after each of ``curve_steps`` steps, against wall time (the prediction's time included).
- **Class probe** (downstream): the yaw-invariant shape descriptor (eval/descriptor.py) of each object's
  Gaussians, opacity ≥ ``probe_opacity``; a linear probe trained on the fitted Gaussians of the train split
  (C chosen on val) is scored on the test objects' fitted and predicted Gaussians, and one trained on
  predicted Gaussians (same view count) on predicted ones.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..core.choices import check_choices
from ..core.fit import FitConfig, colours_from_views, evaluate, fit_gaussians
from ..core.gaussians import GaussianCloud
from ..core.ply import read_ply
from ..core.runtime import resolve_device, seeded_generator
from ..data.manifest import MANIFEST_NAME, read_manifest
from ..eval.descriptor import shape_descriptor
from ..eval.probes import fit_linear_probe
from ..eval.tables import markdown_table
from ..provenance import provenance
from .feedforward import load_ff_run
from .ff_data import ObjectViews, Views, load_objects
from .ff_figures import curve_plot, prediction_gallery
from .ff_loss import predict_object


@dataclass(frozen=True)
class FFEvalConfig:
    """What eval-ff measures, on which objects, and where the results go."""

    run: str = ""
    """train-ff run folder (config.json, checkpoints/last.pt)."""
    out: str = "runs/ff/eval"
    """Folder for results.md, metrics.json and curve.png."""
    dataset: str = ""
    """Dataset to evaluate on (empty: the run's own)."""
    split: Literal["test", "val"] = "test"
    """Objects scored: 'test' (never trained on, nor used to choose the recipe) or 'val'."""
    max_objects: int = 0
    """Score only this many objects of the split, evenly spaced over its classes (0: all)."""
    input_views: tuple[int, ...] = (1, 2, 4)
    """Input view counts scored."""
    curve_objects: int = 12
    """Objects of the quality-vs-compute curve, evenly spaced over the scored ones (0: no curve)."""
    curve_views: tuple[int, ...] = (1, 4)
    """Input view counts of the curve."""
    curve_steps: tuple[int, ...] = (10, 30, 100, 300)
    """Fitting steps at which the curve is measured (each point is its own fit of that many steps)."""
    fit: FitConfig = FitConfig(sh_degree=0, reset_every=1_000_000)
    """The per-object fitter (SH degree 0 as the prediction; no opacity reset, which would erase a
    prediction's opacities). Its init settings shape the random start."""
    gallery_objects: int = 6
    """Objects drawn in gallery.png (input view, held-out targets, and the renders of the predictions from
    the fewest and the most input views), evenly spaced over the scored ones (0: no gallery)."""
    probe: bool = True
    """Score the downstream class probe."""
    probe_opacity: float = 0.3
    """Gaussians below this opacity are left out of the probe's descriptor."""
    seed: int = 0
    """Seed of the input-view draws, the fitter and the probe."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""

    def __post_init__(self):
        check_choices(self)


@dataclass(frozen=True)
class ViewCountResult:
    """Novel-view quality from ``input_views`` views, and the fitter given the predictor's time."""

    input_views: int
    objects: int
    psnr: float
    psnr_std: float
    ssim: float
    ms_per_view: float
    """Median predictor time per input view (ms)."""
    fit_steps: int
    """Fitter steps that fit into the predictor's time (at least 1)."""
    fit_seconds: float
    """The fitter's mean wall time with those steps."""
    fit_psnr: float
    fit_ssim: float


@dataclass(frozen=True)
class CurvePoint:
    """Mean held-out quality after ``steps`` fitting steps from one start, and the mean wall time spent."""

    input_views: int
    start: Literal["random", "prediction"]
    steps: int
    seconds: float
    psnr: float
    ssim: float


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy of a linear probe on shape descriptors of Gaussians."""

    trained_on: str
    scored_on: str
    accuracy: float
    objects: int


@dataclass
class FFEvalResult:
    """What :func:`evaluate_ff` wrote."""

    views: list[ViewCountResult]
    curve: list[CurvePoint]
    probes: list[ProbeResult]
    results_md: Path
    metrics_json: Path
    plot: Path | None
    gallery: Path | None


class _Context:
    """The model, the objects and the fitter shared by every measurement."""

    def __init__(self, config: FFEvalConfig, show_progress: bool = False):
        self.config, self.show_progress = config, show_progress
        self.device = resolve_device(config.device)
        self.model, self.train_config = load_ff_run(config.run, self.device)
        self.dataset = config.dataset or self.train_config.dataset
        self.radius = self.train_config.object_radius
        self.objects = load_objects(self.dataset, config.split, config.max_objects, show_progress)
        if not self.objects.test.num_views:
            raise ValueError(f"{self.dataset}: the '{config.split}' objects have no held-out views")

    def progress(self, items, desc: str):
        """``items``, with a progress bar on stderr when the run shows progress (the phases take minutes)."""
        if not self.show_progress:
            return items
        from tqdm import tqdm

        return tqdm(items, desc=f"eval-ff: {desc}", unit="obj", leave=False, dynamic_ncols=True)

    def inputs(self, obj: int, count: int, objects: ObjectViews | None = None) -> Views:
        objects = self.objects if objects is None else objects
        order = torch.randperm(objects.train.num_views, generator=seeded_generator(self.config.seed, obj))
        return objects.views(obj, order[:count])

    def held_out(self, obj: int) -> Views:
        return self.objects.views(obj, range(self.objects.test.num_views), held_out=True)

    @torch.no_grad()
    def predict(self, views: Views) -> tuple[GaussianCloud, float]:
        """The fused prediction (on the CPU) and its wall time in seconds."""
        start = time.perf_counter()
        cloud = predict_object(self.model, views, self.radius, self.device).cloud()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return cloud.detach().to("cpu"), time.perf_counter() - start

    def random_start(self, views: Views) -> GaussianCloud:
        """The fitter's random start inside the object's ball, coloured where the inputs see it."""
        fit, generator = self.config.fit, torch.Generator().manual_seed(self.config.fit.seed)
        direction = torch.nn.functional.normalize(
            torch.randn(fit.init_points, 3, generator=generator), dim=-1
        )
        points = direction * self.radius * torch.rand(fit.init_points, 1, generator=generator) ** (1 / 3)
        rgb = colours_from_views(points, views.fit_views())
        return GaussianCloud.from_points(points, rgb=rgb, opacity=fit.init_opacity, sh_degree=fit.sh_degree)

    def fit(self, views: Views, start: GaussianCloud, steps: int) -> tuple[GaussianCloud, float]:
        """``steps`` steps of the fitter from ``start`` and their wall time (the start's own excluded)."""
        config = dataclasses.replace(self.config.fit, steps=steps)
        t = time.perf_counter()
        result = fit_gaussians(views.fit_views(), config, device=self.device, start=start)
        return result.cloud, time.perf_counter() - t

    def score(self, cloud: GaussianCloud, obj: int) -> tuple[float, float]:
        backend = self.config.fit.render.resolve(self.device)
        return evaluate(cloud.to(self.device), _to(self.held_out(obj).fit_views(), self.device), backend)


def _to(views, device):
    return dataclasses.replace(
        views, **{f: getattr(views, f).to(device) for f in ("rgb", "T_world_cam", "K", "background")}
    )


def _view_counts(ctx: _Context, clouds: dict) -> list[ViewCountResult]:
    """Prediction scores per view count; ``clouds[(obj, n)]`` keeps each prediction for the probe."""
    results = []
    for n in ctx.config.input_views:
        scores, times = [], []
        for obj in ctx.progress(range(len(ctx.objects)), f"predict from {n} view(s)"):
            cloud, seconds = ctx.predict(ctx.inputs(obj, n))
            clouds[obj, n] = cloud
            scores.append(ctx.score(cloud, obj))
            times.append(seconds)
        steps, fit_scores, fit_times = _fitter_at(ctx, n, float(np.mean(times)))
        psnrs = [p for p, _ in scores]
        results.append(
            ViewCountResult(
                input_views=n,
                objects=len(scores),
                psnr=float(np.mean(psnrs)),
                psnr_std=float(np.std(psnrs)),
                ssim=float(np.mean([q for _, q in scores])),
                ms_per_view=1000.0 * float(np.median(times)) / n,
                fit_steps=steps,
                fit_seconds=float(np.mean(fit_times)),
                fit_psnr=float(np.mean([p for p, _ in fit_scores])),
                fit_ssim=float(np.mean([q for _, q in fit_scores])),
            )
        )
    return results


def _fitter_at(ctx: _Context, n: int, seconds: float) -> tuple[int, list, list]:
    """The fitter on every object with the steps that fit into ``seconds`` (a + b·steps, measured)."""
    views = ctx.inputs(0, n)
    start = ctx.random_start(views)
    ctx.fit(views, start, 1)  # warm-up: first-call allocations are no part of a fitter's cost
    (_, t2), (_, t12) = ctx.fit(views, start, 2), ctx.fit(views, start, 12)
    per_step = max((t12 - t2) / 10.0, 1e-6)
    steps = max(1, int((seconds - (t2 - 2 * per_step)) / per_step))
    scores, times = [], []
    for obj in ctx.progress(range(len(ctx.objects)), f"fitter from {n} view(s), {steps} step(s)"):
        views = ctx.inputs(obj, n)
        t = time.perf_counter()
        cloud, _ = ctx.fit(views, ctx.random_start(views), steps)
        times.append(time.perf_counter() - t)
        scores.append(ctx.score(cloud, obj))
    return steps, scores, times


def _curve(ctx: _Context) -> list[CurvePoint]:
    points = []
    total, count = len(ctx.objects), min(ctx.config.curve_objects, len(ctx.objects))
    objects = sorted({round(i * (total - 1) / max(count - 1, 1)) for i in range(count)})
    for n in ctx.config.curve_views:
        rows: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
        for obj in ctx.progress(objects, f"curve from {n} view(s)"):
            views = ctx.inputs(obj, n)
            predicted, t_pred = ctx.predict(views)
            random = ctx.random_start(views)
            rows.setdefault(("prediction", 0), []).append((t_pred, *ctx.score(predicted, obj)))
            for steps in ctx.config.curve_steps:
                for name, start, t0 in (("random", random, 0.0), ("prediction", predicted, t_pred)):
                    cloud, seconds = ctx.fit(views, start, steps)
                    rows.setdefault((name, steps), []).append((t0 + seconds, *ctx.score(cloud, obj)))
        for (name, steps), values in sorted(rows.items()):
            mean = np.mean(np.array(values), axis=0)
            points.append(CurvePoint(n, name, steps, float(mean[0]), float(mean[1]), float(mean[2])))
    return points


def _descriptor(cloud: GaussianCloud, opacity: float) -> np.ndarray:
    keep = cloud.opacities() >= opacity
    points = cloud.means[keep] if int(keep.sum()) >= 10 else cloud.means  # too few: keep every Gaussian
    return shape_descriptor(points.detach(), rotation_invariant=True)


def _probes(ctx: _Context, clouds: dict) -> list[ProbeResult]:
    """Class probes on descriptors: fitted → fitted / predicted, predicted → predicted (module docstring).

    C is chosen on the val split, or by cross-validation on train when val is the split scored.
    """
    config = ctx.config
    fit_splits = ["train"] + (["val"] if config.split != "val" else [])
    fitted = {s: _fitted_descriptors(ctx, s) for s in fit_splits}
    empty = (np.zeros((0, fitted["train"][0].shape[1])), np.array([]))
    fitted_val = fitted.get("val", empty)
    scored = _fitted_descriptors(ctx, config.split, ctx.objects.object_ids)
    probe = fit_linear_probe(*fitted["train"], *fitted_val, seed=config.seed)
    test_y, n_obj = scored[1], len(scored[1])
    results = [ProbeResult("fitted", "fitted", probe.accuracy(*scored), n_obj)]
    others = {s: load_objects(ctx.dataset, s, show_progress=ctx.show_progress) for s in fit_splits}
    for n in config.input_views:
        name = f"predicted, {n} view(s)"
        test_x = np.stack([_descriptor(clouds[obj, n], config.probe_opacity) for obj in range(n_obj)])
        results.append(ProbeResult("fitted", name, probe.accuracy(test_x, test_y), n_obj))
        predicted = {s: _predicted_descriptors(ctx, v, n) for s, v in others.items()}
        val_x = predicted.get("val", empty[0])
        own = fit_linear_probe(predicted["train"], fitted["train"][1], val_x, fitted_val[1], seed=config.seed)
        results.append(ProbeResult(name, name, own.accuracy(test_x, test_y), n_obj))
    return results


def _fitted_descriptors(ctx: _Context, split: str, ids: list[str] | None = None):
    """(descriptors [O, 19], labels [O]) of the dataset's 3DGS fits of a split (or of ``ids``), by id."""
    root = Path(ctx.dataset)
    entries = read_manifest(root / MANIFEST_NAME)
    if ids is None:
        ids = sorted(i for i, e in entries.items() if e.ok and e.split == split and e.folder)
    x = [_descriptor(read_ply(root / entries[i].ply), ctx.config.probe_opacity) for i in ids]
    return np.stack(x), np.array([entries[i].label for i in ids])


def _predicted_descriptors(ctx: _Context, objects: ObjectViews, n: int) -> np.ndarray:
    ids = ctx.progress(range(len(objects)), f"probe: predict {len(objects)} objects from {n} view(s)")
    clouds = (ctx.predict(ctx.inputs(obj, n, objects))[0] for obj in ids)
    return np.stack([_descriptor(cloud, ctx.config.probe_opacity) for cloud in clouds])


def evaluate_ff(config: FFEvalConfig, show_progress: bool = False) -> FFEvalResult:
    """Run every measurement of the module docstring and write results.md, metrics.json and curve.png
    (``show_progress``: a progress bar per phase on stderr)."""
    ctx = _Context(config, show_progress)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    clouds: dict = {}
    views = _view_counts(ctx, clouds)
    curve = _curve(ctx) if config.curve_objects and config.curve_steps else []
    probes = _probes(ctx, clouds) if config.probe else []
    plot = curve_plot(curve, out / "curve.png") if curve else None
    gallery = prediction_gallery(ctx, clouds, out / "gallery.png") if config.gallery_objects else None
    record = {
        "config": json.loads(json.dumps(dataclasses.asdict(config))),
        "run_config": json.loads(json.dumps(dataclasses.asdict(ctx.train_config))),
        "provenance": provenance(),
        "views": [dataclasses.asdict(r) for r in views],
        "curve": [dataclasses.asdict(p) for p in curve],
        "probes": [dataclasses.asdict(p) for p in probes],
    }
    metrics = out / "metrics.json"
    metrics.write_text(json.dumps(record, indent=2) + "\n")
    results = out / "results.md"
    results.write_text(_markdown(config, ctx, views, curve, probes))
    return FFEvalResult(views, curve, probes, results, metrics, plot, gallery)


def _markdown(config: FFEvalConfig, ctx: _Context, views, curve, probes) -> str:
    n_obj = len(ctx.objects)
    header = ["input views", "PSNR (dB)", "SSIM", "predictor ms/view", "fitter steps", "fitter s"]
    rows = [
        [str(r.input_views), f"{r.psnr:.2f} ± {r.psnr_std:.2f}", f"{r.ssim:.3f}", f"{r.ms_per_view:.1f}"]
        + [str(r.fit_steps), f"{r.fit_seconds:.3f}", f"{r.fit_psnr:.2f}", f"{r.fit_ssim:.3f}"]
        for r in views
    ]
    parts = [
        f"# Feed-forward Gaussians: {config.run} on {ctx.dataset} ({config.split}, {n_obj} objects)\n",
        "Scored at held-out poses of objects never trained on; inputs are training-pose views. The fitter "
        "(core/fit.py, from a random start in the object's ball) gets the predictor's wall time.\n",
        markdown_table(header + ["fitter PSNR", "fitter SSIM"], rows),
    ]
    if curve:
        rows = [
            [str(p.input_views), p.start, str(p.steps), f"{p.seconds:.2f}", f"{p.psnr:.2f}", f"{p.ssim:.3f}"]
            for p in curve
        ]
        parts += [
            f"\n## Quality vs compute ({min(config.curve_objects, n_obj)} objects)\n",
            markdown_table(["input views", "start", "steps", "seconds", "PSNR (dB)", "SSIM"], rows),
        ]
    if probes:
        rows = [[p.trained_on, p.scored_on, f"{100 * p.accuracy:.1f} %"] for p in probes]
        parts += [
            "\n## Class probe on the Gaussians' yaw-invariant shape descriptor (linear SVM)\n",
            markdown_table(["trained on", "scored on", "accuracy"], rows),
        ]
    return "\n".join(parts) + "\n"
