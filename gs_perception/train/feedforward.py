"""Training of the feed-forward Gaussian predictor (models/splatter.py) with render losses, resumable exactly.

One step: B objects of the train split; for each, n random training-pose views go in (n drawn per step from
``input_views``) and ``target_views`` other views of the same object are the targets. The predictor turns
the inputs into per-pixel Gaussians in the world frame, fuses each object's views into one cloud, renders it
at the target poses with the project's renderer (gsplat on CUDA, the C++ kernel on CPU) composited on the
dataset's background, and the loss is ``(1 - λ)·L1 + λ·(1 - SSIM)`` against the target images (L2 on
request), plus two terms that use what a rendered dataset knows besides colour (weights in ``FFConfig.loss``;
both 0 gives Splatter Image's loss): the rendered coverage against the targets' masks, and the input
pixels' Gaussians against the surface points of the input views' depth maps. On a CPU budget they make the
geometry come first (docs/feedforward.md); the prediction itself only ever sees RGB.

Determinism: the object order of epoch e comes from a generator seeded with (seed, 0, e); the input count
and each object's views of step s from (seed, 1, s); the model has no dropout, and the C++ rasteriser's
backward is bitwise reproducible. A checkpoint holds model, optimiser, schedule, position and RNG states, so
``--resume`` takes exactly the step an uninterrupted run would take next (a test holds this).

Validation (before the first step, then every ``val_every`` steps and at the end): one training-pose view
in, the held-out poses as targets, on the ``val_objects`` objects of the val split. Output folder as
train-ssl's: ``config.json`` (resolved config + provenance), ``metrics.csv``, TensorBoard events in ``tb/``
when available, ``checkpoints/last.pt``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ..config import override_dataclass
from ..core.choices import check_choices
from ..core.render import RenderConfig
from ..core.runtime import resolve_device, seeded_generator
from ..models.splatter import LEGACY_FIELDS, SplatterConfig, SplatterImage
from ..models.splatter_file import PredictorInfo, save_predictor
from ..provenance import provenance
from .checkpoint import TrainPosition, load_checkpoint, save_checkpoint
from .ff_data import ObjectViews, Views, ball_fraction, draw_views, load_objects
from .ff_loss import FFLossConfig, RenderLoss, ff_loss, object_depth_range
from .metric_log import MetricLog, tensorboard_writer

PREDICTOR_FILE = "predictor.pt"


@dataclass(frozen=True)
class FFConfig:
    """One training run of the feed-forward predictor (defaults: the CPU recipe for 64² objects)."""

    dataset: str = ""
    """Generated dataset folder (manifest.jsonl, objects/)."""
    out: str = "runs/ff"
    """Run folder: config.json, metrics.csv, tb/, checkpoints/."""
    model: SplatterConfig = SplatterConfig()
    """The predictor's architecture and output parameterisation."""
    input_views: tuple[int, ...] = (1, 1, 1, 2)
    """Input view counts; each step draws one of them, uniformly, for all its objects, so a repeated count
    weighs more. Multi-view fusion is trained with the counts above 1; a single-view step costs about two
    thirds of a 2-view one, so the default's three single-view steps in four buy more steps in the same time
    (and train the first glimpse most)."""
    target_views: int = 3
    """Other views of the same object each prediction is rendered at and compared with."""
    batch_size: int = 4
    """Objects per step."""
    steps: int = 26000
    """Optimiser steps in total (the learning-rate schedule spans them)."""
    max_steps: int = 0
    """Stop after this many steps in total (0: run all steps); a later --resume continues."""
    lr: float = 2e-3
    """Peak Adam learning rate."""
    warmup_steps: int = 200
    """Linear warm-up from 0 to lr; then cosine decay to 1 % of lr at the last step."""
    weight_decay: float = 0.0
    """Adam L2 weight decay."""
    grad_clip: float = 1.0
    """Clip the gradient norm to this (0: no clipping)."""
    loss: FFLossConfig = FFLossConfig()
    """The loss terms and their weights."""
    object_radius: float = 1.0
    """Radius of the ball around the world origin that holds every object (generated datasets normalise
    objects into the unit sphere): it sets each view's depth range."""
    max_objects: int = 0
    """Train on this many train objects only, evenly spaced over the classes (0: all)."""
    val_every: int = 500
    """Validate every this many steps (and at the end; 0: only at the end)."""
    val_objects: int = 24
    """Val-split objects scored at each validation, evenly spaced over the classes (0: skip validation)."""
    checkpoint_every: int = 250
    """Checkpoint every this many steps (and at the end)."""
    time_limit_min: float = 0.0
    """Stop (with a checkpoint) after this many minutes of this invocation; --resume continues (0: none)."""
    seed: int = 0
    """Seed of initialisation, object order and view draws."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    render: RenderConfig = RenderConfig()
    """The rasteriser of the loss renders."""

    def __post_init__(self):
        check_choices(self)
        if not self.input_views or min(self.input_views) < 1 or self.target_views < 1 or self.batch_size < 1:
            raise ValueError("input_views must be positive counts; target_views and batch_size ≥ 1")


@dataclass(frozen=True)
class MetricRow:
    """One row of metrics.csv (and TensorBoard): a training step, or a validation."""

    split: Literal["train", "val"]
    epoch: int
    step: int
    """Optimiser steps taken so far."""
    loss: float
    """The total: image + alpha_weight·alpha + surface_weight·surface."""
    image: float
    """(1 - λ)·L + λ·(1 - SSIM) of the renders (L: the image_loss)."""
    alpha: float
    """L1 of the rendered coverage against the target masks."""
    surface: float
    """Mean L1 distance (object radii) of covered input pixels' Gaussians from their surface points."""
    psnr: float
    """PSNR (dB) of the renders against their targets (mean over objects)."""
    ssim: float
    input_views: int
    """Input views per object (validation: 1)."""
    lr: float
    seconds: float
    """Wall time of the step (or of the validation pass)."""


METRIC_FIELDS = tuple(f.name for f in dataclasses.fields(MetricRow))
SCALARS = ("loss", "image", "alpha", "surface", "psnr", "ssim", "lr")
"""The fields also logged to TensorBoard."""


@dataclass
class FFRunResult:
    """What :func:`train_ff` leaves behind."""

    out: Path
    position: TrainPosition
    checkpoint: Path
    last_train: MetricRow | None
    last_val: MetricRow | None
    resumed_from: int | None


class FFTrainer:
    """Data, model, optimiser and schedule of one run; :func:`train_ff` drives it (tests use it directly)."""

    def __init__(self, config: FFConfig, show_progress: bool = False):
        self.config, self.show_progress = config, show_progress
        self.out = Path(config.out)
        self.device = resolve_device(config.device)
        self.backend = config.render.resolve(self.device)
        torch.manual_seed(config.seed)
        self.train_set = load_objects(config.dataset, "train", config.max_objects, show_progress)
        n_views = self.train_set.train.num_views
        if max(config.input_views) + config.target_views > n_views:
            raise ValueError(
                f"{max(config.input_views)} input + {config.target_views} target views need more than "
                f"the {n_views} training views per object of {config.dataset}"
            )
        if len(self.train_set) < config.batch_size:
            raise ValueError(f"{config.dataset}: {len(self.train_set)} train objects < batch_size")
        self.val_set = _val_split(config)
        self.model = SplatterImage(config.model).to(self.device)
        # fused: one kernel over every parameter tensor instead of a handful of small ops each
        self.optimiser = torch.optim.Adam(
            self.model.parameters(), config.lr, weight_decay=config.weight_decay, fused=True
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimiser, _schedule(config))
        self.steps_per_epoch = len(self.train_set) // config.batch_size
        self.position = TrainPosition()

    @property
    def modules(self) -> dict:
        return {"model": self.model, "optimiser": self.optimiser, "scheduler": self.scheduler}

    def batch_objects(self) -> list[int]:
        """Objects of the next step: the current epoch's seeded order, cut into batches."""
        pos, size = self.position, self.config.batch_size
        order = torch.randperm(
            len(self.train_set), generator=seeded_generator(self.config.seed, 0, pos.epoch)
        )
        return order[pos.batch_in_epoch * size : (pos.batch_in_epoch + 1) * size].tolist()

    def batch(self, objects: list[int], step: int) -> tuple[int, list[tuple[Views, Views]]]:
        """(input count, per object (input views, target views)) of a step, drawn from (seed, step)."""
        generator = seeded_generator(self.config.seed, 1, step)
        choices = self.config.input_views
        n_in = choices[int(torch.randint(len(choices), (1,), generator=generator))]
        n_views = self.train_set.train.num_views
        pairs = []
        for obj in objects:
            inputs, targets = draw_views(n_views, n_in, self.config.target_views, generator)
            pairs.append((self.train_set.views(obj, inputs), self.train_set.views(obj, targets)))
        return n_in, pairs

    def losses(self, pairs: list[tuple[Views, Views]]) -> RenderLoss:
        """The loss of a batch of (inputs, targets) pairs; all inputs go through the U-Net as one batch."""
        n_in = pairs[0][0].rgb.shape[0]
        inputs = [v for v, _ in pairs]
        T = torch.cat([v.T_world_cam for v in inputs]).to(self.device)
        gaussians = self.model(
            torch.cat([v.rgb for v in inputs]).to(self.device),
            torch.cat([v.K for v in inputs]).to(self.device),
            T,
            object_depth_range(T, self.config.object_radius),
        )
        batch = [(gaussians.select(range(i * n_in, (i + 1) * n_in)), v, t) for i, (v, t) in enumerate(pairs)]
        return ff_loss(batch, self.config.loss, self.config.object_radius, self.backend)

    def train_step(self) -> MetricRow:
        """One optimiser step on the next batch."""
        n_in, pairs = self.batch(self.batch_objects(), self.position.step)
        return self.optimise(pairs, n_in)

    def optimise(self, pairs: list[tuple[Views, Views]], n_in: int) -> MetricRow:
        """One optimiser step on a given batch, advancing the position."""
        self.model.train()
        start = time.perf_counter()
        out = self.losses(pairs)
        self.optimiser.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip, foreach=True)
        self.optimiser.step()
        lr = self.optimiser.param_groups[0]["lr"]
        self.scheduler.step()
        pos = self.position
        pos.step += 1
        pos.batch_in_epoch += 1
        if pos.batch_in_epoch >= self.steps_per_epoch:
            pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
        return _row("train", pos, out, n_in, lr, time.perf_counter() - start)

    @torch.no_grad()
    def validate(self) -> MetricRow | None:
        """One training-pose view in (a fixed draw per object), the held-out poses as targets."""
        if self.val_set is None:
            return None
        self.model.eval()
        start, pairs = time.perf_counter(), []
        held_out = range(self.val_set.test.num_views)
        for obj in range(len(self.val_set)):
            draw = seeded_generator(self.config.seed, 2, obj)
            first = int(torch.randint(self.val_set.train.num_views, (1,), generator=draw))
            pairs.append((self.val_set.views(obj, [first]), self.val_set.views(obj, held_out, True)))
        out = self.losses(pairs)
        lr = self.optimiser.param_groups[0]["lr"]
        return _row("val", self.position, out, 1, lr, time.perf_counter() - start)

    def save(self, row: MetricRow | None) -> Path:
        """The checkpoint (resume), then ``<out>/predictor.pt`` (the file the online pipeline loads)."""
        info = {"provenance": provenance(), "last_metrics": None if row is None else dataclasses.asdict(row)}
        config = json.loads(json.dumps(dataclasses.asdict(self.config)))
        checkpoint = save_checkpoint(
            self.out / "checkpoints" / "last.pt", self.modules, self.position, config, info
        )
        save_predictor(self.out / PREDICTOR_FILE, self.model, self.predictor_info())
        return checkpoint

    def predictor_info(self) -> PredictorInfo:
        views = self.train_set.train
        width, height = views.rgb.shape[3], views.rgb.shape[2]
        background = tuple(float(c) for c in self.train_set.background.tolist())
        radius = self.config.object_radius
        return PredictorInfo((int(width), int(height)), background, radius, ball_fraction(views, radius))


def _val_split(config: FFConfig) -> ObjectViews | None:
    if not config.val_objects:
        return None
    try:
        val = load_objects(config.dataset, "val", config.val_objects)
    except ValueError:  # a dataset without a val split trains without validation
        return None
    return val if val.test.num_views else None


def _schedule(config: FFConfig):
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _row(split: str, pos: TrainPosition, out: RenderLoss, n_in: int, lr: float, seconds: float) -> MetricRow:
    return MetricRow(
        split=split,
        epoch=pos.epoch,
        step=pos.step,
        loss=round(float(out.loss.detach()), 6),
        image=round(out.image, 6),
        alpha=round(out.alpha, 6),
        surface=round(out.surface, 6),
        psnr=round(out.psnr, 4),
        ssim=round(out.ssim, 4),
        input_views=n_in,
        lr=lr,
        seconds=round(seconds, 3),
    )


def train_ff(config: FFConfig, resume: bool = False, show_progress: bool = True) -> FFRunResult:
    """Train (or, with ``resume``, continue) the feed-forward predictor; see the module docstring.

    Returns:
        :class:`FFRunResult` with the final position, the checkpoint and the last metrics rows.
    """
    run = FFTrainer(config, show_progress)
    run.out.mkdir(parents=True, exist_ok=True)
    checkpoint = run.out / "checkpoints" / "last.pt"
    resumed_from = None
    if resume and checkpoint.exists():
        _check_same_model(saved_config(run.out).model, config.model, run.out)
        run.position, _ = load_checkpoint(checkpoint, run.modules, map_location=run.device)
        resumed_from = run.position.step
        print(f"resuming from {checkpoint} at step {resumed_from}", file=sys.stderr)
    record = {"config": json.loads(json.dumps(dataclasses.asdict(config))), "provenance": provenance()}
    (run.out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    tb = tensorboard_writer(run.out / "tb")
    log = MetricLog(run.out / "metrics.csv", METRIC_FIELDS, SCALARS, resumed_from if resume else None, tb)
    try:
        last_train, last_val = _loop(run, log)
    finally:
        if tb is not None:
            tb.close()
    return FFRunResult(
        run.out, run.position, run.save(last_val or last_train), last_train, last_val, resumed_from
    )


def _loop(run: FFTrainer, log: MetricLog) -> tuple[MetricRow | None, MetricRow | None]:
    config, pos = run.config, run.position
    last_train = last_val = None
    bar = None
    last_step = min(config.steps, config.max_steps) if config.max_steps else config.steps
    if run.show_progress and pos.step < last_step:
        from tqdm import tqdm

        bar = tqdm(total=last_step, initial=pos.step, desc="train-ff", unit="step", dynamic_ncols=True)
    start = time.perf_counter()
    if pos.step == 0 and pos.step < last_step:  # the untrained prediction: the bar training must clear
        last_val = run.validate()
        if last_val is not None:
            log.write(last_val)
    while pos.step < last_step:
        last_train = run.train_step()
        log.write(last_train)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=last_train.loss, psnr=last_train.psnr, views=last_train.input_views)
        finished = pos.step >= last_step
        out_of_time = config.time_limit_min and time.perf_counter() - start > 60.0 * config.time_limit_min
        if (config.val_every and pos.step % config.val_every == 0) or finished or out_of_time:
            last_val = run.validate()
            if last_val is not None:
                log.write(last_val)
                if bar is not None:
                    bar.write(f"step {pos.step}: val PSNR {last_val.psnr:.2f} dB, SSIM {last_val.ssim:.3f}")
        if config.checkpoint_every and pos.step % config.checkpoint_every == 0 and not finished:
            run.save(last_train)
        if out_of_time:
            print(f"time limit reached at step {pos.step}; --resume continues", file=sys.stderr)
            break
    if bar is not None:
        bar.close()
    return last_train, last_val


def _check_same_model(saved: SplatterConfig, wanted: SplatterConfig, out: Path) -> None:
    changed = [f.name for f in dataclasses.fields(saved) if getattr(saved, f.name) != getattr(wanted, f.name)]
    if changed:
        name = changed[0]
        raise ValueError(
            f"{out}: --resume with another architecture than the run's ({', '.join(changed)}); resume with "
            f"the run's settings, e.g. --model-{name.replace('_', '-')} {getattr(saved, name)}"
        )


def saved_config(run: str | Path) -> FFConfig:
    """The resolved config a train-ff run folder recorded (``config.json``)."""
    saved = json.loads((Path(run) / "config.json").read_text())["config"]
    saved["model"] = {**LEGACY_FIELDS, **saved.get("model", {})}
    return override_dataclass(FFConfig(), saved, str(run))


def load_ff_run(run: str | Path, device: torch.device | str = "cpu") -> tuple[SplatterImage, FFConfig]:
    """The trained predictor of a train-ff run folder (eval mode, on ``device``) and its config."""
    config = saved_config(run)
    model = SplatterImage(config.model)
    load_checkpoint(Path(run) / "checkpoints" / "last.pt", {"model": model}, map_location=device)
    return model.to(device).eval(), config
