"""The instance test: is this the object I saw before? Two independent 3DGS fits of each object
(``fits_per_object`` ≥ 2, data/object_fits.py) are two reconstructions of one thing; features that describe
the object, not the fit, find fit 2 from fit 1 among same-class distractors.

Two queries per object, each against its gallery (fit 2 of the object and up to
:data:`~.controls.RETRIEVAL_DISTRACTORS` other objects of its class):

- ``gaussians``: fit 1's Gaussian embedding, ranked by cosine similarity (the descriptor control by cosine
  of its standardised values);
- ``images``: view 0's image embedding, ranked by the fusion head's score against each fit 2.

Sources: 'ssl' (the run), 'untrained' (frozen untrained encoders; their head is the control head trained
on the train split) and 'descriptor' (the yaw-invariant hand-made descriptor; Gaussians only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from ..eval.descriptor import shape_descriptors
from ..eval.retrieval import cosine_similarity, gallery_recall, same_class_galleries
from ..models.dual_encoder import DualEncoder
from .controls import RETRIEVAL_DISTRACTORS
from .datasets import ClassificationDataset, SampleConfig
from .run_figures import GalleryRecall, InstanceFigures


def has_two_fits(dataset: str | Path, split: str, sample: SampleConfig) -> bool:
    """Every object of the split has a second fit."""
    return ClassificationDataset(dataset, split, dataclasses.replace(sample, fit=1)).num_fits >= 2


def _fit_sets(dataset, split, sample) -> tuple[ClassificationDataset, ClassificationDataset]:
    plain = dataclasses.replace(sample, random_fit=False, gaussian_yaw=False, gaussian_jitter=0.0)
    return tuple(ClassificationDataset(dataset, split, dataclasses.replace(plain, fit=k)) for k in (1, 2))


@torch.no_grad()
def _gaussian_embeddings(model: DualEncoder, data: ClassificationDataset, device) -> torch.Tensor:
    """[O, D] Gaussian embeddings (on CPU)."""
    rows = [model.embed_gaussians(data.gaussians(i)[None].to(device))[0] for i in range(len(data))]
    return torch.stack(rows).float().cpu()


def _figures(name, split, source, query, similarity, galleries) -> InstanceFigures:
    recall = gallery_recall(similarity, galleries, ks=(1, 5))
    return InstanceFigures(
        dataset=name, split=split, source=source, query=query, **GalleryRecall.fields_of(recall)
    )


@torch.no_grad()
def _head_similarity(model, head, views: torch.Tensor, gauss: torch.Tensor, galleries: np.ndarray):
    """[O, O] the head's score of each object's view against the fit 2 of its gallery members (-inf
    elsewhere)."""
    image, gaussians = model.project(views, gauss)
    o, m = galleries.shape
    rows = np.repeat(np.arange(o), m)
    members = np.where(galleries >= 0, galleries, 0).reshape(-1)
    scores = head(image[rows], gaussians[members]).float().cpu().numpy()
    similarity = np.full((o, o), -np.inf)
    similarity[rows, members] = scores
    return similarity


def instance_figures(
    model: DualEncoder,
    head: torch.nn.Module,
    dataset: str | Path,
    split: str,
    sample: SampleConfig,
    source: str,
    seed: int,
    device: torch.device | str = "cpu",
) -> list[InstanceFigures]:
    """Fit 1 → fit 2 and view 0 → fit 2 retrieval of one split with ``model``'s encoders and ``head``.

    Args:
        model: Frozen encoders (eval mode).
        head: The fusion head scoring (image, Gaussians) projections: the model's own, or a control head.
        dataset: A generated dataset whose objects have ≥ 2 fits.
        split: The split to score.
        sample: The run's sampling (augmentations and the random fit are switched off).
        source: Name recorded in the figures.
        seed: Seed of the galleries (the run index).
        device: Where the encoders run (the head runs on CPU).

    Returns:
        Two :class:`InstanceFigures`: query 'gaussians' and 'images'.
    """
    model.eval().to(device)
    first, second = _fit_sets(dataset, split, sample)
    labels = np.array([first.label(i) for i in range(len(first))])
    galleries = same_class_galleries(labels, RETRIEVAL_DISTRACTORS, seed=seed)
    name = Path(dataset).name
    g1, g2 = _gaussian_embeddings(model, first, device), _gaussian_embeddings(model, second, device)
    by_gaussians = _figures(name, split, source, "gaussians", cosine_similarity(g1, g2), galleries)
    views = torch.stack([first.load_views(i, torch.tensor([0]))[0] for i in range(len(first))])
    image = model.image(views.to(device)).float().cpu()
    model.cpu()
    similarity = _head_similarity(model, head.cpu().eval(), image, g2, galleries)
    model.to(device)
    return [by_gaussians, _figures(name, split, source, "images", similarity, galleries)]


def descriptor_instance_figures(
    dataset: str | Path, split: str, sample: SampleConfig, seed: int
) -> InstanceFigures:
    """Fit 1 → fit 2 retrieval by the yaw-invariant hand-made descriptor (standardised, cosine)."""
    first, second = _fit_sets(dataset, split, sample)
    d1, d2 = (
        shape_descriptors([s.features(i).xyz.numpy() for i in range(len(s))], rotation_invariant=True)
        for s in (first, second)
    )
    both = np.concatenate([d1, d2])
    mean, scale = both.mean(axis=0), np.maximum(both.std(axis=0), 1e-12)
    labels = np.array([first.label(i) for i in range(len(first))])
    galleries = same_class_galleries(labels, RETRIEVAL_DISTRACTORS, seed=seed)
    similarity = cosine_similarity((d1 - mean) / scale, (d2 - mean) / scale)
    return _figures(Path(dataset).name, split, "descriptor", "gaussians", similarity, galleries)
