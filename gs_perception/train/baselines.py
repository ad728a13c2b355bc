"""Supervised baselines next to the self-supervised encoders: PointNet(++) on mesh points, a multi-view CNN.

The study compares its linear probes with classifiers trained end to end, with labels, on the same splits:

- **Points**: PointNet or PointNet++ on ``num_points`` xyz points sampled on each object's mesh surface
  (normalised to the unit sphere), augmented by a random rotation about the up (z) axis and a small jitter.
- **Multi-view CNN**: ResNet-18 on each rendered training view, element-wise max over the object's views,
  then a linear classifier.

Both train on 'train' with Adam and cross-entropy, keep the epoch with the best accuracy on 'val' (the last
epoch when the dataset has no val split) and report that model's test accuracy.

Determinism: initialisation and dropout come from the global torch RNG seeded with ``seed``; the object order
and the point augmentation of epoch e from a generator seeded with (seed, e); an object's mesh points from a
seed mixed from (seed, object id). Mesh points are sampled once per object and kept in memory.
"""

from __future__ import annotations

import functools
import math
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
import trimesh
from torch import Tensor, nn

from ..core.choices import check_choices
from ..core.runtime import resolve_device, seeded_generator
from ..data.catalog import SPLITS, make_procedural
from ..data.manifest import ManifestEntry
from ..data.meshes import load_mesh, normalise_to_unit_sphere, sample_surface
from ..models.gaussian_encoder import build_gaussian_encoder
from ..models.image_encoder import RESNET18_WIDTH, ImageEncoder, ImageEncoderConfig, pool_views
from ..models.pointnet import ARCHS, GaussianEncoderConfig
from .datasets import ClassificationDataset, SampleConfig

SHAPES_PREFIX = "shapes10:"
"""Manifest ``source`` prefix of procedural shapes: ``shapes10:<class>:<seed>``."""
SHAPES_HARD_PREFIX = "shapes10hard:"
"""Manifest ``source`` prefix of the hard procedural set: ``shapes10hard:<class>:<seed>``."""


@dataclass(frozen=True)
class BaselineConfig:
    """Training of one supervised baseline (defaults: the point and multi-view baselines of the study)."""

    epochs: int = 30
    """Passes over the train split; the epoch with the best validation accuracy is kept."""
    batch_size: int = 16
    """Objects per step (a last batch of one object is skipped: BatchNorm needs two)."""
    lr: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-4
    """Adam (L2) weight decay."""
    num_points: int = 1024
    """Points sampled on each mesh surface (unit sphere, xyz only) for the point baseline."""
    point_arch: Literal["pointnet", "pointnet2"] = "pointnet"
    """Point baseline encoder: 'pointnet' or 'pointnet2'."""
    embed_dim: int = 256
    """Width of the point encoder's embedding, the input of the linear classifier."""
    jitter: float = 0.01
    """Standard deviation of the Gaussian point jitter (clipped at 5×), unit-sphere coordinates."""
    num_views: int = 0
    """Views per object for the multi-view CNN: the first V training views; 0 = all of them."""
    seed: int = 0
    """Seed of initialisation, data order, augmentation and mesh sampling."""
    device: str = "auto"
    """'auto' (CUDA when available), 'cpu' or 'cuda'."""

    def __post_init__(self):
        check_choices(self)


@dataclass
class BaselineResult:
    """Accuracies of the kept model (the best validation epoch) and the training curve.

    Attributes:
        name: 'pointnet', 'pointnet2' or 'mvcnn'.
        val_accuracy: Validation accuracy of the kept epoch (NaN without a val split).
        test_accuracy: Test accuracy of the kept model (NaN without a test split).
        train_accuracy: Accuracy of the kept model on the un-augmented train split.
        best_epoch: The kept epoch, 1-based.
        seconds: Wall time of the whole call (data preparation included).
        per_epoch: ``(epoch, mean train loss, val accuracy)`` per epoch, epochs 1-based.
        test_correct: [N] 1 where the kept model got a test object right (for confidence intervals).
    """

    name: str
    val_accuracy: float
    test_accuracy: float
    train_accuracy: float
    best_epoch: int
    seconds: float
    per_epoch: list[tuple[int, float, float]]
    test_correct: list[int] = field(default_factory=list)


def mesh_points(dataset_root: str | Path, entry: ManifestEntry, num_points: int, seed: int) -> Tensor:
    """Points on the surface of an object's mesh, normalised to the unit sphere.

    Args:
        dataset_root: The generated dataset's folder (a relative mesh path is tried against it too).
        entry: The object's manifest entry; ``source`` is ``shapes10:<class>:<seed>``,
            ``shapes10hard:<class>:<seed>`` or a mesh file.
        num_points: Number of points N.
        seed: Seed of the surface sampling.

    Returns:
        [N, 3] float32 xyz, norms ≤ 1. Cached per (dataset, source, N, seed): later calls cost nothing.

    Raises:
        ValueError: An empty or malformed source. MeshError: an unreadable mesh file.
    """
    root = str(Path(dataset_root).resolve())
    return _cached_points(root, entry.source, int(num_points), int(seed)).clone()


@functools.lru_cache(maxsize=16384)
def _cached_points(root: str, source: str, num_points: int, seed: int) -> Tensor:
    mesh = normalise_to_unit_sphere(_load_source(Path(root), source))
    return sample_surface(mesh, num_points, seed=seed).points


def _load_source(root: Path, source: str) -> trimesh.Trimesh:
    prefix = next((p for p in (SHAPES_PREFIX, SHAPES_HARD_PREFIX) if source.startswith(p)), None)
    if prefix is not None:
        parts = source.split(":")
        if len(parts) != 3 or not parts[2].isdigit():
            raise ValueError(f"malformed source {source!r}; expected '{prefix}<class>:<seed>'")
        return make_procedural(parts[0], parts[1], int(parts[2]))
    if not source:
        raise ValueError(
            "manifest entry has no source (neither a mesh file nor a shapes10/shapes10hard shape)"
        )
    path = Path(source)
    # Relative paths were written relative to where the dataset was generated; try the dataset root too.
    if not path.is_absolute() and not path.exists() and (root / path).exists():
        path = root / path
    return load_mesh(path)


def augment_points(points: Tensor, generator: torch.Generator, jitter: float) -> Tensor:
    """Random rotation about the z (up) axis per object, then clipped Gaussian jitter per point.

    Args:
        points: [B, N, 3] xyz.
        generator: Source of the draws (CPU).
        jitter: Jitter standard deviation (clipped at ±5 jitter); 0 turns jitter off.

    Returns:
        [B, N, 3] augmented points (a new tensor).
    """
    angle = torch.rand(points.shape[0], generator=generator) * (2.0 * math.pi)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero, one = torch.zeros_like(angle), torch.ones_like(angle)
    rotation = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], dim=-1).view(-1, 3, 3)
    rotated = points @ rotation.transpose(1, 2).to(points)
    noise = torch.randn(points.shape, generator=generator).to(points) * jitter
    return rotated + noise.clamp(-5.0 * jitter, 5.0 * jitter)


def _object_seed(seed: int, object_id: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(object_id.encode())]).generate_state(1)[0])


class _PointData:
    """Mesh points [n, N, 3] and class indices [n] of every split (points held in memory)."""

    def __init__(self, root: str | Path, config: BaselineConfig):
        self.jitter = config.jitter
        self.points: dict[str, Tensor] = {}
        self.labels: dict[str, Tensor] = {}
        for split in SPLITS:
            objects = ClassificationDataset(root, split)
            clouds = [
                mesh_points(root, e, config.num_points, _object_seed(config.seed, e.object_id))
                for e in objects.entries
            ]
            self.points[split] = torch.stack(clouds) if clouds else torch.zeros(0, config.num_points, 3)
            self.labels[split] = torch.tensor(
                [objects.label(i) for i in range(len(objects))], dtype=torch.long
            )
        self.num_classes = len(objects.class_names)

    def inputs(self, split: str, index: list[int], generator: torch.Generator | None) -> Tensor:
        """[b, N, 3] points of objects ``index``; augmented when a generator is given (training)."""
        points = self.points[split][index]
        return points if generator is None else augment_points(points, generator, self.jitter)


class _ViewData:
    """Rendered training views of every split, read from the PNGs per batch (they may not fit in memory)."""

    def __init__(self, root: str | Path, config: BaselineConfig):
        sample = SampleConfig(num_views=config.num_views)
        self.sets = {split: ClassificationDataset(root, split, sample) for split in SPLITS}
        self.labels = {
            split: torch.tensor([d.label(i) for i in range(len(d))], dtype=torch.long)
            for split, d in self.sets.items()
        }
        self.num_views = config.num_views
        self.num_classes = len(self.sets["train"].class_names)

    def inputs(self, split: str, index: list[int], generator: torch.Generator | None = None) -> Tensor:
        """[b, V, 3, H, W] views of objects ``index`` (no augmentation: ``generator`` is unused)."""
        objects = self.sets[split]
        views = []
        for i in index:
            available = len(objects.view_files(i))
            views.append(objects.load_views(i, torch.arange(min(self.num_views or available, available))))
        return torch.stack(views)


_Data = _PointData | _ViewData
"""A baseline's inputs: ``labels[split]`` [n] and ``inputs(split, index, generator)`` per batch."""


class _MultiViewClassifier(nn.Module):
    """ResNet-18 per view → max over views → linear: [B, V, 3, H, W] → [B, K] logits."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.encoder = ImageEncoder(ImageEncoderConfig(embed_dim=RESNET18_WIDTH))
        self.classifier = nn.Linear(RESNET18_WIDTH, num_classes)

    def forward(self, views: Tensor) -> Tensor:
        return self.classifier(pool_views(self.encoder.encode_views(views), "max"))


def train_point_baseline(root: str | Path, config: BaselineConfig | None = None) -> BaselineResult:
    """Train PointNet or PointNet++ (``config.point_arch``) with labels on mesh-sampled xyz points.

    Args:
        root: A generated dataset (manifest.jsonl with mesh sources, dataset.json).
        config: Training settings; ``None`` means :class:`BaselineConfig` defaults.

    Returns:
        :class:`BaselineResult` named after the architecture.
    """
    config = config or BaselineConfig()
    _check(config)
    if config.point_arch not in ARCHS:
        raise ValueError(f"unknown point_arch {config.point_arch!r}; expected one of {ARCHS}")
    start = time.perf_counter()
    data = _PointData(root, config)
    torch.manual_seed(config.seed)
    encoder_config = GaussianEncoderConfig(arch=config.point_arch, embed_dim=config.embed_dim)
    encoder = build_gaussian_encoder(encoder_config, in_channels=3)
    model = nn.Sequential(encoder, nn.Linear(config.embed_dim, data.num_classes))
    return _fit(config.point_arch, model, data, config, start)


def train_mvcnn_baseline(root: str | Path, config: BaselineConfig | None = None) -> BaselineResult:
    """Train the multi-view CNN (ResNet-18, max over views, linear) with labels on the rendered views.

    Args:
        root: A generated dataset.
        config: Training settings (``num_views`` views per object); ``None`` means defaults.

    Returns:
        :class:`BaselineResult` named 'mvcnn'.
    """
    config = config or BaselineConfig()
    _check(config)
    start = time.perf_counter()
    data = _ViewData(root, config)
    torch.manual_seed(config.seed)
    return _fit("mvcnn", _MultiViewClassifier(data.num_classes), data, config, start)


def _check(config: BaselineConfig) -> None:
    if config.epochs < 1 or config.batch_size < 2 or config.num_points < 1 or config.num_views < 0:
        raise ValueError(
            "need epochs >= 1, batch_size >= 2, num_points >= 1 and num_views >= 0; got "
            f"{config.epochs}, {config.batch_size}, {config.num_points}, {config.num_views}"
        )


def _fit(name: str, model: nn.Module, data: _Data, config: BaselineConfig, start: float) -> BaselineResult:
    """Train on 'train', keep the best 'val' epoch (or the last), score it on every split."""
    if len(data.labels["train"]) < 2:
        raise ValueError(f"need at least 2 train objects, found {len(data.labels['train'])}")
    device = resolve_device(config.device)
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    has_val = len(data.labels["val"]) > 0
    best_state, best_val, best_epoch, per_epoch = None, -1.0, config.epochs, []
    for epoch in range(1, config.epochs + 1):
        loss = _train_epoch(model, optimiser, data, config, epoch, device)
        val = _accuracy(model, data, "val", config.batch_size, device)
        per_epoch.append((epoch, loss, val))
        if has_val and val > best_val:
            best_val, best_epoch = val, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    test_correct = _correct(model, data, "test", config.batch_size, device)
    return BaselineResult(
        name=name,
        val_accuracy=per_epoch[best_epoch - 1][2],
        test_accuracy=float(test_correct.double().mean()) if len(test_correct) else float("nan"),
        train_accuracy=_accuracy(model, data, "train", config.batch_size, device),
        best_epoch=best_epoch,
        seconds=time.perf_counter() - start,
        per_epoch=per_epoch,
        test_correct=test_correct.tolist(),
    )


def _train_epoch(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    data: _Data,
    config: BaselineConfig,
    epoch: int,
    device,
) -> float:
    """One pass over 'train' in a seeded order; returns the mean cross-entropy per object."""
    model.train()
    generator = seeded_generator(config.seed, epoch)
    labels = data.labels["train"]
    order = torch.randperm(len(labels), generator=generator).tolist()
    total, count = 0.0, 0
    for first in range(0, len(order), config.batch_size):
        batch = order[first : first + config.batch_size]
        if len(batch) < 2:  # BatchNorm in training mode cannot normalise a single object
            continue
        logits = model(data.inputs("train", batch, generator).to(device))
        loss = F.cross_entropy(logits, labels[batch].to(device))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total, count = total + loss.item() * len(batch), count + len(batch)
    return total / max(count, 1)


@torch.no_grad()
def _correct(model: nn.Module, data: _Data, split: str, batch_size: int, device) -> torch.Tensor:
    """[N] int, 1 where ``split``'s object is classified correctly (eval mode, no augmentation)."""
    labels = data.labels[split]
    model.eval()
    out = []
    for first in range(0, len(labels), batch_size):
        index = list(range(first, min(first + batch_size, len(labels))))
        predicted = model(data.inputs(split, index, None).to(device)).argmax(dim=-1).cpu()
        out.append((predicted == labels[index]).int())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int)


def _accuracy(model: nn.Module, data: _Data, split: str, batch_size: int, device) -> float:
    """Fraction of ``split`` classified correctly (eval mode, no augmentation); NaN for an empty split."""
    correct = _correct(model, data, split, batch_size, device)
    return float(correct.double().mean()) if len(correct) else float("nan")
