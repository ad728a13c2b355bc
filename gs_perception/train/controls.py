"""Controls for the self-supervised features: what the same evaluation gives without the learning.

- **Untrained encoders**: the run's architecture at a fresh random initialisation (seeded per run), embedded
  and probed exactly like the trained one. If probes on these reach the trained accuracy, the benchmark
  measures the architecture and the data, not the self-supervision.
- **Hand-made descriptor** (Gaussian side only): 19 numbers of an object's Gaussian positions (extents and
  a height histogram, eval/descriptor.py), as given and in the yaw-invariant variant.
- **A head on frozen untrained encoders** (cross-modality): the fusion head trained on the train split's
  embeddings from the untrained encoders. Its cross-modality scores are what the pretext task gives without
  learned features (mostly category matching when negatives come from other classes).
"""

from __future__ import annotations

import numpy as np
import torch

from ..eval.descriptor import shape_descriptors
from ..eval.pretext import correspondence_metrics, same_class_pairs
from ..eval.retrieval import gallery_recall, same_class_galleries
from ..models.dual_encoder import DualEncoder
from ..models.fusion import FusionHead
from ..models.losses import correspondence_loss, make_pairs
from .datasets import ClassificationDataset
from .embeddings import Embeddings
from .run_figures import CrossModalFigures, GalleryRecall

RETRIEVAL_DISTRACTORS = 9
"""Same-class distractors per image→Gaussians query (a gallery of 10 where the class has that many)."""


def untrained_model(model: DualEncoder, seed: int) -> DualEncoder:
    """A fresh, randomly initialised copy of ``model``'s architecture (eval mode), seeded by ``seed``."""
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(10_000 + seed)  # away from the training seeds, which initialised the trained ones
        fresh = DualEncoder(model.config, model.in_channels)
    finally:
        torch.random.set_rng_state(state)
    return fresh.eval()


def descriptor_features(dataset: ClassificationDataset, rotation_invariant: bool) -> np.ndarray:
    """[O, 19] hand-made descriptors of each object's cached Gaussian positions (all of them, z up)."""
    clouds = [dataset.features(i).xyz.numpy() for i in range(len(dataset))]
    return shape_descriptors(clouds, rotation_invariant=rotation_invariant)


@torch.no_grad()
def _logits(
    model: DualEncoder, head: FusionHead, views: torch.Tensor, gauss: torch.Tensor, pairs
) -> np.ndarray:
    """The head's [P] scores of (view row, object) index pairs (numpy or torch indices)."""
    image, gaussians = model.project(views, gauss)
    rows, objects = (torch.as_tensor(np.asarray(i), dtype=torch.long) for i in pairs)
    return head(image[rows], gaussians[objects]).float().cpu().numpy()


def cross_modal_figures(
    model: DualEncoder, head: FusionHead, test: Embeddings, source: str, seed: int
) -> CrossModalFigures:
    """Score ``head`` (on ``model``'s projections of ``test``'s embeddings) on balanced and same-class pairs
    of view 0 and 1 of each object, and by image→Gaussians retrieval among same-class distractors."""
    head.eval()
    views = torch.from_numpy(test.views[:, :2]).reshape(-1, test.views.shape[-1])
    gauss = torch.from_numpy(test.gaussians)
    o = len(test.labels)
    balanced = make_pairs(o, 2, "balanced", torch.Generator().manual_seed(seed))
    logits = _logits(model, head, views, gauss, (balanced.image_index, balanced.gaussian_index))
    any_negative = correspondence_metrics(logits, balanced.target.numpy())
    same = same_class_pairs(test.labels, 2, seed=seed)
    same_auc = same_balanced = float("nan")  # no class with two objects: no same-class negative to draw
    if len(same.target):
        logits = _logits(model, head, views, gauss, (same.image_index, same.gaussian_index))
        metrics = correspondence_metrics(logits, same.target)
        same_auc, same_balanced = metrics.roc_auc, metrics.balanced_accuracy
    galleries = same_class_galleries(test.labels, RETRIEVAL_DISTRACTORS, seed=seed)
    query = np.repeat(np.arange(o) * 2, galleries.shape[1])  # view 0 of each object against its gallery
    member = np.where(galleries >= 0, galleries, 0).reshape(-1)
    scores = _logits(model, head, views, gauss, (query, member))
    similarity = np.full((o, o), -np.inf)
    similarity[np.repeat(np.arange(o), galleries.shape[1]), member] = scores
    recall = gallery_recall(similarity, galleries, ks=(1, 5))
    return CrossModalFigures(
        source=source,
        balanced_accuracy=any_negative.balanced_accuracy,
        same_class_balanced_accuracy=same_balanced,
        same_class_auc=same_auc,
        **GalleryRecall.fields_of(recall),
    )


class StandardisedHead(torch.nn.Module):
    """A fusion head that sees frozen features standardised per dimension (statistics of the train split).

    Untrained encoders give embeddings that differ little between objects (untrained PointNet: per-dimension
    spread ~4 % of the magnitude), which an L2-normalising head cannot pick apart; linear probes standardise
    their inputs for the same reason, so the control does too, and is not weakened by scale alone.
    """

    def __init__(self, head: FusionHead, views: torch.Tensor, gaussians: torch.Tensor):
        super().__init__()
        self.head = head
        for name, x in (("view", views), ("gaussian", gaussians)):
            self.register_buffer(f"{name}_mean", x.mean(dim=0))
            self.register_buffer(f"{name}_scale", x.std(dim=0).clamp_min(1e-12))

    def forward(self, image: torch.Tensor, gaussians: torch.Tensor) -> torch.Tensor:
        image = (image - self.view_mean) / self.view_scale
        return self.head(image, (gaussians - self.gaussian_mean) / self.gaussian_scale)


def train_frozen_head(
    model: DualEncoder, train: Embeddings, steps: int = 300, seed: int = 0
) -> StandardisedHead:
    """A fresh fusion head trained (Adam, balanced pairs of two random views per object) on the frozen
    ``model``'s projections of the train split's embeddings, standardised (:class:`StandardisedHead`); the
    encoders do not change."""
    torch.manual_seed(seed)
    c = model.config
    dims = (
        (c.projection_dim, c.projection_dim)
        if c.projection_dim > 0
        else (model.image.embed_dim, c.gaussian.embed_dim)
    )
    with torch.no_grad():
        views, gauss = model.project(torch.from_numpy(train.views), torch.from_numpy(train.gaussians))
    fusion = FusionHead(*dims, hidden=c.fusion_hidden, dropout=c.fusion_dropout,
                        normalise=c.normalise_embeddings, mode=c.fusion_mode)  # fmt: skip
    head = StandardisedHead(fusion, views.reshape(-1, views.shape[-1]), gauss)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    o, v = views.shape[:2]
    head.train()
    for _ in range(steps):
        batch = torch.randperm(o, generator=g)[: min(o, 32)]
        pick = torch.stack([torch.randperm(v, generator=g)[:2] for _ in batch])  # two random views each
        chosen = views[batch[:, None], pick].reshape(-1, views.shape[-1])
        pairs = make_pairs(len(batch), 2, "balanced", g)
        logits = head(chosen[pairs.image_index], gauss[batch][pairs.gaussian_index])
        loss = correspondence_loss(logits, pairs.target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return head.eval()
