"""Self-supervised losses of the cross-modality study: ``L = L_cv + β·L_cm``.

- ``L_cv`` (cross-view): triplet loss on image embeddings; anchor and positive are two views of one object,
  the negative a view of another object.
- ``L_cm`` (cross-modality): a :class:`~gs_perception.models.fusion.FusionHead` classifies (image embedding,
  Gaussian embedding) pairs as same object or not, trained with binary cross-entropy.
- ``L_nce`` (optional, not the study's): symmetric InfoNCE between each view and its object's Gaussians,
  with the batch's other objects as negatives (CLIP's form): ``L = L_cv + β·L_cm + γ·L_nce``.

Layout used throughout: a batch of O objects with V views each gives image embeddings ``[O·V, D]`` in
object-major order (object i's views are rows ``i·V … i·V + V − 1``) and Gaussian embeddings ``[O, D']``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .fusion import FusionHead

PAIR_MODES = ("balanced", "study")


def triplet_loss(
    anchor: Tensor, positive: Tensor, negative: Tensor, margin: float = 0.5, normalise: bool = True
) -> Tensor:
    """Mean of ``relu(‖a − p‖ − ‖a − n‖ + margin)`` (Euclidean distances).

    Args:
        anchor: [B, D] embeddings.
        positive: [B, D] embeddings of the same objects as ``anchor`` (other views).
        negative: [B, D] embeddings of other objects.
        margin: Required gap between the negative and the positive distance.
        normalise: L2-normalise the embeddings first (distances then lie in [0, 2], which is what the
            default margin is scaled for); off: raw embeddings.

    Returns:
        [] scalar loss.
    """
    if not anchor.shape == positive.shape == negative.shape:
        raise ValueError(
            f"triplet shapes differ: {tuple(anchor.shape)}, {tuple(positive.shape)}, {tuple(negative.shape)}"
        )
    if normalise:
        anchor, positive, negative = (F.normalize(x, dim=-1) for x in (anchor, positive, negative))
    d_pos = torch.linalg.vector_norm(anchor - positive, dim=-1)
    d_neg = torch.linalg.vector_norm(anchor - negative, dim=-1)
    return F.relu(d_pos - d_neg + margin).mean()


@dataclass
class Pairs:
    """(image, Gaussian) pairs for the correspondence task.

    Attributes:
        image_index: [P] long rows into the ``[O·V, D]`` image embeddings.
        gaussian_index: [P] long rows into the ``[O, D']`` Gaussian embeddings.
        target: [P] float, 1 = same object, 0 = different objects.
    """

    image_index: Tensor
    gaussian_index: Tensor
    target: Tensor

    def __len__(self) -> int:
        return int(self.target.shape[0])

    @property
    def positive_fraction(self) -> float:
        """Share of same-object pairs (the accuracy of an always-"same" classifier)."""
        return float(self.target.mean()) if len(self) else 0.0


def other_objects(num_objects: int, count: int, generator: torch.Generator | None = None) -> Tensor:
    """``count`` uniformly random other objects for each object.

    Returns:
        [num_objects, count] long, entry ``[i, k] ≠ i``.
    """
    if num_objects < 2:
        raise ValueError(f"need at least 2 objects to draw a different one, got {num_objects}")
    # Draw from the O − 1 others and skip over i: uniform without rejection sampling.
    r = torch.randint(0, num_objects - 1, (num_objects, count), generator=generator)
    own = torch.arange(num_objects).unsqueeze(1)
    return r + (r >= own).long()


def make_pairs(
    num_objects: int, views_per_object: int, mode: str = "balanced", generator: torch.Generator | None = None
) -> Pairs:
    """Positive and negative (image, Gaussian) pairs for one batch.

    Positives: each of object i's V views with object i's Gaussians. Negatives: a random view of a random
    other object with object i's Gaussians; 'study' draws one per object (V:1, i.e. the study's 2:1 at V = 2,
    where always answering "same" scores 66.7 %), 'balanced' draws V per object (1:1).

    Args:
        num_objects: O (≥ 2, or there is no other object to draw negatives from).
        views_per_object: V (≥ 1).
        mode: 'balanced' or 'study'.
        generator: Source of the negatives' randomness (the global RNG when ``None``).

    Returns:
        :class:`Pairs` with O·V positives first, then the negatives in object order.
    """
    if mode not in PAIR_MODES:
        raise ValueError(f"unknown pair mode {mode!r} (expected one of {PAIR_MODES})")
    if num_objects < 2:
        raise ValueError(f"negative pairs need at least 2 objects, got {num_objects}")
    if views_per_object < 1:
        raise ValueError(f"views_per_object must be ≥ 1, got {views_per_object}")
    o, v = num_objects, views_per_object
    per_object = 1 if mode == "study" else v
    pos_image = torch.arange(o * v)
    pos_gauss = torch.arange(o).repeat_interleave(v)
    others = other_objects(o, per_object, generator)  # [O, k]
    views = torch.randint(0, v, (o, per_object), generator=generator)
    neg_image = (others * v + views).flatten()
    neg_gauss = torch.arange(o).repeat_interleave(per_object)
    return Pairs(
        image_index=torch.cat([pos_image, neg_image]),
        gaussian_index=torch.cat([pos_gauss, neg_gauss]),
        target=torch.cat([torch.ones(o * v), torch.zeros(o * per_object)]),
    )


def correspondence_loss(logits: Tensor, target: Tensor, pos_weight: Tensor | float | None = None) -> Tensor:
    """Binary cross-entropy of the fusion head's logits.

    Args:
        logits: [P] raw scores.
        target: [P] 1 = same object, 0 = different.
        pos_weight: Optional weight of the positive class (passed to
            :func:`torch.nn.functional.binary_cross_entropy_with_logits`), e.g. to rebalance 'study' pairs.

    Returns:
        [] mean loss.
    """
    if isinstance(pos_weight, (int, float)):
        pos_weight = torch.tensor(float(pos_weight), dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target.to(logits.dtype), pos_weight=pos_weight)


def info_nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE: row i of ``a`` and row i of ``b`` are a positive pair, every other row of the
    other tensor a negative.

    Args:
        a: [B, D] embeddings (B ≥ 2).
        b: [B, D] embeddings of the same B items in the other modality.
        temperature: Softmax temperature on cosine similarities.

    Returns:
        [] the mean of the a→b and b→a cross-entropies.
    """
    if a.shape != b.shape or a.dim() != 2 or a.shape[0] < 2:
        raise ValueError(
            f"info_nce needs two [B ≥ 2, D] tensors of one shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@dataclass
class SSLLossOutput:
    """Terms of :func:`ssl_losses` (scalar tensors).

    Attributes:
        total: ``triplet + β·correspondence + γ·infonce`` (differentiable).
        triplet: Cross-view term ``L_cv``.
        correspondence: Cross-modality term ``L_cm``.
        correspondence_accuracy: Share of pairs the head gets right (detached).
        infonce: Symmetric InfoNCE ``L_nce`` averaged over views (0 when γ = 0: not computed).
    """

    total: Tensor
    triplet: Tensor
    correspondence: Tensor
    correspondence_accuracy: Tensor
    infonce: Tensor


def ssl_losses(
    image_emb: Tensor,
    gaussian_emb: Tensor,
    head: FusionHead,
    pairs: Pairs,
    beta: float,
    margin: float,
    normalise: bool,
    generator: torch.Generator | None = None,
    infonce_weight: float = 0.0,
    temperature: float = 0.1,
) -> SSLLossOutput:
    """Both self-supervised terms for one batch of O objects × V views.

    Triplets: anchor = view 0 of object i, positive = view 1 of object i, negative = view 0 of a random
    object j ≠ i (drawn from ``generator``).

    Args:
        image_emb: [O·V, D] image embeddings, object-major (V ≥ 2).
        gaussian_emb: [O, D'] Gaussian embeddings (O ≥ 2).
        head: Fusion head scoring (image, Gaussian) pairs.
        pairs: Correspondence pairs indexing the two embedding tensors (see :func:`make_pairs`).
        beta: Weight β of the correspondence term.
        margin: Triplet margin.
        normalise: Triplet loss on L2-normalised embeddings.
        generator: Source of the triplet negatives (the global RNG when ``None``).
        infonce_weight: Weight γ of the symmetric InfoNCE term between each view v (rows ``i·V + v``)
            and its object's Gaussians, averaged over v; 0 (the study) skips it. Needs D = D'.
        temperature: InfoNCE temperature.

    Returns:
        :class:`SSLLossOutput`.
    """
    o = gaussian_emb.shape[0]
    if o < 2 or image_emb.shape[0] % o or image_emb.shape[0] // o < 2:
        raise ValueError(
            f"need O ≥ 2 objects with V ≥ 2 views each: image_emb {tuple(image_emb.shape)} vs "
            f"gaussian_emb {tuple(gaussian_emb.shape)}"
        )
    v = image_emb.shape[0] // o
    per_view = image_emb.view(o, v, -1)
    negatives = other_objects(o, 1, generator).squeeze(1)
    triplet = triplet_loss(
        per_view[:, 0], per_view[:, 1], per_view[negatives, 0], margin=margin, normalise=normalise
    )
    logits = head(image_emb[pairs.image_index], gaussian_emb[pairs.gaussian_index])
    target = pairs.target.to(device=logits.device, dtype=logits.dtype)
    correspondence = correspondence_loss(logits, target)
    accuracy = ((logits.detach() > 0).to(target.dtype) == target).float().mean()
    infonce = torch.zeros((), device=logits.device)
    if infonce_weight > 0:
        infonce = torch.stack([info_nce(per_view[:, i], gaussian_emb, temperature) for i in range(v)]).mean()
    return SSLLossOutput(
        total=triplet + beta * correspondence + infonce_weight * infonce,
        triplet=triplet,
        correspondence=correspondence,
        correspondence_accuracy=accuracy,
        infonce=infonce,
    )
