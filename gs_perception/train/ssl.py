"""Self-supervised training of the dual encoders: L = L_cv + β·L_cm (docs/architecture.md §6), resumable
exactly.

One step: a batch of O objects, each with its sampled Gaussians and K ≥ 2 random views. Image embeddings of
every view, Gaussian embeddings of every object; the cross-view triplet loss uses views 0 and 1 of an object
as anchor and positive and view 0 of another object as negative; the correspondence loss scores (view,
Gaussians) pairs with the fusion head, balanced by default (the study's 2:1 mode on request).

Determinism: the object order of epoch e comes from a generator seeded with (seed, e); sampling and views
from (seed, e, index) (see train/datasets.py); pairs and triplet negatives from (seed, step); dropout from
the global torch RNG, whose state goes into every checkpoint. So ``--resume`` continues with exactly the
step an uninterrupted run would take next (a test holds this).

Output folder: ``config.json`` (resolved config + provenance), ``metrics.csv`` (one row per step and per
validation), TensorBoard events under ``tb/`` when the ``tensorboard`` package is installed, and
``checkpoints/last.pt`` (+ ``last.pt.json``) written every epoch and every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..core.choices import check_choices
from ..core.runtime import resolve_device, seeded_generator
from ..models.dual_encoder import DualEncoder, DualEncoderConfig
from ..models.losses import PAIR_MODES, SSLLossOutput, make_pairs, ssl_losses
from ..provenance import provenance
from .checkpoint import TrainPosition, load_checkpoint, save_checkpoint
from .datasets import SampleConfig, SSLDataset, collate
from .metric_log import MetricLog, tensorboard_writer


@dataclass(frozen=True)
class MetricRow:
    """One row of metrics.csv (and TensorBoard): a training step, or the validation means after an epoch."""

    split: Literal["train", "val"]
    epoch: int
    step: int
    """Optimiser steps taken so far."""
    loss: float
    """L = L_cv + β·L_cm (+ γ·L_nce)."""
    triplet: float
    """The cross-view triplet loss L_cv."""
    correspondence: float
    """The cross-modality correspondence loss L_cm."""
    cm_accuracy: float
    """Correspondence accuracy of the fusion head on the batch's pairs."""
    infonce: float
    """The symmetric InfoNCE term L_nce (0 when infonce_weight is 0)."""
    lr: float
    seconds: float
    """Wall time of the step (or of the validation pass)."""


METRIC_FIELDS = tuple(f.name for f in dataclasses.fields(MetricRow))
SCALARS = ("loss", "triplet", "correspondence", "cm_accuracy", "infonce", "lr")
"""The fields also logged to TensorBoard."""
"""metrics.csv's columns, in order."""


@dataclass(frozen=True)
class SSLConfig:
    """One self-supervised training run (defaults: the study's settings, docs/architecture.md §6)."""

    dataset: str = ""
    """Generated dataset folder (manifest.jsonl, objects/)."""
    out: str = "runs/ssl"
    """Run folder: config, metrics.csv, tb/, checkpoints/."""
    sample: SampleConfig = SampleConfig()
    """What a sample holds: Gaussians per object, feature groups, views per object (K ≥ 2)."""
    model: DualEncoderConfig = DualEncoderConfig()
    """Encoders and fusion head."""
    beta: float = 3.0
    """Weight β of the correspondence loss (study: 3)."""
    margin: float = 0.5
    """Triplet margin (on L2-normalised embeddings unless model.normalise_embeddings is false)."""
    infonce_weight: float = 0.0
    """Weight γ of a symmetric InfoNCE term between views and their object's Gaussians with in-batch
    negatives (0: the study's losses only). Needs equal embedding widths: set model.projection_dim."""
    temperature: float = 0.1
    """InfoNCE softmax temperature."""
    pair_mode: Literal["balanced", "study"] = "balanced"
    """Correspondence pairs: 'balanced' (1:1) or 'study' (2:1 positives, an always-yes head scores 66.7 %)."""
    optimiser: Literal["sgd", "adam"] = "sgd"
    """'sgd' (study: lr 1e-3, momentum 0.9) or 'adam'."""
    lr: float = 1e-3
    """Initial learning rate."""
    momentum: float = 0.9
    """SGD momentum."""
    weight_decay: float = 0.0
    """L2 weight decay."""
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning-rate schedule over all steps: 'cosine' (to 1 % of lr) or 'constant'."""
    epochs: int = 100
    """Passes over the train split (study: 100)."""
    batch_size: int = 32
    """Objects per step (study: 32); at least 2 (triplets need a negative object)."""
    max_steps: int = 0
    """Stop after this many steps in total (0 = run all epochs); a later --resume continues."""
    checkpoint_every: int = 0
    """Also checkpoint every this many steps (0 = at epoch ends only)."""
    num_workers: int = 0
    """DataLoader worker processes."""
    seed: int = 0
    """Seed of initialisation, data order, sampling and pairs."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""
    amp: bool = True
    """bfloat16 autocast on CUDA (ignored on CPU)."""

    def __post_init__(self):
        check_choices(self)


@dataclass
class SSLRunResult:
    """What :func:`train_ssl` leaves behind."""

    out: Path
    position: TrainPosition
    checkpoint: Path
    last_train: MetricRow | None
    """None when no step was left to run (a resumed, finished run)."""
    last_val: MetricRow | None
    resumed_from: int | None


class SSLTrainer:
    """Data, model, optimiser and schedule of one run; :func:`train_ssl` drives it (tests use it directly)."""

    def __init__(self, config: SSLConfig, show_progress: bool):
        if config.batch_size < 2 or config.sample.views_per_sample < 2:
            raise ValueError("batch_size and sample.views_per_sample must both be ≥ 2 (triplets need them)")
        if config.pair_mode not in PAIR_MODES:
            raise ValueError(f"unknown pair_mode {config.pair_mode!r}; expected one of {PAIR_MODES}")
        if config.infonce_weight > 0 and config.model.projection_dim <= 0:
            raise ValueError(
                "infonce_weight > 0 compares image and Gaussian embeddings directly: set "
                "model.projection_dim > 0 so both sides share one width"
            )
        self.config, self.show_progress = config, show_progress
        self.out = Path(config.out)
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        self.train_set = SSLDataset(config.dataset, "train", config.sample)
        if len(self.train_set) < config.batch_size:
            raise ValueError(
                f"{config.dataset}: {len(self.train_set)} train objects < batch_size {config.batch_size}"
            )
        self.val_set = _optional_split(config.dataset, "val", config.sample)
        in_channels = self.train_set[0].gaussians.shape[-1]
        self.model = DualEncoder(config.model, in_channels).to(self.device)
        self.optimiser = _optimiser(self.model, config)
        self.steps_per_epoch = len(self.train_set) // config.batch_size  # drop_last: every batch has ≥ 2
        total = max(1, self.steps_per_epoch * config.epochs)
        self.scheduler = _scheduler(self.optimiser, config, total)
        self.position = TrainPosition()
        self.tb = tensorboard_writer(self.out / "tb")

    @property
    def modules(self) -> dict:
        return {"model": self.model, "optimiser": self.optimiser, "scheduler": self.scheduler}

    def batches(self, epoch: int) -> list[list[int]]:
        order = torch.randperm(
            len(self.train_set), generator=seeded_generator(self.config.seed, epoch)
        ).tolist()
        size = self.config.batch_size
        return [order[i * size : (i + 1) * size] for i in range(self.steps_per_epoch)]

    def losses(self, batch, draw: tuple[int, ...]) -> SSLLossOutput:
        """Loss terms of a batch; pairs and triplet negatives come from a generator seeded with ``draw``."""
        o, k = batch.views.shape[:2]
        autocast = torch.autocast(
            "cuda", torch.bfloat16, enabled=self.device.type == "cuda" and self.config.amp
        )
        generator = seeded_generator(self.config.seed, *draw)
        with autocast:
            image_emb = self.model.embed_views(batch.views.to(self.device)).reshape(o * k, -1)
            gaussian_emb = self.model.embed_gaussians(batch.gaussians.to(self.device))
            image_emb, gaussian_emb = self.model.project(image_emb, gaussian_emb)
            pairs = make_pairs(o, k, self.config.pair_mode, generator)
            pairs = dataclasses.replace(
                pairs,
                **{f: getattr(pairs, f).to(self.device) for f in ("image_index", "gaussian_index", "target")},
            )
            return ssl_losses(
                image_emb.float(),
                gaussian_emb.float(),
                self.model.head,
                pairs,
                self.config.beta,
                self.config.margin,
                self.config.model.normalise_embeddings,
                generator,
                self.config.infonce_weight,
                self.config.temperature,
            )

    def train_step(self, batch) -> MetricRow:
        self.model.train()
        start = time.perf_counter()
        out = self.losses(batch, (1, self.position.step))
        self.optimiser.zero_grad(set_to_none=True)
        out.total.backward()
        self.optimiser.step()
        lr = self.optimiser.param_groups[0]["lr"]
        self.scheduler.step()
        self.position.step += 1
        return _row("train", self.position, out, lr, time.perf_counter() - start)

    @torch.no_grad()
    def validate(self) -> MetricRow | None:
        """Mean losses over the val split (fixed draws: epoch 0, pairs seeded per batch)."""
        if self.val_set is None or len(self.val_set) < 2:
            return None
        self.model.eval()
        start, rows = time.perf_counter(), []
        ids = list(range(len(self.val_set)))
        for b in range(0, len(ids) - 1, self.config.batch_size):
            chunk = ids[b : b + self.config.batch_size]
            if len(chunk) < 2:
                break
            rows.append(self.losses(collate([self.val_set[i] for i in chunk]), (2, b)))
        mean = {
            f: float(torch.stack([getattr(r, f) for r in rows]).mean()) for f in SSLLossOutput.__annotations__
        }
        out = SSLLossOutput(**{k: torch.tensor(v) for k, v in mean.items()})
        return _row(
            "val", self.position, out, self.optimiser.param_groups[0]["lr"], time.perf_counter() - start
        )

    def save(self, row: MetricRow | None) -> Path:
        info = {"provenance": provenance(), "last_metrics": None if row is None else dataclasses.asdict(row)}
        config = json.loads(json.dumps(dataclasses.asdict(self.config)))
        return save_checkpoint(
            self.out / "checkpoints" / "last.pt", self.modules, self.position, config, info
        )


def _optional_split(root: str, split: str, sample: SampleConfig) -> SSLDataset | None:
    dataset = SSLDataset(root, split, sample)
    return dataset if len(dataset) else None


def _optimiser(model: torch.nn.Module, config: SSLConfig) -> torch.optim.Optimizer:
    if config.optimiser == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimiser == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimiser {config.optimiser!r}; expected 'sgd' or 'adam'")


def _scheduler(optimiser, config: SSLConfig, total_steps: int):
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, total_steps, eta_min=0.01 * config.lr)
    if config.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda _: 1.0)
    raise ValueError(f"unknown schedule {config.schedule!r}; expected 'cosine' or 'constant'")


def _row(split: str, position: TrainPosition, out: SSLLossOutput, lr: float, seconds: float) -> MetricRow:
    return MetricRow(
        split=split,
        epoch=position.epoch,
        step=position.step,
        loss=round(float(out.total.detach()), 6),
        triplet=round(float(out.triplet.detach()), 6),
        correspondence=round(float(out.correspondence.detach()), 6),
        cm_accuracy=round(float(out.correspondence_accuracy.detach()), 4),
        infonce=round(float(out.infonce.detach()), 6),
        lr=lr,
        seconds=round(seconds, 3),
    )


def train_ssl(config: SSLConfig, resume: bool = False, show_progress: bool = True) -> SSLRunResult:
    """Train (or, with ``resume``, continue) the dual encoders; see the module docstring.

    Returns:
        :class:`SSLRunResult` with the final position, the checkpoint path and the last metrics rows.
    """
    run = SSLTrainer(config, show_progress)
    run.out.mkdir(parents=True, exist_ok=True)
    checkpoint = run.out / "checkpoints" / "last.pt"
    resumed_from = None
    if resume and checkpoint.exists():
        run.position, _ = load_checkpoint(checkpoint, run.modules, map_location=run.device)
        resumed_from = run.position.step
        print(
            f"resuming from {checkpoint} at step {resumed_from} (epoch {run.position.epoch})", file=sys.stderr
        )
    record = {"config": json.loads(json.dumps(dataclasses.asdict(config))), "provenance": provenance()}
    (run.out / "config.json").write_text(json.dumps(record, indent=2) + "\n")
    log = MetricLog(run.out / "metrics.csv", METRIC_FIELDS, SCALARS, resumed_from if resume else None, run.tb)
    last_train, last_val = _loop(run, log)
    path = run.save(last_train)
    if run.tb is not None:
        run.tb.close()
    return SSLRunResult(run.out, run.position, path, last_train, last_val, resumed_from)


def _loop(run: SSLTrainer, log: MetricLog) -> tuple[MetricRow | None, MetricRow | None]:
    config, pos = run.config, run.position
    last_train, last_val = None, None
    bar = _progress(run, config.epochs * run.steps_per_epoch - pos.step)
    while pos.epoch < config.epochs:
        run.train_set.set_epoch(pos.epoch)
        batches = run.batches(pos.epoch)[pos.batch_in_epoch :]
        # An explicit generator: by default each new DataLoader iterator draws its worker seed from the
        # global RNG, and a resumed run creates one more iterator than an uninterrupted one.
        loader = torch.utils.data.DataLoader(
            run.train_set,
            batch_sampler=batches,
            collate_fn=collate,
            num_workers=config.num_workers,
            generator=seeded_generator(config.seed, pos.epoch, 2),
        )
        for batch in loader:
            last_train = run.train_step(batch)
            pos.batch_in_epoch += 1
            log.write(last_train)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=last_train.loss, cm_acc=last_train.cm_accuracy, epoch=pos.epoch)
            if config.checkpoint_every and pos.step % config.checkpoint_every == 0:
                run.save(last_train)
            if config.max_steps and pos.step >= config.max_steps:
                return last_train, last_val
        pos.epoch, pos.batch_in_epoch = pos.epoch + 1, 0
        last_val = run.validate()
        if last_val is not None:
            log.write(last_val)
        run.save(last_val or last_train)
    if bar is not None:
        bar.close()
    return last_train, last_val


def _progress(run: SSLTrainer, total: int):
    if not run.show_progress or total <= 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="ssl", unit="step", dynamic_ncols=True)
