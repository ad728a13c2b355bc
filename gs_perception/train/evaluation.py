"""Evaluate self-supervised runs like the study, and the corrected way (docs/architecture.md §6): Markdown
tables + figures.

For every SSL run (one per seed) the frozen encoders embed the train, val and test splits; then:

- **Pretext** (test split): cross-modality accuracy on the study's 2:1 pairs, and balanced accuracy and
  ROC-AUC (the study's 95.2 % sits next to an always-yes baseline of 66.7 %); mean Euclidean distance of
  positive (same object) and negative view pairs on raw embeddings, as the study reported them.
- **Linear probes** (linear SVM, C chosen on the validation split, scored on test) with 100 % and 50 % of
  the training labels: Gaussian embeddings; image embeddings max-pooled over 1, 4, … views — a seeded random
  subset of each object's views (run i uses seed i, for the label subsets and the SVM too), all of them at
  the largest count.
- **Controls** (train/controls.py), probed the same way: untrained encoders of the same architecture, and
  the hand-made shape descriptor of the Gaussians; for cross-modality, a head trained on frozen untrained
  encoders, scored with negatives from any object and from the same class only, and by image→Gaussians
  retrieval among same-class distractors.
- **Memory-based vision**: the image probe trained on real views, tested on views rendered from each test
  object's Gaussians at the training poses (the study's "64*") and at held-out poses, next to the real
  held-out views.

Cells are mean ± std over runs, and in the controls tables the mean with a 95 % bootstrap interval over test
objects (averaged over runs). The first run also gives the t-SNE figures and the exported bundle.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..config import override_dataclass
from ..core.choices import check_choices
from ..core.render import RenderConfig
from ..core.runtime import resolve_device
from ..eval.plots import tsne_plot
from ..eval.pretext import correspondence_metrics, paired_distances
from ..eval.probes import LinearProbe, fit_linear_probe, label_subset, pool_views
from ..models.bundle import save_bundle
from ..models.dual_encoder import DualEncoder
from ..models.feature_spec import FeatureSpec, ViewSpec
from ..models.linear_classifier import LinearClassifier
from ..models.losses import make_pairs
from .baselines import BaselineConfig, train_mvcnn_baseline, train_point_baseline
from .checkpoint import load_checkpoint
from .controls import cross_modal_figures, descriptor_features, train_frozen_head, untrained_model
from .datasets import ClassificationDataset
from .embeddings import Embeddings, compute_embeddings
from .instance import InstanceFigures, descriptor_instance_figures, has_two_fits, instance_figures
from .run_figures import MemoryFigures, PairFigures, ProbeFigure, RunFigures, results_markdown
from .ssl import SSLConfig


@dataclass(frozen=True)
class EvalConfig:
    """What to evaluate and where the tables go."""

    runs: tuple[str, ...] = ()
    """SSL run folders (each with config.json and checkpoints/last.pt), one per seed."""
    out: str = "runs/eval"
    """Folder for results.md, metrics.json, figures and the bundle."""
    view_counts: tuple[int, ...] = (1, 4, 16, 32, 64)
    """Views max-pooled per object for the image probes (counts above what the dataset has are skipped)."""
    label_fractions: tuple[float, ...] = (1.0, 0.5)
    """Fractions of the training labels the probes see (seeded, class-stratified subsets)."""
    pair_draws: int = 3
    """Random draws of correspondence pairs averaged per run."""
    memory: bool = True
    """Render views from the Gaussians for memory-based vision (costs a render per view)."""
    tsne: bool = True
    """Write t-SNE figures of the first run's test+train features."""
    bundle: bool = True
    """Export the first run's encoders with the 100 %-label image probe as <out>/bundle.pt."""
    baselines: tuple[str, ...] = ("pointnet",)
    """Supervised baselines trained once per run seed: 'pointnet' (PointNet, or PointNet++ with
    baseline.point_arch, on mesh-sampled points) and 'mvcnn' (multi-view ResNet-18; slow on a CPU)."""
    baseline: BaselineConfig = BaselineConfig()
    """Training of the baselines (its seed is replaced by the run index)."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    render: RenderConfig = RenderConfig()
    """The rasteriser of the memory views."""
    score_split: Literal["test", "val"] = "test"
    """The split the figures score: 'val' chooses recipes without reading the test split (probes then pick
    C by cross-validation on train); 'test' once, at the end, for the recipe chosen on val."""
    controls: bool = True
    """Also evaluate the controls (untrained encoders, the hand-made descriptor, a head on frozen untrained
    encoders) and report 95 % bootstrap intervals."""
    control_head_steps: int = 300
    """Training steps of the fusion head on frozen untrained encoders (Adam, 32 objects per step)."""
    instance: bool = True
    """The instance test (train/instance.py): find each object's second 3DGS fit from its first, and from
    a view, among same-class distractors; on the scored split when its objects have two fits."""
    instance_data: tuple[str, ...] = ()
    """More datasets with two fits per object (e.g. the pybullet instance set) whose test split gets the
    same instance test; nothing is trained on them."""

    def __post_init__(self):
        check_choices(self)


def load_run(run: str | Path, device: torch.device) -> tuple[DualEncoder, SSLConfig]:
    """The trained model of an SSL run folder (eval mode) and its config."""
    saved = json.loads((Path(run) / "config.json").read_text())["config"]
    config = override_dataclass(SSLConfig(), saved, str(run))
    probe = ClassificationDataset(config.dataset, "train", config.sample)
    model = DualEncoder(config.model, probe[0].gaussians.shape[-1])
    load_checkpoint(Path(run) / "checkpoints" / "last.pt", {"model": model}, map_location=device)
    return model.to(device).eval(), config


def _roles(eval_config: EvalConfig) -> dict[str, str | None]:
    """Which dataset split plays each role: train (probes fit), val (probes' C) and test (scored). With
    ``score_split='val'`` the val split is scored, C comes from cross-validation on train, and the test
    split is never read."""
    if eval_config.score_split == "val":
        return {"train": "train", "val": None, "test": "val"}
    return {"train": "train", "val": "val", "test": "test"}


def _empty_like(e: Embeddings) -> Embeddings:
    return Embeddings([], e.labels[:0], e.views[:0], e.gaussians[:0])


def _split_embeddings(
    model, config: SSLConfig, eval_config: EvalConfig, device, heldout: bool = True
) -> dict[str, Embeddings]:
    """Embeddings by role (train, val, test; see :func:`_roles`)."""
    out = {}
    for role, split in _roles(eval_config).items():
        if split is None:
            continue
        out[role] = compute_embeddings(
            model,
            ClassificationDataset(config.dataset, split, config.sample),
            memory=eval_config.memory and role == "test",
            heldout=heldout and role == "test",
            device=device,
            render=eval_config.render,
        )
    out.setdefault("val", _empty_like(out["train"]))
    return out


def _pretext(model: DualEncoder, test: Embeddings, draws: int, device) -> RunFigures:
    """Correspondence metrics on the study's 2:1 and on balanced pairs, and paired distances (test split);
    the probes and baselines are added to the figures later."""
    with torch.no_grad():  # the losses and the head work on the projections (identity without them)
        views, gauss = model.project(
            torch.from_numpy(test.views).to(device), torch.from_numpy(test.gaussians).to(device)
        )
    projected_views = views.cpu().numpy()
    views = views[:, :2]
    o = views.shape[0]
    by_mode = {}
    for mode in ("study", "balanced"):
        draws_of_mode = []
        for draw in range(draws):
            pairs = make_pairs(o, 2, mode, torch.Generator().manual_seed(draw))
            with torch.no_grad():
                logits = model.head(views.reshape(o * 2, -1)[pairs.image_index], gauss[pairs.gaussian_index])
            m = correspondence_metrics(logits.cpu().numpy(), pairs.target.numpy())
            draws_of_mode.append((m.accuracy, m.balanced_accuracy, m.roc_auc, m.always_yes_accuracy))
        by_mode[mode] = PairFigures(*(float(np.nanmean(column)) for column in zip(*draws_of_mode)))
    d = paired_distances(projected_views)
    return RunFigures(by_mode["study"], by_mode["balanced"], d.positive_mean, d.negative_mean)


def _probe(train_x, train_y, val_x, val_y, test_x, test_y, fraction: float, seed: int = 0):
    """A linear probe on a (seeded, class-stratified) share of the training labels, and its per-object
    test correctness [N] (0/1)."""
    keep = label_subset(train_y, fraction, seed) if fraction < 1.0 else np.arange(len(train_y))
    probe = fit_linear_probe(train_x[keep], train_y[keep], val_x, val_y, seed=seed)
    return probe, (probe.predict(test_x) == test_y).astype(int)


@dataclass
class BundleProbe:
    """The image probe a bundle exports: the 100 %-label probe on the first ``pool`` views, max-pooled."""

    probe: LinearProbe
    pool: int


def _figure(source, features, views, fraction, correct) -> ProbeFigure:
    return ProbeFigure(features, views, fraction, float(np.mean(correct)), correct.tolist(), source)


def probe_figures(
    e: dict[str, Embeddings], config: EvalConfig, seed: int, source: str = "ssl"
) -> list[ProbeFigure]:
    """Every linear probe's test accuracy on one source of embeddings: Gaussians, and image pools of each
    view count (seeded random subsets below all views)."""
    tr, va, te = e["train"], e["val"], e["test"]
    figures, n = [], tr.views.shape[1]
    for fraction in config.label_fractions:
        xs = (tr.gaussians, tr.labels, va.gaussians, va.labels, te.gaussians, te.labels)
        figures.append(_figure(source, "gaussians", 0, fraction, _probe(*xs, fraction, seed)[1]))
        for count in [c for c in config.view_counts if c <= n]:
            pooled = [pool_views(x.views, count, seed=None if count == n else seed) for x in (tr, va, te)]
            xs = (pooled[0], tr.labels, pooled[1], va.labels, pooled[2], te.labels)
            figures.append(_figure(source, "views", count, fraction, _probe(*xs, fraction, seed)[1]))
    return figures


def descriptor_figures(config: SSLConfig, eval_config: EvalConfig, seed: int) -> list[ProbeFigure]:
    """Probes on the hand-made descriptor of each object's Gaussians, as given and yaw-invariant."""
    figures = []
    roles = _roles(eval_config)
    sets = {r: ClassificationDataset(config.dataset, s, config.sample) for r, s in roles.items() if s}
    labels = {r: np.array([d.label(i) for i in range(len(d))]) for r, d in sets.items()}
    labels.setdefault("val", labels["train"][:0])
    for source, invariant in (("descriptor", False), ("descriptor_yaw", True)):
        x = {r: descriptor_features(d, invariant) for r, d in sets.items()}
        x.setdefault("val", x["train"][:0])
        for fraction in eval_config.label_fractions:
            xs = (x["train"], labels["train"], x["val"], labels["val"], x["test"], labels["test"])
            figures.append(_figure(source, "gaussians", 0, fraction, _probe(*xs, fraction, seed)[1]))
    return figures


def _bundle_probe(e: dict[str, Embeddings], config: EvalConfig) -> BundleProbe | None:
    """The exported image probe: all labels, pools of the first ``count`` views (the largest count), which
    is what online recognition renders (the first poses of the bundle's spiral)."""
    tr, va, te = e["train"], e["val"], e["test"]
    counts = [c for c in config.view_counts if c <= tr.views.shape[1]]
    if not counts:
        return None
    pooled = [pool_views(x.views, max(counts)) for x in (tr, va, te)]
    probe, _ = _probe(pooled[0], tr.labels, pooled[1], va.labels, pooled[2], te.labels, 1.0)
    return BundleProbe(probe, max(counts))


def _memory_figures(tr: Embeddings, va: Embeddings, te: Embeddings) -> MemoryFigures:
    """The study's memory-based vision with matched pools: each test pool (v memory views at the training
    poses; h memory or real views at held-out poses) is classified by a probe (all labels) trained on pools of
    as many real training views (all of them, or a seeded random subset of each object's). A probe trained on
    16-view pools and tested on 4-view pools measures the pool-size mismatch more than the views (issue 14
    measured 95 % → 30 % at equal poses)."""

    def probe(n: int):
        # A seeded random n-subset per object: the first n views of the spiral would all sit near its start.
        n, seed = min(n, tr.views.shape[1]), None if n >= tr.views.shape[1] else 0
        pooled = [pool_views(x.views, n, seed=seed) for x in (tr, va, te)]
        return _probe(pooled[0], tr.labels, pooled[1], va.labels, pooled[2], te.labels, 1.0)[0]

    v, h = te.memory_train.shape[1], te.memory_test.shape[1]
    train_poses, heldout_poses = probe(v), probe(h)
    return MemoryFigures(
        train_poses.accuracy(pool_views(te.memory_train, v), te.labels),
        heldout_poses.accuracy(pool_views(te.memory_test, h), te.labels),
        heldout_poses.accuracy(pool_views(te.heldout, h), te.labels),
    )


@dataclass
class EvalResult:
    """Per-run figures and the files written."""

    runs: list[RunFigures]
    results_md: Path
    metrics_json: Path
    bundle: Path | None


def evaluate(config: EvalConfig) -> EvalResult:
    """Evaluate every run of ``config.runs``; write results.md, metrics.json, figures and the bundle."""
    if not config.runs:
        raise ValueError("no runs to evaluate (give one SSL run folder per seed)")
    unknown = set(config.baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown baselines {sorted(unknown)}; expected some of {sorted(BASELINES)}")
    if (
        config.score_split == "val"
    ):  # the bundle and the baselines (which report test) come from the final run
        config = dataclasses.replace(config, bundle=False, baselines=())
    device = resolve_device(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    per_run, bundle_path = [], None
    for i, run in enumerate(config.runs):
        model, ssl_config = load_run(run, device)
        embeddings = _split_embeddings(model, ssl_config, config, device)
        figures = _pretext(model, embeddings["test"], config.pair_draws, device)
        figures.probes = probe_figures(embeddings, config, seed=i)
        if embeddings["test"].memory_train is not None:
            figures.memory = _memory_figures(*(embeddings[s] for s in ("train", "val", "test")))
        controls = None
        if config.controls:
            controls = _add_controls(figures, model, embeddings, ssl_config, config, seed=i, device=device)
        if config.instance:
            figures.instance = _instance(model, controls, ssl_config, config, seed=i, device=device)
        figures.supervised_correct = _baselines(ssl_config.dataset, config, seed=i)
        figures.supervised = {k: float(np.mean(v)) for k, v in figures.supervised_correct.items()}
        per_run.append(figures)
        if i == 0 and config.tsne:
            _tsne(embeddings, ssl_config, out)
        image_probe = _bundle_probe(embeddings, config) if i == 0 and config.bundle else None
        if image_probe is not None:
            bundle_path = _export(out / "bundle.pt", model, ssl_config, image_probe, run)
    metrics_json = out / "metrics.json"
    metrics = [dataclasses.asdict(r) for r in per_run]
    metrics_json.write_text(json.dumps({"runs": list(config.runs), "metrics": metrics}, indent=2) + "\n")
    results_md = out / "results.md"
    c = config
    results_md.write_text(
        results_markdown(
            per_run, c.runs, c.view_counts, c.label_fractions, c.baseline.point_arch, c.score_split
        )
    )
    return EvalResult(per_run, results_md, metrics_json, bundle_path)


def _add_controls(figures: RunFigures, model, embeddings, ssl_config, config: EvalConfig, seed: int, device):
    """The controls of one run (train/controls.py): probes on untrained encoders and on the hand-made
    descriptor; cross-modality of the run's head and of a head on frozen untrained encoders."""
    untrained = untrained_model(model, seed).to(device)
    plain = dataclasses.replace(config, memory=False)
    e = _split_embeddings(untrained, ssl_config, plain, device, heldout=False)
    figures.probes += probe_figures(e, config, seed, source="untrained")
    figures.probes += descriptor_figures(ssl_config, config, seed)
    model, untrained = model.cpu(), untrained.cpu()
    head = train_frozen_head(untrained, e["train"], steps=config.control_head_steps, seed=seed)
    figures.cross_modal = [
        cross_modal_figures(model, model.head, embeddings["test"], "ssl", seed),
        cross_modal_figures(untrained, head, e["test"], "untrained", seed),
    ]
    model.to(device)
    return untrained, head


def _instance(model, controls, ssl_config, config: EvalConfig, seed: int, device) -> list[InstanceFigures]:
    """The instance test on the scored split (when it has two fits per object) and on every
    ``instance_data`` test split, for the run, and with ``controls`` (untrained encoders and their head)
    for them too."""
    scored = _roles(config)["test"]
    sets = [(ssl_config.dataset, scored)] * has_two_fits(ssl_config.dataset, scored, ssl_config.sample)
    sets += [(d, "test") for d in config.instance_data]
    sources = [(model, model.head, "ssl")] + ([(*controls, "untrained")] if controls else [])
    out = []
    for dataset, split in sets:
        for encoders, head, source in sources:
            out += instance_figures(encoders, head, dataset, split, ssl_config.sample, source, seed, device)
        if controls:
            out.append(descriptor_instance_figures(dataset, split, ssl_config.sample, seed))
    return out


BASELINES = {"pointnet": train_point_baseline, "mvcnn": train_mvcnn_baseline}


def _baselines(dataset: str, config: EvalConfig, seed: int) -> dict[str, list[int]]:
    """Per-object test correctness of each supervised baseline (same splits; the checkpoint with the best val
    accuracy)."""
    baseline = dataclasses.replace(config.baseline, seed=seed)
    return {name: BASELINES[name](dataset, baseline).test_correct for name in config.baselines}


def _tsne(e: dict[str, Embeddings], config: SSLConfig, out: Path) -> None:
    names = ClassificationDataset(config.dataset, "train", config.sample).class_names
    labels = np.concatenate([e["train"].labels, e["test"].labels])
    views = np.concatenate([e["train"].views, e["test"].views])
    tsne_plot(views[:, 0], labels, names, out / "tsne_images_1view.png", "image features, 1 view")
    tsne_plot(
        views.max(axis=1), labels, names, out / "tsne_images_all_views.png", "image features, all views"
    )
    gauss = np.concatenate([e["train"].gaussians, e["test"].gaussians])
    tsne_plot(gauss, labels, names, out / "tsne_gaussians.png", "Gaussian features")


def _export(path: Path, model: DualEncoder, config: SSLConfig, image_probe: BundleProbe, run: str) -> Path:
    dataset = ClassificationDataset(config.dataset, "train", config.sample)
    h, w = dataset[0].views.shape[-2:]
    view = json.loads((Path(config.dataset) / "dataset.json").read_text())["config"]["view"]
    views = ViewSpec(
        fov_deg=view["fov_deg"],
        radius=view["radius"],
        elevation_deg=tuple(view["elevation_range"]),
        turns=view["turns"],
        spiral=view["n_train"],
        pool=image_probe.pool,
    )  # the probe pooled the first views of the dataset's training spiral
    spec = FeatureSpec.from_configs(
        config.sample, (int(h), int(w)), tuple(float(x) for x in dataset.background), views=views
    )
    probe = image_probe.probe
    classifier = LinearClassifier.from_sklearn("image", probe.mean, probe.scale, probe.coef, probe.intercept)
    train_config = json.loads((Path(run) / "config.json").read_text())
    return save_bundle(path, model, spec, dataset.class_names, classifier, train_config)
